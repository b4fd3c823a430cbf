"""Sweep outputs: one table of every configuration, paired statistics and the cost-versus-accuracy plot.

    python -m t2m.report RESULTS_DIR [--overlay CSV] [--baseline SPEC]
    python -m t2m.report diff BEFORE AFTER [--out CSV] [--all]
    python -m t2m.report repair RESULTS_DIR [--baseline SPEC]
    python -m t2m.report trajectory JOB_DIR --id ID [--vs JOB_DIR] [--sample J] [--out PNG]

The first rebuilds, from the job directories under RESULTS_DIR (any depth), at any time (also while
a sweep runs, or after it was killed):

    sweep_results.csv / .parquet   one row per configuration, with its paired comparison to the
                                   baseline (t2m.pipeline.paired; the same goes into each summary.json).
                                   Job directories that show the same configuration (fingerprint) and
                                   problems, e.g. after a re-run with the values in another order, are
                                   one row (the most complete, then the newest)
    cost_vs_accuracy.png           accuracy against modifications per sample and against forward
                                   passes per sample (t2m.pipeline.plot)
    repair_table.csv               per configuration and error class: the baseline's errors, how many
                                   it repaired and how many correct answers it broke (t2m.analysis.repair)

`--baseline` picks the configuration to compare with, in the syntax of the sweep's `baseline=` key
(t2m.pipeline.baseline); without it, the sweep's own `baseline` (multirun.yaml), else the T2T run.
`--overlay` draws published points (columns accuracy_pct, avg_modifications_per_sample,
avg_forwards_per_sample, strategy), e.g. ../shared/reference/paper_ablation_cmath100.csv, as hollow
markers. The multirun callback (t2m.pipeline.callbacks) runs the same code when a sweep ends.

`repair` prints that table (the paper's Table 2) for every configuration compared with a baseline;
`trajectory` draws a stored trajectory (t2m.pipeline.trajectory), or two side by side with `--vs`.
`diff` lists, problem by problem, what changed from one job directory to another (fixed, broken,
other answers), as a CSV (default: BEFORE_vs_AFTER.csv in the current directory) and a summary.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import textwrap
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from t2m.analysis.metrics import summarize
from t2m.analysis.repair import COLUMNS as REPAIR_COLUMNS
from t2m.analysis.repair import long_table
from t2m.analysis.stats import ALPHA
from t2m.pipeline import baseline as baselines
from t2m.pipeline.jobdir import CONFIG, POINTER, SUMMARY, job_records, pointed_records, read_pointer
from t2m.pipeline.paired import COLUMNS as PAIRED_COLUMNS
from t2m.pipeline.paired import add_paired, write_into_summaries
from t2m.pipeline.plot import comparison, edits, pareto_front, pruned, remasks, setting
from t2m.pipeline.plot import png as plot
from t2m.pipeline.store import SAMPLES, read_jsonl, write_atomically

log = logging.getLogger(__name__)

TABLE_CSV, TABLE_PARQUET, PLOT_PNG, REPAIR_CSV = "sweep_results.csv", "sweep_results.parquet", "cost_vs_accuracy.png", "repair_table.csv"
LEAD_COLUMNS = [
    "job", "strategy", "tau", "c_max", "rho_max", "accuracy", "accuracy_ci95_low", "accuracy_ci95_high", *PAIRED_COLUMNS,
    "strict_accuracy", "n", "complete", "mean_modifications", "mean_forwards", "mean_output_tokens",
    "tokens_per_s", "wall_time_s",
]  # fmt: skip
_SKIP_DIRS = {"stale", "wandb", ".hydra", ".submitit"}


def collect(results_dir: Path) -> pd.DataFrame:
    """One row per configuration found under `results_dir`."""
    results_dir = Path(results_dir)
    rows = []
    for job in sorted(_job_dirs(results_dir), key=_job_order):
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


def table(results_dir: Path, baseline=None) -> tuple[pd.DataFrame, dict | str | None, list[str]]:
    """The sweep table with its paired statistics, written nowhere: (table, baseline spec, warning
    lines). Raises BaselineError for a `baseline` that is invalid or, when set, names nothing."""
    results_dir = Path(results_dir)
    spec = baselines.parse(baseline)
    df = collect(results_dir)
    if df.empty:
        return df, spec, []
    try:
        df, warnings = add_paired(df, results_dir, spec)
    except baselines.BaselineError as e:
        if baseline is not None:
            raise
        log.info("No baseline in %s (%s): paired statistics left out; set one with baseline=...", results_dir, e)
        df, warnings = add_paired(df, results_dir, None)
    return _ordered(df), spec, warnings


def build(results_dir: Path, overlay: str | Path | None = None, baseline=None) -> tuple[pd.DataFrame, Path | None]:
    """Write the table (CSV, Parquet), the paired statistics (also into each summary.json), the
    repair table and the plot into `results_dir`; return the table and plot path. `baseline` is a
    `baseline=` config value (None: the default). A `baseline` that is invalid or names nothing
    raises BaselineError before anything is written."""
    results_dir = Path(results_dir)
    df, spec, warnings = table(results_dir, baseline)
    if df.empty:
        log.warning("no configurations under %s (no %s or %s found)", results_dir, SUMMARY, SAMPLES)
        return df, None
    for line in warnings:
        log.warning(line)
    write_into_summaries(df, results_dir, spec)
    # Each file is replaced atomically: a kill while the report is written leaves the previous table
    # and plot (or none), never a torn one; running the report again completes it.
    write_atomically(results_dir / TABLE_CSV, lambda tmp: df.to_csv(tmp, index=False))
    write_atomically(results_dir / TABLE_PARQUET, lambda tmp: df.to_parquet(tmp, index=False))
    write_atomically(results_dir / REPAIR_CSV, lambda tmp: long_table(df).to_csv(tmp, index=False))
    ref = read_overlay(overlay) if overlay else None
    write_atomically(results_dir / PLOT_PNG, lambda tmp: plot(df, tmp, ref, title=title(df)))
    return df, results_dir / PLOT_PNG


def sweep_baseline(results_dir: Path):
    """The `baseline` value a sweep ran with (its multirun.yaml), or None (the default)."""
    path = Path(results_dir) / "multirun.yaml"
    if not path.exists():
        return None
    return OmegaConf.load(path).get("baseline")


def read_overlay(path: str | Path) -> pd.DataFrame:
    ref = pd.read_csv(path)
    missing = {"accuracy_pct", "strategy"} - set(ref.columns)
    if missing:
        raise ValueError(f"overlay {path}: missing column(s) {', '.join(sorted(missing))}")
    return ref


def describe(df: pd.DataFrame, max_listed: int = 10) -> str:
    """The baseline, the configurations significantly better or worse than it, and the Pareto front
    (by forwards), as a few readable lines."""
    lines = []
    acc = df["accuracy"].astype(float)
    verdicts = df["vs_baseline"] if "vs_baseline" in df else pd.Series(None, index=df.index, dtype=object)
    for i in df.index[verdicts == "baseline"]:
        lines.append(f"baseline {_line(i, df.loc[i])}")
        compared = df[(df["baseline_job"] == df.at[i, "baseline_job"]) & (verdicts != "baseline")]
        if len(compared):
            counts = compared["vs_baseline"].value_counts()
            n = compared["n_paired"]
            paired_on = f"{int(n.min())}" if n.min() == n.max() else f"{int(n.min())}-{int(n.max())}"
            lines.append(f"paired   vs #{i} on {paired_on} problems (exact McNemar p < {ALPHA}): {counts.get('better', 0)} better, "
                         f"{counts.get('worse', 0)} worse, {counts.get('n.s.', 0)} not significant")  # fmt: skip
    for kind in ("better", "worse"):
        rows = df[verdicts == kind].sort_values("mcnemar_p")
        lines += [f"{kind:<8} {_line(i, rows.loc[i])}" for i in rows.index[:max_listed]]
        if len(rows) > max_listed:
            lines.append(f"{kind:<8} ... and {len(rows) - max_listed} more (sweep_results.csv, column vs_baseline)")
    lines += _repair_lines(df, verdicts) + _sampling_lines(df)
    ok = acc.notna() & df["mean_forwards"].notna() & ~pruned(df)  # a pruned trial saw fewer problems
    for i in pareto_front(df.loc[ok, "mean_forwards"].astype(float), acc[ok]):
        lines.append(f"pareto   {_line(i, df.loc[i])}")
    return "\n".join(lines)


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


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["diff"]:
        return diff_main(argv[1:])
    if argv[:1] == ["repair"]:
        return repair_main(argv[1:])
    if argv[:1] == ["trajectory"]:
        return trajectory_main(argv[1:])
    ap = argparse.ArgumentParser(prog="python -m t2m.report", usage=usage(), description="Rebuild a sweep's table, paired statistics and plot. "
                                 "(`python -m t2m.report diff BEFORE AFTER`: what changed, problem by problem; `repair DIR`: repaired and "
                                 "broken per error class; `trajectory JOB --id ID`: draw a stored trajectory.)")  # fmt: skip
    ap.add_argument("results_dir", type=Path, help="a sweep directory (or any directory holding job directories)")
    ap.add_argument("--overlay", type=Path, default=None, help="CSV of published points to draw as hollow markers")
    ap.add_argument("--baseline", default=None, help="the configuration to compare with, as in baseline=: {strategy:t2t,tau:0.5}, "
                    "a job directory, or none (default: the sweep's own baseline, else the T2T run)")  # fmt: skip
    args = ap.parse_args(argv)
    if not args.results_dir.is_dir():
        return _usage_error(f"results_dir={str(args.results_dir)!r} is not a directory")
    if args.overlay is not None and not args.overlay.is_file():
        return _usage_error(f"--overlay={str(args.overlay)!r} does not exist; allowed: a CSV file")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    load_job_plugins(args.results_dir)
    try:
        value = baselines.parse_cli(args.baseline) if args.baseline is not None else sweep_baseline(args.results_dir)
        df, png = build(args.results_dir, args.overlay, baseline=value)
    except baselines.BaselineError as e:
        return _usage_error(str(e))
    if df.empty:
        return 1
    print(describe(df))
    print(f"{len(df)} configurations -> {args.results_dir / TABLE_CSV}, {args.results_dir / TABLE_PARQUET}, {png}")
    return 0


def usage() -> str:
    """The usage of all four commands (the table and plot, diff, repair, trajectory), from this module's
    docstring, for `python -m t2m.report --help` and its errors."""
    lines = [line.strip() for line in (__doc__ or "").splitlines() if line.strip().startswith("python -m t2m.report")]
    return "\n       ".join(lines)


def load_job_plugins(results_dir: Path) -> None:
    """Import the policy modules the jobs under `results_dir` ran with (their `plugins`), so that the
    report knows their strategies as the sweep did; one that cannot be imported from here is named in
    a warning, and its rows are still shown."""
    from t2m.decoding.registry import load_plugins

    modules = set()
    for config in Path(results_dir).rglob(CONFIG):
        if not _SKIP_DIRS.intersection(config.relative_to(results_dir).parts[:-1]):
            modules.update(OmegaConf.load(config).get("plugins") or [])
    for module in sorted(modules):
        try:
            load_plugins([module], search_dir=str(Path.cwd()))
        except ValueError as e:
            log.warning("%s", e)


def diff_main(argv: list[str]) -> int:
    """`python -m t2m.report diff BEFORE AFTER`: the per-problem diff of two job directories."""
    from t2m.analysis.diff import CHANGES, sample_diff
    from t2m.analysis.repair import format_table, repair_table, transitions
    from t2m.analysis.stats import compare, outcomes

    ap = argparse.ArgumentParser(prog="python -m t2m.report diff", description="What changed, problem by problem, from one "
                                 "configuration (BEFORE, e.g. the baseline) to another (AFTER).")  # fmt: skip
    ap.add_argument("before", type=Path, help="job directory (holding samples.jsonl), e.g. the T2T baseline's")
    ap.add_argument("after", type=Path, help="job directory to compare with it")
    ap.add_argument("--out", type=Path, default=None, help="CSV to write (default: BEFORE_vs_AFTER.csv here)")
    ap.add_argument("--all", action="store_true", help="every problem both hold, not only those whose generation changed")
    args = ap.parse_args(argv)
    for name in ("before", "after"):
        if not (getattr(args, name) / SAMPLES).is_file():
            return _usage_error(f"{name}={str(getattr(args, name))!r} holds no {SAMPLES}; allowed: a job directory")
    before, after = job_records(args.before), job_records(args.after)
    table = sample_diff(before, after)
    shown = table if args.all else table[table["change"] != "unchanged"]
    out = args.out or Path(f"{args.before.resolve().name}_vs_{args.after.resolve().name}.csv")
    shown.to_csv(out, index=False)
    result = compare(outcomes(after), outcomes(before))
    counts = table["change"].value_counts()
    print(f"{args.before} -> {args.after}: {result.n} problems in both")
    print("  " + ", ".join(f"{counts.get(c, 0)} {c.replace('_', ' ')}" for c in CHANGES))
    if result.n:
        print(f"  accuracy {100 * result.baseline_accuracy:.1f}% -> {100 * result.accuracy:.1f}%: Δ {100 * result.delta:+.1f} pp "
              f"[{100 * result.delta_ci95[0]:+.1f}, {100 * result.delta_ci95[1]:+.1f}] (95% paired bootstrap), exact McNemar p = {result.p_value:.3g}")  # fmt: skip
    for kind in ("fixed", "broken"):
        for _, r in table[table["change"] == kind].head(5).iterrows():
            print(f"  {kind:<6} {r['id']}: gold {r['gold']}, answer {r['before_answer']} -> {r['after_answer']}")
    print(textwrap.indent(format_table(repair_table(before, after)), "  "))
    print(textwrap.indent("from class (rows) to class (columns):\n" + transitions(before, after).to_string(), "  "))
    print(f"{len(shown)} rows -> {out}")
    return 0


def repair_main(argv: list[str]) -> int:
    """`python -m t2m.report repair RESULTS_DIR`: Table 2 (repaired / broken per error class) for every configuration."""
    from t2m.analysis.repair import format_table

    ap = argparse.ArgumentParser(prog="python -m t2m.report repair", description="Per error class (last-mile corruption, reasoning, "
                                 "no answer): how many of the baseline's errors each configuration repaired, and how many correct answers it broke.")  # fmt: skip
    ap.add_argument("results_dir", type=Path, help="a sweep directory")
    ap.add_argument("--baseline", default=None, help="the configuration to compare with, as in baseline= (default: the sweep's own)")
    args = ap.parse_args(argv)
    if not args.results_dir.is_dir():
        return _usage_error(f"results_dir={str(args.results_dir)!r} is not a directory")
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        value = baselines.parse_cli(args.baseline) if args.baseline is not None else sweep_baseline(args.results_dir)
        df, _ = build(args.results_dir, baseline=value)
    except baselines.BaselineError as e:
        return _usage_error(str(e))
    long = long_table(df)
    if long.empty:
        print(f"no configuration under {args.results_dir} was compared with a baseline")
        return 1
    for job, part in long.groupby("job", sort=False):
        r = part.iloc[0]
        print(f"{job} ({r['strategy']} tau={r['tau']}) vs {r['baseline_job']}:")
        print(textwrap.indent(format_table(_with_total(part)), "  "))
    print(f"-> {args.results_dir / REPAIR_CSV}")
    return 0


def _with_total(part: pd.DataFrame) -> pd.DataFrame:
    total = {"class": "total", "baseline_errors": part["baseline_errors"].sum(), "share": 1.0, "repaired": part["repaired"].sum(),
             "broken": part["broken"].sum(), "errors": part["errors"].sum()}  # fmt: skip
    total["repair_rate"] = total["repaired"] / total["baseline_errors"] if total["baseline_errors"] else float("nan")
    return pd.concat([part, pd.DataFrame([total])], ignore_index=True)


def trajectory_main(argv: list[str]) -> int:
    """`python -m t2m.report trajectory JOB_DIR --id ID [--vs JOB_DIR]`: a stored trajectory as a picture."""
    from t2m.pipeline import trajectory

    ap = argparse.ArgumentParser(prog="python -m t2m.report trajectory", description="Draw one problem's decoding trajectory "
                                 "(blocks x steps, tokens coloured by fill / edit / remask), or two configurations side by side.")  # fmt: skip
    ap.add_argument("job_dir", type=Path, help="a job directory run with trajectory=true or trajectory=[ID]")
    ap.add_argument("--id", required=True, help="the problem id")
    ap.add_argument("--vs", type=Path, default=None, help="a second job directory: the same problem side by side")
    ap.add_argument("--sample", type=int, default=0, help="which sample, with samples_per_prompt > 1 (default 0)")
    ap.add_argument("--max-rows", type=int, default=None, help="draw at most this many steps (long generations)")
    ap.add_argument("--out", type=Path, default=None, help="PNG to write (default: trajectory_<id>.png here)")
    args = ap.parse_args(argv)
    shown = []
    for job in [args.job_dir] + ([args.vs] if args.vs is not None else []):
        if not job.is_dir():
            return _usage_error(f"job_dir={str(job)!r} is not a directory")
        try:
            t = trajectory.load(job, args.id, args.sample)
        except LookupError as e:
            return _usage_error(str(e))
        shown.append((_job_label(job), t))
    out = trajectory.picture(shown, args.out or Path(f"trajectory_{args.id}.png"), max_rows=args.max_rows)
    for label, t in shown:
        c = trajectory.counts(t)
        print(f"{label}: {c['fill']} fills, {c['edit']} edits, {c['remask']} remasks over {len(trajectory.grid(t)[0])} steps")
    print(f"-> {out}")
    return 0


def _job_label(job: Path) -> str:
    try:
        s = json.loads((job / SUMMARY).read_text())
    except (OSError, ValueError):
        return job.name
    caps = f" C_max={s.get('c_max')} ρ_max={s.get('rho_max')}" if remasks(s) else ""
    return f"{job.name}: {s.get('strategy')} τ={s.get('tau')}{caps}"


def _usage_error(message: str) -> int:
    print(f"t2m.report: {message}", file=sys.stderr)
    return 2


# ---- reading job directories ---------------------------------------------------------------------


def _job_dirs(root: Path):
    seen = set()
    for name in (SUMMARY, POINTER, SAMPLES):
        for f in root.rglob(name):
            if not _SKIP_DIRS.intersection(f.relative_to(root).parts[:-1]):
                seen.add(f.parent)
    return seen


def _job_order(path: Path):
    m = re.match(r"(\d+)", path.name)  # Hydra's job number leads the directory name
    return (str(path.parent), int(m.group(1)) if m else float("inf"), path.name)


def job_row(job: Path) -> dict | None:
    """The table row of one job directory: its summary, or (running, killed) its samples so far."""
    pointer = read_pointer(job)
    summary_path = job / SUMMARY
    if summary_path.exists():
        try:
            summary = json.loads(summary_path.read_text())
        except ValueError:
            log.warning("%s: unreadable %s; using its samples", job, SUMMARY)
        else:
            # A summary written before the directory was given another configuration's view is stale.
            if pointer is None or summary.get("fingerprint") in (None, pointer.get("fingerprint")):
                return {**_flatten(summary), "_written": summary_path.stat().st_mtime}
    # No summary yet (running, killed): the samples so far, marked incomplete.
    if not (job / CONFIG).exists():
        return None  # not a job directory (a store entry, say)
    if pointer is not None:
        records, expected = pointed_records(job, pointer), len(pointer.get("problems") or [])
    else:  # a job directory from before the store: its own samples file
        records, expected = read_jsonl(job / SAMPLES), None
    if not records:
        return None
    cfg = OmegaConf.to_container(OmegaConf.load(job / CONFIG))
    row = {k: cfg.get(k) for k in baselines.DECODE_KEYS if k in cfg}
    model = (cfg.get("model") or {}).get("name_or_path") or "bundled:tiny-dllm"  # as the task writes it into summary.json
    row.update(experiment=cfg.get("experiment"), model=model, dataset=(cfg.get("dataset") or {}).get("name"),
               samples_per_prompt=cfg.get("samples_per_prompt", 1))  # fmt: skip
    row.update(_flatten(summarize(records, expected)))
    if pointer is not None:
        row.update(fingerprint=pointer.get("fingerprint"), subset=pointer.get("subset"))
    row["complete"] = False if expected is None else row["complete"]
    row["_written"] = (job / CONFIG).stat().st_mtime
    return row


def _one_per_configuration(rows: list[dict]) -> list[dict]:
    """Rows of job directories that show the same configuration (fingerprint) on the same problems
    (subset) collapse into one: the most complete, then the most recently written. Rows without a
    fingerprint (older layouts) stay as they are. Order: where each configuration first appears."""
    best: dict = {}
    order: list = []
    for i, row in enumerate(rows):
        key = (row.get("fingerprint"), row.get("subset")) if row.get("fingerprint") else ("row", i)
        rank = (bool(row.get("complete")), row.get("n") or 0, row.get("_written", 0))
        if key not in best:
            order.append(key)
            best[key] = (rank, row)
        elif rank > best[key][0]:
            best[key] = (rank, row)
    return [{k: v for k, v in best[key][1].items() if k != "_written"} for key in order]


def _flatten(summary: dict) -> dict:
    row = {k: v for k, v in summary.items() if not isinstance(v, (dict, list))}
    for key in ("accuracy_ci95", "strict_accuracy_ci95"):
        if isinstance(summary.get(key), list):
            row[f"{key}_low"], row[f"{key}_high"] = summary[key]
    repro = summary.get("repro") or {}
    for key in ("model", "model_revision", "dataset", "device", "dtype"):
        if key in repro and key not in row:
            row[key] = repro[key]
    return row


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
    line = f"{knobs:<50} acc {100 * r['accuracy']:5.1f}% {ci:<13} mods {r['mean_modifications']:6.2f}  fwd {r['mean_forwards']:7.2f}"
    if isinstance(r.get("vs_baseline"), str) and r["vs_baseline"] != "baseline":
        line += f"  {comparison(r)}"
    if r.get("trial_state") == "pruned":
        line += f"  (pruned trial, {int(r['n'])} problems)"
    return line


def newest_sweep(root: Path, how: str = "run one (python -m t2m.sweep -m sweep=quick)") -> Path:
    """The sweep directory under `root` whose multirun.yaml was written last (the notebooks' default)."""
    sweeps = sorted(Path(root).glob("*/*/multirun.yaml"), key=lambda p: p.stat().st_mtime)
    if not sweeps:
        raise FileNotFoundError(f"no sweep under {root}; {how} or set RESULTS_DIR")
    return sweeps[-1].parent


if __name__ == "__main__":
    sys.exit(main())
