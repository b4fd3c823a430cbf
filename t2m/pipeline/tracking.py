"""Weights & Biases as a sink: one run per configuration, one sweep-level run with the plots.

The local store is the source of truth; W&B gets a copy. Offline mode (the default) needs no account:
runs land in `<dir>/wandb/offline-run-*` and `wandb sync <that dir>` uploads them later. Whatever
W&B does (no network, no login, a bug), the failure is one warning line and the local results are
already on disk. After one failure W&B is switched off for the rest of the process, so an
unreachable server does not cost a timeout per configuration.

One configuration is one W&B run, however often it is re-run or resumed: its run id is derived from
its fingerprint, problem subset and experiment (`run_id`), and W&B resumes that run. A run is only
started when there is something to log, a configuration whose run already holds exactly these results
(a marker in `<dir>/wandb/t2m-logged/`) is not logged again, and the older offline copies of a run id
that was logged again (e.g. after a kill during logging) move to `<dir>/wandb/superseded/`, so that
`wandb sync <dir>/wandb/offline-run-*` uploads each configuration once. An online server that cannot
be reached within a few seconds is said in one line, and the runs are written offline instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

from t2m.pipeline.network import reachable

log = logging.getLogger(__name__)

INIT_TIMEOUT_S = 20  # W&B's own default waits 90 s for a server that will not answer
_broken: str | None = None  # why W&B was switched off in this process, once it failed
_offline: str | None = None  # why an online tracker writes offline runs in this process
_probed: set = set()  # servers found reachable in this process

SAMPLE_COLUMNS = ("id", "gold", "extracted", "correct", "strict_correct", "error_class", "modifications", "forwards", "output_tokens", "generation")


def enabled(tracker) -> bool:
    return tracker is not None and tracker.mode != "disabled" and _broken is None


def run_id(*parts: str) -> str:
    """A W&B run id that is the same wherever and however often the same thing is logged."""
    return "t2m-" + hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:20]


def check_reachable(tracker) -> None:
    """For an online tracker: can the server be reached within a few seconds? If not, say so once
    and write offline runs (same run ids) that `wandb sync` uploads later."""
    global _offline
    if tracker is None or tracker.mode != "online" or _offline is not None:
        return
    base = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")
    if base in _probed:
        return
    why = reachable(base)
    if why is None:
        _probed.add(base)
    else:
        _offline = f"cannot reach {base} ({why})"
        log.warning("W&B %s; writing offline runs instead, upload them later with: wandb sync <dir>/wandb/offline-run-*", _offline)


RUNS = "wandb-runs.json"  # in a store entry: {run id: the directory whose wandb/ holds that run}


def home(tracker, entry_dir: Path, run_id: str, wandb_dir: Path) -> Path | None:
    """Where the W&B run of a store entry lives: the directory that logged it first, while its wandb/
    still holds the run, else `wandb_dir` (recorded now). So a second sweep of the same configuration
    links to that run instead of writing a second offline copy that `wandb sync` would upload again.
    Call while holding the entry; None when W&B is off."""
    if not enabled(tracker):
        return None
    from t2m.pipeline.store.entries import atomic_write_json

    path, here = Path(entry_dir) / RUNS, Path(wandb_dir).absolute()
    try:
        runs = json.loads(path.read_text())
    except (OSError, ValueError):
        runs = {}
    recorded = Path(runs.get(run_id) or here)
    if recorded != here and any((recorded / "wandb").glob(f"*run-*-{run_id}")):
        return recorded
    if runs.get(run_id) != str(here):
        atomic_write_json(path, {**runs, run_id: str(here)})
    return here


def log_configuration(tracker, *, wandb_dir: Path, run_id: str, name: str, group: str, job_type: str, config: dict,
                      summary: dict, records: list[dict], home: Path | None = None) -> None:  # fmt: skip
    """One W&B run for one configuration: its config, summary metrics and a per-sample table; not
    written when the run's `home` is another directory (see `home`)."""
    if not enabled(tracker) or not summary.get("n"):
        return
    if home is not None and Path(home) != Path(wandb_dir).absolute():
        log.info("W&B run %s is in %s (logged by an earlier run); not written again here", run_id, home)
        return
    marker = _Marker(wandb_dir, run_id, {"mode": _mode(tracker), "project": tracker.project, "entity": tracker.entity,
                                         "config": config, "summary": summary, "log_samples": tracker.log_samples})  # fmt: skip
    if marker.logged():
        log.info("W&B run %s already holds these results; not logged again", run_id)
        return
    try:
        import wandb

        with _run(tracker, wandb_dir, run_id, marker, name=name, group=group, job_type=job_type, config=config) as run:
            run.summary.update({k: v for k, v in summary.items() if _scalar(v)})
            if tracker.log_samples and records:
                rows = [[r.get(c) for c in SAMPLE_COLUMNS] for r in records]
                run.log({"samples": wandb.Table(columns=list(SAMPLE_COLUMNS), data=rows)})
    except Exception as e:  # noqa: BLE001 - any W&B failure must leave the local results alone
        _give_up(e)


def log_sweep(tracker, *, wandb_dir: Path, run_id: str, name: str, group: str, table, plot_png: Path | None) -> None:
    """The sweep-level run: every configuration as a table (with its paired comparison to the
    baseline), cost-vs-accuracy charts coloured by strategy and shaped by significance (plotly, so
    that hovering names every knob), the PNG, and the comparison counts in the run's summary."""
    if not enabled(tracker) or table.empty:
        return
    marker = _Marker(wandb_dir, run_id, {"mode": _mode(tracker), "project": tracker.project, "entity": tracker.entity,
                                         "table": table.to_csv(index=False)})  # fmt: skip
    if marker.logged():
        log.info("W&B run %s already holds this sweep's table; not logged again", run_id)
        return
    try:
        import wandb

        from t2m.analysis.repair import long_table
        from t2m.pipeline.report.plot import METRICS, PANELS, plotly_figure

        config = {"sweep": group, "configurations": len(table)}
        with _run(tracker, wandb_dir, run_id, marker, name=name, group=group, job_type="sweep", config=config) as run:
            df = table.assign(accuracy_pct=100 * table["accuracy"])
            df = df.astype(object).where(df.notna(), None).map(_python)  # NaN, <NA> -> None; numpy scalars -> Python
            cols = [c for c in df.columns if df[c].map(_scalar).all()]
            logged = {"configurations": wandb.Table(columns=cols, data=df[cols].values.tolist())}
            for metric in METRICS if "fidelity" in table else ["accuracy"]:
                for col, _, label in PANELS:
                    logged[f"{metric}_vs_{col}"] = wandb.Plotly(plotly_figure(table, col, label, title=f"{METRICS[metric]} vs {label}", metric=metric))
            if plot_png is not None and Path(plot_png).exists():
                logged["cost_vs_accuracy"] = wandb.Image(str(plot_png))
            repair = long_table(table)
            if len(repair):  # the paper's Table 2 for every configuration: repaired / broken per error class
                repair = repair.astype(object).where(repair.notna(), None).map(_python)
                logged["repair"] = wandb.Table(columns=list(repair.columns), data=repair.values.tolist())
            run.log(logged)
            run.summary.update(sweep_summary(table))
    except Exception as e:  # noqa: BLE001
        _give_up(e)


def log_search(tracker, *, wandb_dir: Path, run_id: str, name: str, group: str, trials, plot_png: Path | None, summary: dict) -> None:
    """The study-level run of an Optuna search (t2m.pipeline.search): the trials table (number,
    state, front, knobs, metrics, paired comparison), the front-over-grid plot and the counts."""
    if not enabled(tracker) or trials.empty:
        return
    marker = _Marker(wandb_dir, run_id, {"mode": _mode(tracker), "project": tracker.project, "entity": tracker.entity,
                                         "trials": trials.to_csv(index=False), "summary": summary})  # fmt: skip
    if marker.logged():
        return
    try:
        import wandb

        with _run(tracker, wandb_dir, run_id, marker, name=name, group=group, job_type="search", config={"study": name}) as run:
            df = trials.astype(object).where(trials.notna(), None).map(_python)
            cols = [c for c in df.columns if df[c].map(_scalar).all()]
            logged = {"trials": wandb.Table(columns=cols, data=df[cols].values.tolist())}
            if plot_png is not None and Path(plot_png).exists():
                logged["search_front"] = wandb.Image(str(plot_png))
            run.log(logged)
            run.summary.update(summary)
    except Exception as e:  # noqa: BLE001
        _give_up(e)


def sweep_summary(table) -> dict:
    """What the sweep's W&B summary says about the paired comparisons: the verdicts (after the
    correction), how many raw p fell below α, and the configuration with the largest Δaccuracy with
    its raw and adjusted p and its verdict."""
    out = {}
    if "vs_baseline" not in table:
        return out
    verdicts = table["vs_baseline"].value_counts()
    out.update({f"vs_baseline/{k}": int(verdicts.get(k, 0)) for k in ("better", "worse", "n.s.")})
    compared = table[table["vs_baseline"].isin(["better", "worse", "n.s."])]
    if "p_adjusted" in compared and len(compared):
        from t2m.analysis.stats import ALPHA

        out["vs_baseline/correction"] = ", ".join(compared["correction"].dropna().unique())
        out["vs_baseline/raw_significant"] = int((compared["mcnemar_p"] < ALPHA).sum())  # what the marks were before correction
    if "fidelity_vs_baseline" in table:  # the same counts on answer-line fidelity
        fidelity = table["fidelity_vs_baseline"].value_counts()
        out.update({f"fidelity_vs_baseline/{k}": int(fidelity.get(k, 0)) for k in ("better", "worse", "n.s.")})
    bases = table.loc[table["vs_baseline"] == "baseline", "job"].tolist()
    if bases:
        out["baseline"] = bases[0] if len(bases) == 1 else ", ".join(bases)
    if len(compared):
        best = compared.loc[compared["delta_accuracy"].idxmax()]
        out.update({"best/job": best["job"], "best/delta_accuracy": float(best["delta_accuracy"]), "best/mcnemar_p": float(best["mcnemar_p"]),
                    "best/vs_baseline": best["vs_baseline"]})  # fmt: skip
        if "p_adjusted" in best and not _missing(best["p_adjusted"]):
            out["best/p_adjusted"] = float(best["p_adjusted"])
        from t2m.analysis.repair import COLUMNS as REPAIR_COLUMNS

        out.update({f"best/{c}": int(best[c]) for c in REPAIR_COLUMNS if c in best and not _missing(best[c])})
    return out


def _mode(tracker) -> str:
    return "offline" if _offline is not None and tracker.mode == "online" else tracker.mode


@contextlib.contextmanager
def _run(tracker, wandb_dir: Path, run_id: str, marker: "_Marker", **init):
    """A W&B run that is always finished; once its body has logged everything, older offline copies
    of it are moved aside and `marker` records that this content is in W&B."""
    with _files_under(wandb_dir):
        run = _init(tracker, wandb_dir, id=run_id, **init)
        try:
            yield run
        finally:
            local = Path(run.dir).parent
            run.finish()
    _supersede(wandb_dir, run_id, keep=local)
    marker.write()


# W&B's own folders outside its run directory: artifact staging copies of every logged table (kept
# until an offline run is synced) and its service's logs would pile up in the user's home.
WANDB_HOME_DIRS = {"WANDB_DATA_DIR": ".data", "WANDB_CACHE_DIR": ".cache"}


@contextlib.contextmanager
def _files_under(wandb_dir: Path):
    """Point W&B's data and cache folders into `<dir>/wandb/` while a run logs, unless the user set them."""
    ours = {k: str(Path(wandb_dir).absolute() / "wandb" / sub) for k, sub in WANDB_HOME_DIRS.items() if k not in os.environ}
    os.environ.update(ours)
    try:
        yield
    finally:
        for k in ours:
            os.environ.pop(k, None)


def _init(tracker, wandb_dir: Path, **kwargs):
    import wandb

    # Absolute: W&B writes a run's .wandb log from its service process, which the first run of this
    # Python process started and which resolves a relative dir against the directory it was started
    # in; after a chdir (a second command in one process, a notebook) the log would be lost.
    wandb_dir = Path(wandb_dir).absolute()
    wandb_dir.mkdir(parents=True, exist_ok=True)
    check_reachable(tracker)
    return wandb.init(
        project=tracker.project,
        entity=tracker.entity,
        mode=_mode(tracker),
        dir=str(wandb_dir),
        resume="allow",  # the run id names the configuration: a re-run continues its run
        reinit="create_new",  # a fresh run per configuration, even in one process
        # the job's own output stays on the console only; a server that does not answer ends init in time
        settings=wandb.Settings(console="off", silent=True, init_timeout=INIT_TIMEOUT_S),
        **kwargs,
    )


class _Marker:
    """`<dir>/wandb/t2m-logged/<run id>.json`: the digest of what that run was last given in full."""

    def __init__(self, wandb_dir: Path, run_id: str, content: dict):
        self.path = Path(wandb_dir) / "wandb" / "t2m-logged" / f"{run_id}.json"
        self.digest = hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()

    def logged(self) -> bool:
        try:
            return json.loads(self.path.read_text()).get("digest") == self.digest
        except (OSError, ValueError):
            return False

    def write(self) -> None:
        from t2m.pipeline.store.entries import atomic_write_json

        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.path, {"digest": self.digest})


def _supersede(wandb_dir: Path, run_id: str, keep: Path) -> None:
    """Move older offline copies of `run_id` (a kill during logging, a changed re-run) out of the
    `offline-run-*` glob that `wandb sync` is given; the newest holds everything."""
    root = Path(wandb_dir) / "wandb"
    for old in root.glob(f"offline-run-*-{run_id}"):
        if old.resolve() != keep.resolve():
            dest = root / "superseded"
            dest.mkdir(exist_ok=True)
            shutil.move(str(old), str(dest / old.name))


def _give_up(e: Exception) -> None:
    global _broken
    _broken = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
    log.warning("W&B failed (%s); local results are unaffected, W&B is off for the rest of this process", _broken)


def _missing(v) -> bool:
    import pandas as pd

    return v is None or bool(pd.isna(v))


def _python(v):
    return v.item() if hasattr(v, "item") and not isinstance(v, (str, bytes)) else v


def _scalar(v) -> bool:
    return v is None or isinstance(v, (bool, int, float, str))
