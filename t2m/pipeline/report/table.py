"""A sweep's table: one row per configuration found under a results directory, with its paired
comparison to the baseline, written as

    sweep_results.csv / .parquet   one row per configuration, with its paired comparison to the
                                   baseline (t2m.pipeline.report.paired; the same goes into each summary.json).
                                   Job directories that show the same configuration (fingerprint) and
                                   problems, e.g. after a re-run with the values in another order, are
                                   one row (the most complete, then the newest)
    cost_vs_accuracy.png           accuracy against modifications per sample and against forward
                                   passes per sample (t2m.pipeline.report.plot)
    repair_table.csv               per configuration and error class: the baseline's errors, how many
                                   it repaired and how many correct answers it broke (t2m.analysis.repair)
    table2.csv                     the paper's Table 2: per configuration its errors by class, accuracy,
                                   Δ, and per class the gross repair rate and the net change

and printed as a few lines (`describe`). It is rebuilt from the job directories at any time (also
while a sweep runs, or after it was killed); the command is t2m.pipeline.report.cli, and the multirun
callback (t2m.pipeline.callbacks) runs the same code when a sweep ends. The baseline is a `baseline=`
value (t2m.pipeline.report.baseline); `--overlay` draws published points (columns accuracy_pct,
avg_modifications_per_sample, avg_forwards_per_sample, strategy), e.g.
../shared/reference/paper_ablation_cmath100.csv, as hollow markers.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from t2m.analysis.repair import COLUMNS as REPAIR_COLUMNS
from t2m.analysis.repair import long_table, table2
from t2m.analysis.stats import ALPHA, CORRECTION_NAMES, DEFAULT_CORRECTION
from t2m.pipeline.report import baseline as baselines
from t2m.pipeline.report.paired import COLUMNS as PAIRED_COLUMNS
from t2m.pipeline.report.paired import add_paired, write_into_summaries
from t2m.pipeline.report.notes import data_warnings
from t2m.pipeline.report.plot import METRICS, comparison, edits, for_metric, p_order, pareto_front, pruned, remasks, setting
from t2m.pipeline.report.plot import png as plot
from t2m.pipeline.store.entries import SAMPLES, write_atomically
from t2m.pipeline.store.jobdir import SKIP_DIRS, SUMMARY, job_dirs, job_row

log = logging.getLogger(__name__)

TABLE_CSV, TABLE_PARQUET, PLOT_PNG, REPAIR_CSV = "sweep_results.csv", "sweep_results.parquet", "cost_vs_accuracy.png", "repair_table.csv"
TABLE2_CSV = "table2.csv"  # the paper's Table 2 layout: errors by class, gross repair and net change per configuration
LEAD_COLUMNS = [
    "job", "strategy", "tau", "c_max", "rho_max", "accuracy", "accuracy_ci95_low", "accuracy_ci95_high",
    "fidelity", "fidelity_ci95_low", "fidelity_ci95_high", *PAIRED_COLUMNS,
    "strict_accuracy", "n", "complete", "mean_modifications", "mean_forwards", "mean_output_tokens",
    "tokens_per_s", "wall_time_s",
]  # fmt: skip


def collect(results_dir: Path) -> pd.DataFrame:
    """One row per configuration found under `results_dir`."""
    results_dir = Path(results_dir)
    rows = []
    for job in sorted(job_dirs(results_dir), key=_job_order):
        row = job_row(job)
        if row is not None:
            row["job"] = str(job.relative_to(results_dir)) if job != results_dir else "."
            rows.append(row)
    df = pd.DataFrame(_one_per_configuration(rows))
    if df.empty:
        return df
    return _ordered(df)


def _ordered(df: pd.DataFrame) -> pd.DataFrame:
    lead = [c for c in LEAD_COLUMNS if c in df.columns]
    return df[lead + [c for c in df.columns if c not in lead]].reset_index(drop=True)


def table(results_dir: Path, baseline=None, correction: str = DEFAULT_CORRECTION) -> tuple[pd.DataFrame, dict | str | None, list[str]]:
    """The sweep table with its paired statistics, written nowhere: (table, baseline spec, warning
    lines). `correction` is a `stats.correction` value. Raises BaselineError for a `baseline` that is
    invalid or, when set, names nothing."""
    results_dir = Path(results_dir)
    spec = baselines.parse(baseline)
    df = collect(results_dir)
    if df.empty:
        return df, spec, []
    try:
        df, warnings = add_paired(df, results_dir, spec, correction)
    except baselines.BaselineError as e:
        if baseline is not None:
            raise
        log.info("No baseline in %s (%s): paired statistics left out; set one with baseline=...", results_dir, e)
        df, warnings = add_paired(df, results_dir, None)
    return _ordered(df), spec, warnings + data_warnings(df)


def build(results_dir: Path, overlay: str | Path | None = None, baseline=None, correction: str = DEFAULT_CORRECTION,
          metric: str = "accuracy", into_summaries: bool = True) -> tuple[pd.DataFrame, Path | None]:  # fmt: skip
    """Write the table (CSV, Parquet), the paired statistics (also into each summary.json, unless
    `into_summaries` is False: only the run that owns a summary writes it, so `python -m t2m.report`
    does not), the repair table and the plot into `results_dir`; return the table and plot path.
    `baseline` is a `baseline=` config value (None: the default), `correction` a `stats.correction`
    value, `metric` the plot's y-axis (plot.METRICS). A `baseline` that is invalid or names nothing
    raises BaselineError before anything is written."""
    results_dir = Path(results_dir)
    df, spec, warnings = table(results_dir, baseline, correction)
    if df.empty:
        log.warning("no configurations under %s (no %s or %s found)", results_dir, SUMMARY, SAMPLES)
        return df, None
    for line in warnings:
        log.warning(line)
    if into_summaries:
        write_into_summaries(df, results_dir, spec)
    # Each file is replaced atomically: a kill while the report is written leaves the previous table
    # and plot (or none), never a torn one; running the report again completes it.
    write_atomically(results_dir / TABLE_CSV, lambda tmp: df.to_csv(tmp, index=False))
    write_atomically(results_dir / TABLE_PARQUET, lambda tmp: df.to_parquet(tmp, index=False))
    write_atomically(results_dir / REPAIR_CSV, lambda tmp: long_table(df).to_csv(tmp, index=False))
    write_atomically(results_dir / TABLE2_CSV, lambda tmp: table2(df).to_csv(tmp, index=False))
    ref = read_overlay(overlay) if overlay else None
    caption = other_metric_line(df, metric)
    write_atomically(results_dir / PLOT_PNG, lambda tmp: plot(df, tmp, ref, title=title(df), metric=metric, caption=caption))
    return df, results_dir / PLOT_PNG


def sweep_baseline(results_dir: Path):
    """The `baseline` value a sweep ran with (its multirun.yaml), or None (the default)."""
    path = Path(results_dir) / "multirun.yaml"
    if not path.exists():
        return None
    return OmegaConf.load(path).get("baseline")


def not_one_sweep(folder: Path) -> str | None:
    """Why `folder` is not one sweep to report on (None when it is): it holds sweeps below its top,
    or it is a results root (its store/). Reporting on such a folder would pair configurations of
    unrelated sweeps and pick a baseline across them; each sweep is reported on by itself."""
    folder = Path(folder)
    inner = sorted(p.parent for p in folder.rglob("multirun.yaml")
                   if p.parent != folder and not ({"store", *SKIP_DIRS} & set(p.relative_to(folder).parts[:-1])))  # fmt: skip
    if not inner and not _results_root(folder):
        return None
    if not inner:
        return f"{folder} is a results directory, not a sweep, and holds no sweep; allowed: a sweep directory (one with multirun.yaml)"
    listed = "; ".join(f"python -m t2m.report {p}" for p in inner[:3]) + (f"; ... ({len(inner) - 3} more)" if len(inner) > 3 else "")
    return f"{folder} is not one sweep: it holds {len(inner)} sweep(s); report each by itself: {listed}"


def _results_root(folder: Path) -> bool:
    """Marked as one by its first run, or (older trees) a store beside folders that are not jobs."""
    from t2m.pipeline.store.root import MARKER

    if (folder / MARKER).is_file():
        return True
    return (folder / "store").is_dir() and not any((c / SUMMARY).exists() for c in folder.iterdir() if c.is_dir())
def config_correction(config) -> str:
    """The `stats.correction` of a composed config (a sweep's multirun.yaml), or the default."""
    return OmegaConf.select(config, "stats.correction", default=None) or DEFAULT_CORRECTION


def sweep_correction(results_dir: Path) -> str:
    """The `stats.correction` a sweep ran with (its multirun.yaml), or the default."""
    path = Path(results_dir) / "multirun.yaml"
    return config_correction(OmegaConf.load(path)) if path.exists() else DEFAULT_CORRECTION


def sweep_metric(results_dir: Path) -> str:
    """The `report.metric` a sweep ran with (its multirun.yaml), or accuracy."""
    path = Path(results_dir) / "multirun.yaml"
    return (OmegaConf.select(OmegaConf.load(path), "report.metric") if path.exists() else None) or "accuracy"


def read_overlay(path: str | Path) -> pd.DataFrame:
    ref = pd.read_csv(path)
    missing = {"accuracy_pct", "strategy"} - set(ref.columns)
    if missing:
        raise ValueError(f"overlay {path}: missing column(s) {', '.join(sorted(missing))}")
    return ref


def other_metric_line(df: pd.DataFrame, metric: str) -> str | None:
    """One line on accuracy when the printout and plot are about another metric (report.metric), so
    that a gain in fidelity is never read as a gain in accuracy."""
    if metric == "accuracy" or "vs_baseline" not in df:
        return None
    acc, compared = df["accuracy"].astype(float), df[df["vs_baseline"].isin(["better", "worse", "n.s."])]
    counts = compared["vs_baseline"].value_counts()  # the verdicts follow the adjusted p (paired.py)
    better, worse = int(counts.get("better", 0)), int(counts.get("worse", 0))
    methods = compared["correction"].dropna().unique() if "correction" in compared else []
    after = f"after {CORRECTION_NAMES[methods[0]]}" if len(methods) == 1 and methods[0] != "none" else "without correction"
    return (f"accuracy: {100 * acc.min():.1f}-{100 * acc.max():.1f}% across these configurations; against the baseline {better} better, "
            f"{worse} worse {after} (p < {ALPHA}), {len(compared) - better - worse} not significant")  # fmt: skip


def describe(df: pd.DataFrame, max_listed: int = 10, metric: str = "accuracy") -> str:
    """The baseline, the configurations significantly better or worse than it on `metric`, and the
    Pareto front (by forwards), as a few readable lines; with another metric than accuracy, one more
    line on accuracy."""
    caption = other_metric_line(df, metric)
    df = for_metric(df, metric)
    lines = [f"metric   {METRICS[metric]}"] if metric != "accuracy" else []
    acc = df["accuracy"].astype(float)
    verdicts = df["vs_baseline"] if "vs_baseline" in df else pd.Series(None, index=df.index, dtype=object)
    for i in df.index[verdicts == "baseline"]:
        lines.append(f"baseline {_line(i, df.loc[i])}")
        if not complete(df).at[i]:  # its verdicts stand on fewer problems than the other rows have: say so
            n = int(df.at[i, "n"])
            lines.append(f"baseline #{i} is incomplete ({_of_expected(df.loc[i])} problems): comparisons use the {n} problems it has")
        compared = df[(df["baseline_job"] == df.at[i, "baseline_job"]) & (verdicts != "baseline")]
        if len(compared):
            lines.append(f"paired   vs #{i} {_family_line(compared)}")
    for kind in ("better", "worse"):
        rows = df[verdicts == kind].sort_values(p_order(df))
        lines += [f"{kind:<8} {_line(i, rows.loc[i])}" for i in rows.index[:max_listed]]
        if len(rows) > max_listed:
            lines.append(f"{kind:<8} ... and {len(rows) - max_listed} more (sweep_results.csv, column vs_baseline)")
    lines += _control_lines(df) + _repair_lines(df, verdicts) + _sampling_lines(df)
    ok = acc.notna() & df["mean_forwards"].notna() & ~pruned(df) & complete(df)  # a pruned or incomplete row saw fewer problems
    for i in pareto_front(df.loc[ok, "mean_forwards"].astype(float), acc[ok]):
        lines.append(f"pareto   {_line(i, df.loc[i])}")
    lines += [f"caption  {caption}"] if caption else []
    return "\n".join(lines)


def _family_line(compared: pd.DataFrame) -> str:
    """`on 100 problems, exact McNemar: 3 of 108 significant after Holm (α = 0.05; m·α = 5.4 false
    marks expected without correction; 9 at raw p < 0.05): 2 better, 1 worse, 105 not significant`"""
    counts = compared["vs_baseline"].value_counts()
    n, m = compared["n_paired"], len(compared)
    paired_on = f"{int(n.min())}" if n.min() == n.max() else f"{int(n.min())}-{int(n.max())}"
    method = compared["correction"].iloc[0]
    after = "without correction" if method == "none" else f"after {CORRECTION_NAMES[method]}"
    raw = int((compared["mcnemar_p"] < ALPHA).sum())
    significant = counts.get("better", 0) + counts.get("worse", 0)
    return (f"on {paired_on} problems, exact McNemar: {significant} of {m} significant {after} (α = {ALPHA}; m·α = {m * ALPHA:.1f} "
            f"false marks expected without correction; {raw} at raw p < {ALPHA}): {counts.get('better', 0)} better, "
            f"{counts.get('worse', 0)} worse, {counts.get('n.s.', 0)} not significant")  # fmt: skip


def _control_lines(df: pd.DataFrame) -> list[str]:
    """Each configuration that has a matched random-remask control, against it (t2m.pipeline.control)."""
    if "control_job" not in df:
        return []
    rows = df[df["control_job"].notna()]
    return [f"control  {_line(i, rows.loc[i])}  control: {rows.at[i, 'control_job']}" for i in rows.index]


def _repair_lines(df: pd.DataFrame, verdicts: pd.Series) -> list[str]:
    """The baseline's errors by class, and the configuration that repaired most last-mile errors."""
    if "repaired_last_mile" not in df:
        return []
    lines = []
    compared = df[verdicts.isin(["better", "worse", "n.s."])]
    for i in df.index[verdicts == "baseline"]:
        r = df.loc[i]
        mine = compared[compared["baseline_job"] == r["job"]]
        if not len(mine):
            continue
        first = mine.iloc[0]
        classes = [c.removeprefix("baseline_") for c in REPAIR_COLUMNS if c.startswith("baseline_")]
        counts = {c: int(first[f"baseline_{c}"]) for c in classes}
        n_errors = sum(counts.values())
        spread = ", ".join(f"{v} {c}" + (f" ({100 * v / n_errors:.0f}%)" if n_errors else "") for c, v in counts.items())
        lines.append(f"errors   #{i} (baseline) {n_errors} wrong: {spread}")
        ranked = mine.assign(_lm=mine["repaired_last_mile"], _all=mine["fixed"], _broken=mine["broken"])
        best = ranked.sort_values(["_lm", "_all", "_broken"], ascending=[False, False, True]).iloc[0]
        j = mine.index[mine["job"] == best["job"]][0]
        repaired = ", ".join(f"{int(best[f'repaired_{c}'])}/{counts[c]} {c}" for c in classes)
        broken = sum(int(best[f"broken_{c}"]) for c in classes)
        if int(best["fixed"]) == 0:
            n_breaking = int((mine["broken"] > 0).sum())
            lines.append(f"repair   no configuration ({len(mine)} compared) repairs any of #{i}'s errors; {n_breaking} break "
                         f"some of its correct answers (python -m t2m.report repair)")  # fmt: skip
        else:
            lines.append(f"repair   #{j} repairs most (last-mile first): {repaired}; breaks {broken} (python -m t2m.report repair)")
    return lines


def _sampling_lines(df: pd.DataFrame) -> list[str]:
    """Configurations sampled k > 1 times per problem: pass@1, pass@k, majority vote, diversity."""
    if "pass@k" not in df:
        return []
    lines = []
    for i, r in df[df["pass@k"].notna()].iterrows():
        lines.append(f"sampling #{i:<4}{r['strategy']:<10} k={int(r['samples_per_prompt'])}: pass@1 {100 * r['pass@1']:.1f}%  "
                     f"pass@k {100 * r['pass@k']:.1f}%  majority {100 * r['majority_accuracy']:.1f}%  "
                     f"distinct answers {r['distinct_answers']:.2f}  edit distance {r['edit_distance']:.3f}")  # fmt: skip
    return lines


# ---- reading job directories ---------------------------------------------------------------------


def _job_order(path: Path):
    m = re.match(r"(\d+)", path.name)  # Hydra's job number leads the directory name
    return (str(path.parent), int(m.group(1)) if m else float("inf"), path.name)


def _one_per_configuration(rows: list[dict]) -> list[dict]:
    """Rows of job directories that show the same configuration (fingerprint) on the same problems
    (subset) collapse into one: the most complete, then the most recently written. Rows without a
    fingerprint (older layouts) stay as they are. Order: where each configuration first appears."""
    best: dict = {}
    order: list = []
    for i, row in enumerate(rows):
        # Two matched controls that calibrated to the same tau are one configuration but two controls: kept apart.
        key = (row.get("fingerprint"), row.get("subset"), row.get("control_for")) if row.get("fingerprint") else ("row", i)
        rank = (bool(row.get("complete")), row.get("n") or 0, row.get("_written", 0))
        if key not in best:
            order.append(key)
            best[key] = (rank, row)
        elif rank > best[key][0]:
            best[key] = (rank, row)
    return [{k: v for k, v in best[key][1].items() if k != "_written"} for key in order]


def title(df: pd.DataFrame) -> str:
    def one(col):
        vals = df[col].dropna().unique() if col in df else []
        return ", ".join(map(str, vals)) if len(vals) else None

    n = int(df["n"].max()) if "n" in df else 0
    parts = [one("experiment"), one("model"), one("dataset"), f"{len(df)} configurations, n = {n} per configuration"]
    return " · ".join(p for p in parts if p)


def _line(i, r) -> str:
    c_max = r["c_max"]
    c_max = "None" if pd.isna(c_max) else int(c_max) if isinstance(c_max, float) and c_max.is_integer() else c_max  # a column with nulls is float
    knobs = f"#{i:<4}{r['strategy']:<10}" + (f" tau={r['tau']}" if edits(r) else "") + (f" c_max={c_max} rho_max={r['rho_max']}" if remasks(r) else "") + setting(r)
    ci = f"[{100 * r['accuracy_ci95_low']:.1f}, {100 * r['accuracy_ci95_high']:.1f}]" if "accuracy_ci95_low" in r else ""
    line = f"{knobs:<50} {str(r.get('_metric') or 'accuracy')[:3]} {100 * r['accuracy']:5.1f}% {ci:<13} mods {r['mean_modifications']:6.2f}  fwd {r['mean_forwards']:7.2f}"
    if isinstance(r.get("vs_baseline"), str) and r["vs_baseline"] != "baseline":
        line += f"  {comparison(r)}"
    if r.get("trial_state") == "pruned":
        line += f"  (pruned trial, {int(r['n'])} problems)"
    elif r.get("complete") is False or r.get("complete") == False:  # numpy bools too
        line += f"  (incomplete: {_of_expected(r)} problems)"
    return line


def complete(df: pd.DataFrame) -> pd.Series:
    """Rows that hold every problem (a table without the column: all of them)."""
    return df["complete"].fillna(True).astype(bool) if "complete" in df else pd.Series(True, index=df.index)


def _of_expected(r) -> str:
    expected = r.get("n_expected")
    return f"{int(r['n'])}/{int(expected)}" if expected is not None and not pd.isna(expected) else f"{int(r['n'])}"


def newest_sweep(root: Path, how: str = "run one (python -m t2m.sweep -m sweep=quick)") -> Path:
    """The sweep directory under `root` whose multirun.yaml was written last (the notebooks' default)."""
    sweeps = sorted(Path(root).glob("*/*/multirun.yaml"), key=lambda p: p.stat().st_mtime)
    if not sweeps:
        raise FileNotFoundError(f"no sweep under {root}; {how} or set RESULTS_DIR")
    return sweeps[-1].parent

