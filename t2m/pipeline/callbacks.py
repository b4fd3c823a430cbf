"""Hydra callback: when a multirun ends, write the sweep's table, paired statistics and plot, and its W&B summary run.

Registered in conf/config.yaml under `hydra.callbacks`. The same outputs can be rebuilt at any time
with `python -m t2m.report <sweep dir>`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger(__name__)


class SweepOutputs(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        from t2m.pipeline import report, tracking
        from t2m.pipeline.baseline import NONE, BaselineError
        from t2m.pipeline.validate import absolute

        sweep_dir = absolute(config.hydra.sweep.dir)
        overlay = absolute(config.report.overlay) if config.report.overlay else None
        baseline = config.get("baseline")
        try:
            try:
                table, png = report.build(sweep_dir, overlay=overlay, baseline=baseline)
            except BaselineError as e:  # the results stand; only the comparison is missing
                log.warning("%s; the table and plot have no paired statistics (python -m t2m.report %s --baseline ...)", e, sweep_dir)
                table, png = report.build(sweep_dir, overlay=overlay, baseline=NONE)
        except Exception:
            log.error("Could not write the sweep table/plot; rebuild them with: python -m t2m.report %s", sweep_dir)
            raise
        if table.empty:
            return
        log.info("Sweep results: %s, %s", sweep_dir / report.TABLE_CSV, png)
        for line in report.describe(table).splitlines():
            log.info(line)
        wandb_dir = absolute(config.tracker.dir) if config.tracker.dir else sweep_dir
        tracking.log_sweep(config.tracker, wandb_dir=wandb_dir, name=f"{config.experiment}-{Path(sweep_dir).name}",
                           group=config.experiment, table=table, plot_png=png)  # fmt: skip
