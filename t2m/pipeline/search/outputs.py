"""What a search leaves behind, and how it reads: each trial's verdict, the trials table, the plot,
the shortlist of the front with its paired comparisons, and the study's W&B run.

    <study dir>/
      study.journal            the Optuna study (optuna-dashboard opens it)
      trial007_lowprob_.../    one job directory per trial, as a grid's (summary.json gains study,
                               trial, trial_state = complete | pruned, trial_stage = problems evaluated)
      baseline_t2t_tau0.5/     the baseline every trial is compared with
      trials.csv / .parquet    one row per trial: trial, trial_state, on_front, ..., then the grid's columns
      sweep_results.*          the same table a grid sweep has (t2m.pipeline.report), pruned rows marked
      cost_vs_accuracy.png     the grid's plot of these configurations (pruned ones as x, off the fronts)
      search_front.png         the study's front over the front of a grid sweep of the same model and data
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from t2m.analysis.front import hypervolume_2d, non_dominated, reference_point
from t2m.pipeline import report, tracking
from t2m.pipeline.paths import absolute
from t2m.pipeline.report.baseline import NONE, BaselineError
from t2m.pipeline.report.plot import comparison as paired_text
from t2m.pipeline.report.plot import knobs
from t2m.pipeline.search.plot import front_png, plot_axes
from t2m.pipeline.store.entries import atomic_write_json, write_atomically
from t2m.pipeline.store.jobdir import SUMMARY, job_records

log = logging.getLogger(__name__)

TRIALS_CSV, TRIALS_PARQUET, FRONT_PNG = "trials.csv", "trials.parquet", "search_front.png"
TRIAL_COLUMNS = ["trial", "trial_state", "on_front", "duplicate_of", "trial_stage"]


# ---- one trial -------------------------------------------------------------------------------------


def mark_trial(sweeper, plan, number: int, job_dir: Path, state: str, n: int) -> None:
    """Write a trial's verdict into its summary.json, then log its W&B run (one per trial, with the
    verdict, from the same config, summary and samples the job wrote)."""
    path = job_dir / SUMMARY
    summary = json.loads(path.read_text())
    summary.update(study=plan.study_name, trial=number, trial_state=state, trial_stage=n)
    atomic_write_json(path, summary)
    tracker = sweeper.config.tracker
    if tracker.mode == "disabled":
        return
    config = OmegaConf.to_container(OmegaConf.load(job_dir / "config.yaml"))
    config["tracker"] = OmegaConf.to_container(tracker, resolve=True)  # the job ran without, so that W&B gets one run per trial
    tracking.log_configuration(
        tracker, wandb_dir=_wandb_dir(sweeper.config, plan), run_id=tracking.run_id(summary["fingerprint"], summary["subset"], summary["experiment"]),
        name=job_dir.name + ("-pruned" if state == "pruned" else ""), group=summary["experiment"], job_type=summary["strategy"], config=config,
        summary={k: v for k, v in summary.items() if k != "repro"}, records=job_records(job_dir),
    )  # fmt: skip


# ---- the study's outputs --------------------------------------------------------------------------


def finish(sweeper, plan, study) -> None:
    """The table, the plots, the shortlist and the W&B run of a study, from what its storage and job
    directories hold now (every worker writes them when it ends; the last one has everything)."""
    correction = report.config_correction(sweeper.config)  # the family: every trial compared with the baseline
    try:
        table, _ = report.build(plan.dir, baseline=plan.baseline_spec if plan.baseline_spec is not None else NONE, correction=correction)
    except BaselineError as e:
        log.warning("%s; the table has no paired statistics", e)
        table, _ = report.build(plan.dir, baseline=NONE, correction=correction)
    trials = trials_table(study, table, plan)
    if trials.empty:
        log.warning("Search: no trials in study %s yet", plan.study_name)
        return
    write_atomically(plan.dir / TRIALS_CSV, lambda tmp: trials.to_csv(tmp, index=False))
    write_atomically(plan.dir / TRIALS_PARQUET, lambda tmp: trials.to_parquet(tmp, index=False))
    grid_dir, grid = find_grid(sweeper, plan, table)
    comparison = compare_with_grid(trials, table, grid, plan) if grid is not None else None
    png = plan.dir / FRONT_PNG
    write_atomically(png, lambda tmp: front_png(trials, grid, tmp, plan, comparison, grid_dir))
    for line in shortlist(trials, plan, comparison, grid_dir):
        log.info(line)
    tracker = sweeper.config.tracker
    tracking.log_search(tracker, wandb_dir=_wandb_dir(sweeper.config, plan), run_id=tracking.run_id("search", plan.study_name, str(plan.dir.resolve())),
                        name=f"{plan.study_name}-study", group=str(sweeper.config.experiment), trials=trials, plot_png=png,
                        summary=study_summary(trials, comparison))  # fmt: skip


def trials_table(study, table: pd.DataFrame, plan) -> pd.DataFrame:
    """One row per trial: its number, state (complete, pruned, repeat of an earlier trial's
    configuration, fail, running, baseline), whether it is on the study's front, then the grid table's
    columns for its job (for a repeat: the earlier trial's)."""
    rows_by_job = {}
    if not table.empty:
        for _, row in table.iterrows():
            rows_by_job[str(row["job"])] = row.to_dict()
            rows_by_job.setdefault(("fp", row.get("fingerprint"), row.get("subset")), row.to_dict())
    front = {t.number for t in study.best_trials}
    out = []
    for t in study.get_trials(deepcopy=False):
        job = t.user_attrs.get("job")
        row = dict(rows_by_job.get(job) or _by_fingerprint(plan.dir / job if job else None, rows_by_job) or {})
        state = t.state.name.lower()
        repeat = t.user_attrs.get("duplicate_of")
        if t.user_attrs.get("role") == "baseline":
            state = "baseline"
        elif repeat is not None:
            state = "repeat"  # a proposal of trial `duplicate_of`'s configuration: nothing ran (Optuna: its result, or fail)
        config = {k: v for k, v in (t.user_attrs.get("config") or {}).items()}
        out.append({
            **config,  # what was proposed (the only columns of a trial that never ran)
            **row,  # the grid table's row of its job directory
            "trial": t.number,
            "trial_state": state,
            "on_front": t.number in front and repeat is None,
            "duplicate_of": repeat,
            "trial_stage": t.user_attrs.get("stage") if state in ("running", "fail") else row.get("n"),
            **{f"value_{o.name}": (t.values[i] if t.values else None) for i, o in enumerate(plan.objectives)},
        })  # fmt: skip
    df = pd.DataFrame(out)
    if df.empty:
        return df
    lead = [c for c in TRIAL_COLUMNS if c in df] + [c for c in report.LEAD_COLUMNS if c in df]
    return df[lead + [c for c in df.columns if c not in lead]]


def _by_fingerprint(job_dir: Path | None, rows_by_job: dict) -> dict | None:
    if job_dir is None:
        return None
    try:
        summary = json.loads((job_dir / SUMMARY).read_text())
    except (OSError, ValueError):
        return None
    return rows_by_job.get(("fp", summary.get("fingerprint"), summary.get("subset")))


# ---- the grid it is compared with ------------------------------------------------------------------


def find_grid(sweeper, plan, table: pd.DataFrame) -> tuple[Path | None, pd.DataFrame | None]:
    """The grid sweep to draw under the study's front: only the one `hydra.sweeper.grid` names. It is
    never looked for: a scan of results_dir once took a pruned trial's folder (given a table by a
    report run on the results root) for the grid. The folder must be one finished grid sweep: its
    multirun.yaml at its top, not a search, and its table written."""
    setting = sweeper.grid
    if setting in (None, "none", False):
        return None, None
    if setting == "auto":
        log.warning("hydra.sweeper.grid=auto: no grid is looked for any more; name the grid sweep to compare with (hydra.sweeper.grid=DIR)")
        return None, None
    path = absolute(setting)
    if not (path / "multirun.yaml").exists() or (path / TRIALS_CSV).exists() or path.resolve() == plan.dir.resolve():
        log.warning("hydra.sweeper.grid=%s is not a grid sweep (no multirun.yaml at its top, or a search); the plot has no grid", setting)
        return None, None
    grid = _grid_table(path)
    if grid is None:
        log.warning("hydra.sweeper.grid=%s holds no sweep_results.csv; the plot has no grid to compare with", setting)
    return (path, grid) if grid is not None else (None, None)


def _grid_table(path: Path) -> pd.DataFrame | None:
    try:
        return pd.read_csv(Path(path) / report.TABLE_CSV)
    except (OSError, ValueError):
        return None


def compare_with_grid(trials: pd.DataFrame, table: pd.DataFrame, grid: pd.DataFrame, plan) -> dict | None:
    """The study's front against the grid's, in the plot's two objectives: hypervolume of each (same
    reference point: the grid's worst value of each objective, widened by a tenth of its span) and
    the forward passes each evaluated (problems x mean forwards, each configuration counted once)."""
    cost, gain = plot_axes(plan)
    done = trials[trials["trial_state"].isin(["complete", "baseline"]) & trials[gain.column].notna()]
    grid_ok = grid[grid[gain.column].notna() & grid[cost.column].notna()]
    if done.empty or grid_ok.empty:
        return None
    grid_losses = np.column_stack([grid_ok[cost.column].astype(float), -grid_ok[gain.column].astype(float)])
    study_losses = np.column_stack([done[cost.column].astype(float), -done[gain.column].astype(float)])
    reference = reference_point(grid_losses)
    hv_grid, hv_study = hypervolume_2d(grid_losses, reference), hypervolume_2d(study_losses, reference)
    return {
        "reference": {cost.name: float(reference[0]), gain.name: float(-reference[1])},
        "hypervolume_grid": hv_grid,
        "hypervolume_study": hv_study,
        "hypervolume_ratio": hv_study / hv_grid if hv_grid > 0 else None,
        "forwards_grid": evaluated_forwards(grid),
        "forwards_study": evaluated_forwards(table),
        "grid_front": int(non_dominated(grid_losses).sum()),
        "grid_configurations": int(len(grid)),
    }


def evaluated_forwards(table: pd.DataFrame) -> float:
    """Forward passes the configurations of a table took: n x mean forwards, each configuration
    (fingerprint) once, at its largest n (a pruned trial's problems are a prefix of a complete one's)."""
    if table.empty:
        return 0.0
    df = table.assign(_work=table["n"].astype(float) * table["mean_forwards"].astype(float))
    key = df["fingerprint"] if "fingerprint" in df else pd.Series(range(len(df)))
    return float(df.groupby(key)["_work"].max().sum())


# ---- what is printed ----------------------------------------------------------------------------


def shortlist(trials: pd.DataFrame, plan, comparison: dict | None, grid_dir: Path | None) -> list[str]:
    """The study's front, cheapest first, each with its paired comparison to the baseline: the verdict
    follows the p adjusted over every trial compared with the baseline (with Holm's, picking the front
    after looking adds no false marks: the family-wise error covers every trial)."""
    own = trials[trials["duplicate_of"].isna() & (trials["trial_state"] != "baseline")]
    states, repeats = own["trial_state"].value_counts(), int(trials["duplicate_of"].notna().sum())
    lines = [f"Study {plan.study_name}: {len(own)} trials, {states.get('complete', 0)} complete, {states.get('pruned', 0)} pruned, "
             f"{states.get('fail', 0)} failed" + (f", {states.get('running', 0)} running" if states.get("running", 0) else "")
             + (f" (+{repeats} repeats of evaluated configurations, not run)" if repeats else "") + f"; storage {plan.storage_name}"]  # fmt: skip
    cost, gain = plot_axes(plan)
    front = trials[trials["on_front"]].sort_values(cost.column if cost.column in trials else "trial")
    if front.empty:
        lines.append("front    (empty: no complete" + (" feasible" if plan.max_accuracy_drop is not None else "") + " trial yet)")
    for _, r in front.iterrows():
        lines.append(f"front    #{int(r['trial']):<3} {trial_knobs(r, plan):<58} {_metrics(r)}" + (f"  vs baseline: {r['vs_baseline']}, {paired_text(r)}" if isinstance(r.get("vs_baseline"), str) else ""))
    base = trials[trials.get("vs_baseline") == "baseline"] if "vs_baseline" in trials else trials.iloc[0:0]
    if not base.empty:
        r = base.iloc[0]
        lines.append(f"baseline {'#' + str(int(r['trial'])) if r['trial_state'] == 'baseline' else '  '}   {trial_knobs(r, plan):<58} {_metrics(r)}")
    if comparison:
        ratio = comparison["hypervolume_ratio"]
        lines.append(f"vs grid  {grid_dir} ({comparison['grid_configurations']} configurations): the study's front has "
                     f"{'n/a' if ratio is None else f'{100 * ratio:.1f}%'} of the grid front's hypervolume ({cost.name} x {gain.name}) for "
                     f"{100 * comparison['forwards_study'] / comparison['forwards_grid']:.1f}% of its forward passes")  # fmt: skip
    lines.append(f"Trials: {plan.dir / TRIALS_CSV}; plot: {plan.dir / FRONT_PNG}; dashboard: optuna-dashboard {plan.storage_name}")
    return lines


def trial_knobs(r, plan) -> str:
    text = knobs(r, shown_apart=plan.extra_keys)  # a searched key is always shown, after the knobs
    for key in plan.extra_keys:
        if key in r and not pd.isna(r[key]):
            text += f" {key}={r[key]:g}" if isinstance(r[key], float) else f" {key}={r[key]}"
    return text


def _metrics(r) -> str:
    if pd.isna(r.get("accuracy")):
        return ""
    return (f"acc {100 * r['accuracy']:5.1f}% [{100 * r['accuracy_ci95_low']:.1f}, {100 * r['accuracy_ci95_high']:.1f}]  "
            f"fwd {r['mean_forwards']:6.2f}  mods {r['mean_modifications']:5.2f}")  # fmt: skip


def study_summary(trials: pd.DataFrame, comparison: dict | None) -> dict:
    states = trials["trial_state"].value_counts()
    out = {f"trials/{k}": int(v) for k, v in states.items()}
    out["front/size"] = int(trials["on_front"].sum())
    if comparison:
        out.update({f"vs_grid/{k}": v for k, v in comparison.items() if not isinstance(v, dict)})
    return out


def _wandb_dir(config, plan) -> Path:
    return absolute(config.tracker.dir) if config.tracker.dir else plan.dir
