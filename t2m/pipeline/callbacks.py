"""Hydra callbacks, registered in conf/config.yaml under `hydra.callbacks`.

    Preflight      a single run: check the config, dataset, model and directories before Hydra creates
                   the run directory (a sweep's jobs are checked by the union sweeper the same way)
    SweepOutputs   when a multirun ends: the sweep's table and plot and its W&B summary run (the same
                   outputs can be rebuilt at any time with `python -m t2m.report <sweep dir>`), then
                   one line naming the configurations that failed, if any (t2m.pipeline.launchers.outcomes)
"""

from __future__ import annotations

import logging
import os
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
            _only_with_multirun(config)
            check(config)
            preflight(config, absolute(config.hydra.run.dir))
        except ConfigError as e:
            raise Rejected(e) from e  # Hydra turns an Exception from a callback into a warning and runs the job anyway


def _only_with_multirun(config: DictConfig) -> None:
    """A named sweep or a search in a single run would run one default configuration and exit 0."""
    from t2m.pipeline.checks.validate import ConfigError

    choices = config.hydra.runtime.choices
    for group in ("sweep", "search"):
        if choices.get(group) is not None:
            raise ConfigError(f"{group}={choices[group]} needs -m (without it one default configuration would run); "
                              f"allowed: python -m t2m.sweep -m {group}={choices[group]} ...")  # fmt: skip


class SweepOutputs(Callback):
    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        from t2m.pipeline.task import PROGRESS
        from t2m.pipeline.paths import absolute

        # What an interrupted or incomplete sweep says, even when its jobs run elsewhere (SLURM).
        PROGRESS.mode, PROGRESS.out_dir = "MULTIRUN", absolute(config.hydra.sweep.dir)
        # The sweep's plots: matplotlib's font cache and config folder under the results, not in the home.
        if "MPLCONFIGDIR" not in os.environ:
            self._mpl = os.environ["MPLCONFIGDIR"] = str(absolute(config.results_dir) / ".matplotlib")

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        from t2m.pipeline.launchers import outcomes
        from t2m.pipeline.checks.validate import Rejected

        try:
            self._outputs(config)
        finally:
            if getattr(self, "_mpl", None) and os.environ.get("MPLCONFIGDIR") == self._mpl:
                del os.environ["MPLCONFIGDIR"]  # a later command in this process picks its own
        try:
            outcomes.check_complete()
        except outcomes.SweepIncomplete as e:
            raise Rejected(e) from e  # Hydra turns an Exception from a callback into a warning

    def _outputs(self, config: DictConfig) -> None:
        from t2m.pipeline import report, tracking
        from t2m.pipeline.report.baseline import NONE, BaselineError
        from t2m.pipeline.task import PROGRESS
        from t2m.pipeline.paths import absolute, shown

        sweep_dir = absolute(config.hydra.sweep.dir)
        metric = OmegaConf.select(config, "report.metric", default="accuracy")
        overlay = absolute(config.report.overlay) if config.report.overlay else None
        # What the sweeper recorded in multirun.yaml (a search pins its baseline to its context), else the key.
        baseline = report.sweep_baseline(sweep_dir) if (sweep_dir / "multirun.yaml").exists() else config.get("baseline")
        correction = report.config_correction(config)
        PROGRESS.current = []
        try:
            try:
                table, png = report.build(sweep_dir, overlay=overlay, baseline=baseline, correction=correction, metric=metric)
            except BaselineError as e:  # the results stand; only the comparison is missing
                log.warning("%s; the table and plot have no paired statistics (python -m t2m.report %s --baseline ...)", e, sweep_dir)
                table, png = report.build(sweep_dir, overlay=overlay, baseline=NONE, correction=correction, metric=metric)
        except Exception:
            log.error("Could not write the sweep table/plot; rebuild them with: python -m t2m.report %s", sweep_dir)
            raise
        if table.empty:
            return
        log.info("Sweep results: %s, %s", shown(sweep_dir / report.TABLE_CSV), shown(png) if png else png)
        for line in report.describe(table, metric=metric).splitlines():
            log.info(line)
        wandb_dir = absolute(config.tracker.dir) if config.tracker.dir else sweep_dir
        tracking.log_sweep(config.tracker, wandb_dir=wandb_dir, run_id=tracking.run_id("sweep", sweep_dir.resolve(), config.experiment),
                           name=f"{config.experiment}-{Path(sweep_dir).name}", group=config.experiment, table=table, plot_png=png)  # fmt: skip
