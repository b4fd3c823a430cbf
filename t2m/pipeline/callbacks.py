"""Hydra callbacks, registered in conf/config.yaml under `hydra.callbacks`.

    Preflight      a single run: check the config, dataset, model and directories before Hydra creates
                   the run directory (a sweep's jobs are checked by the union sweeper the same way)
    SweepOutputs   when a multirun ends: the sweep's table and plot and its W&B summary run (the same
                   outputs can be rebuilt at any time with `python -m t2m.report <sweep dir>`), then
                   one line naming the configurations that failed, if any (t2m.pipeline.launchers.outcomes)
"""

from __future__ import annotations

import logging
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


class Preflight(Callback):
    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        from t2m.pipeline.checks.preflight import preflight
        from t2m.pipeline.checks.validate import ConfigError, Rejected, check
        from t2m.pipeline.paths import absolute

        try:
            check(config)
            preflight(config, absolute(config.hydra.run.dir))
        except ConfigError as e:
            raise Rejected(e) from e  # Hydra turns an Exception from a callback into a warning and runs the job anyway


class SweepOutputs(Callback):
    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        from t2m.pipeline.task import PROGRESS
        from t2m.pipeline.paths import absolute

        # What an interrupted or incomplete sweep says, even when its jobs run elsewhere (SLURM).
        PROGRESS.mode, PROGRESS.out_dir = "MULTIRUN", absolute(config.hydra.sweep.dir)

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        from t2m.pipeline.launchers import outcomes
        from t2m.pipeline.checks.validate import Rejected

        self._outputs(config)
        try:
            outcomes.check_complete()
        except outcomes.SweepIncomplete as e:
            raise Rejected(e) from e  # Hydra turns an Exception from a callback into a warning

    def _outputs(self, config: DictConfig) -> None:
        from t2m.pipeline import report, tracking
        from t2m.pipeline.report.baseline import NONE, BaselineError
        from t2m.pipeline.task import PROGRESS
        from t2m.pipeline.paths import absolute

        sweep_dir = absolute(config.hydra.sweep.dir)
        metric = OmegaConf.select(config, "report.metric", default="accuracy")
        overlay = absolute(config.report.overlay) if config.report.overlay else None
        # What the sweeper recorded in multirun.yaml (a search pins its baseline to its context), else the key.
        baseline = report.sweep_baseline(sweep_dir) if (sweep_dir / "multirun.yaml").exists() else config.get("baseline")
        PROGRESS.current = []
        try:
            try:
                table, png = report.build(sweep_dir, overlay=overlay, baseline=baseline, metric=metric)
            except BaselineError as e:  # the results stand; only the comparison is missing
                log.warning("%s; the table and plot have no paired statistics (python -m t2m.report %s --baseline ...)", e, sweep_dir)
                table, png = report.build(sweep_dir, overlay=overlay, baseline=NONE, metric=metric)
        except Exception:
            log.error("Could not write the sweep table/plot; rebuild them with: python -m t2m.report %s", sweep_dir)
            raise
        if table.empty:
            return
        log.info("Sweep results: %s, %s", sweep_dir / report.TABLE_CSV, png)
        for line in report.describe(table, metric=metric).splitlines():
            log.info(line)
        wandb_dir = absolute(config.tracker.dir) if config.tracker.dir else sweep_dir
        tracking.log_sweep(config.tracker, wandb_dir=wandb_dir, run_id=tracking.run_id("sweep", sweep_dir.resolve(), config.experiment),
                           name=f"{config.experiment}-{Path(sweep_dir).name}", group=config.experiment, table=table, plot_png=png)  # fmt: skip
