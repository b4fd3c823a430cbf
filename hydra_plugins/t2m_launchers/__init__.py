"""t2m's Hydra launchers as plugins (Hydra instantiates launchers only from `hydra_plugins`), and the
schemas of their configs. The behaviour lives in `t2m.pipeline.launchers`; the configs users pick are
conf/hydra/launcher/*.yaml (inprocess, the default; local; slurm; slurm_a100), which extend these
schemas. Each adds the packing keys `configs_per_job` and `jobs` to what its base launcher takes."""

from dataclasses import dataclass
from typing import Optional

from hydra._internal.core_plugins.basic_launcher import BasicLauncher
from hydra.core.config_store import ConfigStore
from hydra_plugins.hydra_submitit_launcher import submitit_launcher
from hydra_plugins.hydra_submitit_launcher.config import LocalQueueConf, SlurmQueueConf

from t2m.pipeline.launchers.inprocess import InProcessLaunch
from t2m.pipeline.launchers.submitit import PackedSubmitit


class InProcessLauncher(InProcessLaunch, BasicLauncher):
    """Hydra's basic launcher, packed: every configuration in this process."""


class LocalLauncher(PackedSubmitit, submitit_launcher.LocalLauncher):
    """hydra-submitit-launcher's local launcher, packed: one process per pack."""


class SlurmLauncher(PackedSubmitit, submitit_launcher.SlurmLauncher):
    """hydra-submitit-launcher's SLURM launcher, packed: one SLURM job per pack."""


@dataclass
class InProcessConf:
    _target_: str = "hydra_plugins.t2m_launchers.InProcessLauncher"
    configs_per_job: Optional[int] = None  # null: every configuration in one pack
    jobs: Optional[int] = None  # the number of packs; wins over configs_per_job


@dataclass
class LocalConf(LocalQueueConf):
    _target_: str = "hydra_plugins.t2m_launchers.LocalLauncher"
    configs_per_job: Optional[int] = None
    jobs: Optional[int] = None


@dataclass
class SlurmConf(SlurmQueueConf):
    _target_: str = "hydra_plugins.t2m_launchers.SlurmLauncher"
    configs_per_job: Optional[int] = None
    jobs: Optional[int] = None
    startup_margin_s: Optional[int] = None  # seconds a job needs before it decodes; null: 120 (t2m.pipeline.launchers.limits)
    cancel_on_interrupt: bool = False  # Ctrl-C / SIGTERM of the submitting command cancels its jobs (else: prints the scancel)


for _name, _node in (("t2m_inprocess_schema", InProcessConf), ("t2m_local_schema", LocalConf), ("t2m_slurm_schema", SlurmConf)):
    ConfigStore.instance().store(group="hydra/launcher", name=_name, node=_node, provider="t2m")
