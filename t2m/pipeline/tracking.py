"""Weights & Biases as a sink: one run per configuration, one sweep-level run with the plots.

The local store is the source of truth; W&B gets a copy. Offline mode (the default) needs no account:
runs land in `<dir>/wandb/offline-run-*` and `wandb sync <that dir>` uploads them later. Whatever
W&B does (no network, no login, a bug), the failure is one warning line and the local results are
already on disk. After one failure W&B is switched off for the rest of the process, so an
unreachable server does not cost a timeout per configuration.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)

_broken: str | None = None  # why W&B was switched off in this process, once it failed

SAMPLE_COLUMNS = ("id", "gold", "extracted", "correct", "strict_correct", "modifications", "forwards", "output_tokens", "generation")
SCATTERS = (("mean_modifications", "modifications per sample"), ("mean_forwards", "forwards per sample"))


def enabled(tracker) -> bool:
    return tracker is not None and tracker.mode != "disabled" and _broken is None


def log_configuration(tracker, *, wandb_dir: Path, name: str, group: str, job_type: str, config: dict, summary: dict, records: list[dict]) -> None:
    """One W&B run for one configuration: its config, summary metrics and a per-sample table."""
    if not enabled(tracker):
        return
    try:
        import wandb

        run = _init(tracker, wandb_dir, name=name, group=group, job_type=job_type, config=config)
        try:
            run.summary.update({k: v for k, v in summary.items() if _scalar(v)})
            if tracker.log_samples and records:
                rows = [[r.get(c) for c in SAMPLE_COLUMNS] for r in records]
                run.log({"samples": wandb.Table(columns=list(SAMPLE_COLUMNS), data=rows)})
        finally:
            run.finish()
    except Exception as e:  # noqa: BLE001 - any W&B failure must leave the local results alone
        _give_up(e)


def log_sweep(tracker, *, wandb_dir: Path, name: str, group: str, table, plot_png: Path | None) -> None:
    """The sweep-level run: every configuration as a table, cost-vs-accuracy scatters and the PNG."""
    if not enabled(tracker):
        return
    try:
        import wandb

        run = _init(tracker, wandb_dir, name=name, group=group, job_type="sweep", config={"sweep": group, "configurations": len(table)})
        try:
            df = table.copy()
            df["accuracy_pct"] = 100 * df["accuracy"]
            cols = [c for c in df.columns if df[c].map(_scalar).all()]
            wtable = wandb.Table(dataframe=df[cols])
            logged = {"configurations": wtable}
            for x, title in SCATTERS:
                logged[f"accuracy_vs_{x}"] = wandb.plot.scatter(wtable, x, "accuracy_pct", title=f"accuracy vs {title}")
            if plot_png is not None and Path(plot_png).exists():
                logged["cost_vs_accuracy"] = wandb.Image(str(plot_png))
            run.log(logged)
        finally:
            run.finish()
    except Exception as e:  # noqa: BLE001
        _give_up(e)


def _init(tracker, wandb_dir: Path, **kwargs):
    import wandb

    wandb_dir = Path(wandb_dir)
    wandb_dir.mkdir(parents=True, exist_ok=True)
    return wandb.init(
        project=tracker.project,
        entity=tracker.entity,
        mode=tracker.mode,
        dir=str(wandb_dir),
        reinit="create_new",  # a fresh run per configuration, even in one process
        settings=wandb.Settings(console="off", silent=True),  # the job's own output stays on the console only
        **kwargs,
    )


def _give_up(e: Exception) -> None:
    global _broken
    _broken = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
    log.warning("W&B failed (%s); local results are unaffected, W&B is off for the rest of this process", _broken)


def _scalar(v) -> bool:
    return v is None or isinstance(v, (bool, int, float, str))
