"""Hydra's `run_job` for several configurations at once: what a packed job runs.

Hydra runs a job by setting its HydraConfig, creating its output directory, configuring logging into
it and calling the task function with the job's config (hydra.core.utils.run_job). A packed job does
that for each of its configurations, but calls the task function's `pack` once with all of them
(t2m.pipeline.task.run_pack), handing each configuration a slot whose `activate()` makes that
configuration's Hydra context current (HydraConfig, its task.log, env_set, chdir) while the task works
on it. The result is one JobReturn per configuration, COMPLETED or FAILED, exactly as run_job would
have made them, so sweepers and callbacks see no difference.

A task function without `pack` (any other Hydra app) runs one configuration at a time with run_job.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobRuntime, JobStatus, configure_log, env_override, run_job
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

log = logging.getLogger(__name__)

_LOGGING_OF: list = [None]  # the slot whose job logging is configured now (reconfigure only on a change)


def compose(hydra_context, master: DictConfig, overrides, num: int, job_id) -> DictConfig:
    """One job's config, as Hydra's launchers compose it (re-using the sweeper's composition)."""
    from t2m.pipeline.checks.composed import sweep_config

    config = sweep_config(hydra_context.config_loader, master, overrides)
    with open_dict(config):
        config.hydra.job.id = job_id
        config.hydra.job.num = num
    return config


def run_configurations(hydra_context, task_function, configs: list[DictConfig]) -> list[JobReturn]:
    """Run `configs` (composed job configs) as one packed job; one JobReturn per config, in order."""
    pack = getattr(task_function, "pack", None)
    if pack is None or len(configs) == 0:
        return [run_job(hydra_context=hydra_context, task_function=task_function, config=c, job_dir_key="hydra.sweep.dir",
                        job_subdir_key="hydra.sweep.subdir") for c in configs]  # fmt: skip
    slots = [Slot(hydra_context, task_function, c) for c in configs]
    previous = HydraConfig.instance().cfg
    try:
        outcomes = pack(slots)
    finally:
        HydraConfig.instance().cfg = previous
        _LOGGING_OF[0] = None
    returns = [slot.job_return(outcome) for slot, outcome in zip(slots, outcomes)]
    for r in returns:
        if r.status == JobStatus.FAILED:
            e = r._return_value
            from t2m.pipeline.task import USER_ERRORS  # a user's mistake is its line; a bug gets its traceback

            trace = None if isinstance(e, USER_ERRORS) else (type(e), e, e.__traceback__)
            log.error("[%s] failed: %s", r.hydra_cfg.hydra.job.num, e, exc_info=trace)
    return returns


class Slot:
    """One configuration of a packed job: its task config (`cfg`) and its Hydra context (`activate`)."""

    def __init__(self, hydra_context, task_function, config: DictConfig):
        self.hydra_context, self.task_function, self.config = hydra_context, task_function, config
        output_dir = os.path.join(str(OmegaConf.select(config, "hydra.sweep.dir")), str(OmegaConf.select(config, "hydra.sweep.subdir")))
        with read_write(config.hydra.runtime), open_dict(config.hydra.runtime):
            config.hydra.runtime.output_dir = os.path.abspath(output_dir)
        HydraConfig.instance().set_config(config)  # the task config's ${hydra:...} resolve against this job
        self.output_dir = config.hydra.runtime.output_dir
        self.cfg = copy.deepcopy(config)
        with read_write(self.cfg), open_dict(self.cfg):
            del self.cfg["hydra"]
        self.hydra_cfg = copy.deepcopy(HydraConfig.instance().cfg)
        self.chdir = bool(self.hydra_cfg.hydra.job.chdir)
        self.started = False

    @contextlib.contextmanager
    def activate(self):
        """Make this configuration's job the current Hydra job while the task works on it."""
        previous, cwd = HydraConfig.instance().cfg, os.getcwd()
        HydraConfig.instance().set_config(self.config)
        Path(self.output_dir).mkdir(parents=True, exist_ok=True)
        if _LOGGING_OF[0] is not self:  # its task.log, like run_job
            configure_log(self.config.hydra.job_logging, self.config.hydra.verbose)
            _LOGGING_OF[0] = self
        if not self.started:
            self.started = True
            self.hydra_context.callbacks.on_job_start(config=self.config, task_function=self.task_function)
        try:
            with env_override(self.hydra_cfg.hydra.job.env_set):
                if self.chdir:
                    os.chdir(self.output_dir)
                yield
        finally:
            os.chdir(cwd)
            HydraConfig.instance().cfg = previous

    def job_return(self, outcome) -> JobReturn:
        ret = JobReturn()
        ret.cfg, ret.hydra_cfg = self.cfg, self.hydra_cfg
        ret.overrides = OmegaConf.to_container(self.config.hydra.overrides.task)
        ret.working_dir = self.output_dir if self.chdir else os.getcwd()
        ret.return_value = outcome
        ret.status = JobStatus.FAILED if isinstance(outcome, BaseException) else JobStatus.COMPLETED
        ret.task_name = JobRuntime.instance().get("name")
        if self.started:
            self.hydra_context.callbacks.on_job_end(config=self.config, job_return=ret)
        return ret


def failed_returns(configs: list[DictConfig], error: BaseException) -> list[JobReturn]:
    """FAILED JobReturns for configurations whose job never came back (killed, cancelled, out of requeues)."""
    out = []
    for config in configs:
        ret = JobReturn()
        hydra_cfg = copy.deepcopy(config)
        with read_write(hydra_cfg), open_dict(hydra_cfg):
            output_dir = os.path.join(str(hydra_cfg.hydra.sweep.dir), str(hydra_cfg.hydra.sweep.subdir))
            hydra_cfg.hydra.runtime.output_dir = os.path.abspath(output_dir)
        ret.hydra_cfg = OmegaConf.create({"hydra": OmegaConf.to_container(hydra_cfg.hydra, resolve=False)})
        ret.overrides = OmegaConf.to_container(config.hydra.overrides.task)
        ret.return_value, ret.status = error, JobStatus.FAILED
        out.append(ret)
    return out


def singleton_state():
    return Singleton.get_state()
