"""The default launcher: the sweep's configurations run in this process, packed.

    python -m t2m.sweep -m sweep=paper_ablation                                    # all 109 decoded together
    python -m t2m.sweep -m sweep=paper_ablation hydra.launcher.configs_per_job=1   # one at a time

Hydra's basic launcher runs one job after another; this one deals the jobs into packs
(`t2m.pipeline.launchers.packs`, by default one pack of every configuration) and runs each pack as one
packed job: the model is loaded once, and the rows of all of a pack's configurations fill the decoder's
batches together. Each configuration still gets its own job directory, store entry, summary and W&B run.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, setup_globals

from t2m.pipeline.launchers.packs import check_packing, deal
from t2m.pipeline.launchers.runner import compose, run_configurations

log = logging.getLogger(__name__)


class InProcessLaunch:
    """Mixed into Hydra's BasicLauncher as hydra_plugins.t2m_launchers.InProcessLauncher."""

    def __init__(self, configs_per_job: int | None = None, jobs: int | None = None):
        super().__init__()
        check_packing(configs_per_job, jobs)
        self.configs_per_job, self.jobs = configs_per_job, jobs

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from t2m.pipeline.task import USER_ERRORS
        from t2m.pipeline.checks.validate import Rejected

        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        packs = deal(len(job_overrides), self.configs_per_job, self.jobs)
        log.info(f"Launching {len(job_overrides)} configurations in this process, in {len(packs)} "
                 f"pack{'s' * (len(packs) != 1)} of up to {max(map(len, packs), default=0)}")  # fmt: skip
        returns: list = [None] * len(job_overrides)
        for pack in packs:
            configs = []
            for i in pack:
                num = initial_job_idx + i
                log.info(f"\t#{num} : {' '.join(filter_overrides(job_overrides[i]))}")
                configs.append(compose(self.hydra_context, self.config, job_overrides[i], num=num, job_id=num))
            for i, r in zip(pack, run_configurations(self.hydra_context, self.task_function, configs)):
                returns[i] = r
            configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
            for i in pack:  # a mistake the user can fix ends the command with its line, as a single run's would
                if returns[i].status == JobStatus.FAILED and isinstance(returns[i]._return_value, USER_ERRORS):
                    raise Rejected(returns[i]._return_value)
        return returns
