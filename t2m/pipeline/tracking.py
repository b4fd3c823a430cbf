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
    """The sweep-level run: every configuration as a table (with its paired comparison to the
    baseline), cost-vs-accuracy charts coloured by strategy and shaped by significance (plotly, so
    that hovering names every knob), the PNG, and the comparison counts in the run's summary."""
    if not enabled(tracker):
        return
    try:
        import wandb

        from t2m.pipeline.plot import PANELS, plotly_figure

        run = _init(tracker, wandb_dir, name=name, group=group, job_type="sweep", config={"sweep": group, "configurations": len(table)})
        try:
            df = table.assign(accuracy_pct=100 * table["accuracy"])
            df = df.astype(object).where(df.notna(), None).map(_python)  # NaN, <NA> -> None; numpy scalars -> Python
            cols = [c for c in df.columns if df[c].map(_scalar).all()]
            logged = {"configurations": wandb.Table(columns=cols, data=df[cols].values.tolist())}
            for col, _, label in PANELS:
                logged[f"accuracy_vs_{col}"] = wandb.Plotly(plotly_figure(table, col, label, title=f"accuracy vs {label}"))
            if plot_png is not None and Path(plot_png).exists():
                logged["cost_vs_accuracy"] = wandb.Image(str(plot_png))
            run.log(logged)
            run.summary.update(sweep_summary(table))
        finally:
            run.finish()
    except Exception as e:  # noqa: BLE001
        _give_up(e)


def sweep_summary(table) -> dict:
    """What the sweep's W&B summary says about the paired comparisons."""
    out = {}
    if "vs_baseline" not in table:
        return out
    verdicts = table["vs_baseline"].value_counts()
    out.update({f"vs_baseline/{k}": int(verdicts.get(k, 0)) for k in ("better", "worse", "n.s.")})
    bases = table.loc[table["vs_baseline"] == "baseline", "job"].tolist()
    if bases:
        out["baseline"] = bases[0] if len(bases) == 1 else ", ".join(bases)
    compared = table[table["vs_baseline"].isin(["better", "worse", "n.s."])]
    if len(compared):
        best = compared.loc[compared["delta_accuracy"].idxmax()]
        out.update({"best/job": best["job"], "best/delta_accuracy": float(best["delta_accuracy"]), "best/mcnemar_p": float(best["mcnemar_p"])})
    return out


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


def _python(v):
    return v.item() if hasattr(v, "item") and not isinstance(v, (str, bytes)) else v


def _scalar(v) -> bool:
    return v is None or isinstance(v, (bool, int, float, str))
