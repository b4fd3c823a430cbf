"""Sweep outputs: one table of every configuration, paired statistics and the cost-versus-accuracy plot.

    python -m t2m.report RESULTS_DIR [--overlay CSV] [--baseline SPEC]
    python -m t2m.report diff BEFORE AFTER [--out CSV] [--all]

The first rebuilds, from the job directories under RESULTS_DIR (any depth), at any time (also while
a sweep runs, or after it was killed):

    sweep_results.csv / .parquet   one row per configuration, with its paired comparison to the
                                   baseline (t2m.pipeline.paired; the same goes into each summary.json).
                                   Job directories that show the same configuration (fingerprint) and
                                   problems, e.g. after a re-run with the values in another order, are
                                   one row (the most complete, then the newest)
    cost_vs_accuracy.png           accuracy against modifications per sample and against forward
                                   passes per sample (t2m.pipeline.plot)

`--baseline` picks the configuration to compare with, in the syntax of the sweep's `baseline=` key
(t2m.pipeline.baseline); without it, the sweep's own `baseline` (multirun.yaml), else the T2T run.
`--overlay` draws published points (columns accuracy_pct, avg_modifications_per_sample,
avg_forwards_per_sample, strategy), e.g. ../shared/reference/paper_ablation_cmath100.csv, as hollow
markers. The multirun callback (t2m.pipeline.callbacks) runs the same code when a sweep ends.

`diff` lists, problem by problem, what changed from one job directory to another (fixed, broken,
other answers), as a CSV (default: BEFORE_vs_AFTER.csv in the current directory) and a summary.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from t2m.analysis.metrics import summarize
from t2m.analysis.stats import ALPHA
from t2m.pipeline import baseline as baselines
from t2m.pipeline.jobdir import CONFIG, POINTER, SUMMARY, job_records, pointed_records, read_pointer
from t2m.pipeline.paired import COLUMNS as PAIRED_COLUMNS
from t2m.pipeline.paired import add_paired, write_into_summaries
from t2m.pipeline.plot import comparison, edits, pareto_front, remasks
from t2m.pipeline.plot import png as plot
from t2m.pipeline.store import SAMPLES, read_jsonl, write_atomically

log = logging.getLogger(__name__)

TABLE_CSV, TABLE_PARQUET, PLOT_PNG = "sweep_results.csv", "sweep_results.parquet", "cost_vs_accuracy.png"
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


def build(results_dir: Path, overlay: str | Path | None = None, baseline=None) -> tuple[pd.DataFrame, Path | None]:
    """Write the table (CSV, Parquet), the paired statistics (also into each summary.json) and the
    plot into `results_dir`; return the table and plot path. `baseline` is a `baseline=` config value
    (None: the default). A `baseline` that is invalid or names nothing raises BaselineError before
    anything is written."""
    results_dir = Path(results_dir)
    spec = baselines.parse(baseline)
    df = collect(results_dir)
    if df.empty:
        log.warning("no configurations under %s (no %s or %s found)", results_dir, SUMMARY, SAMPLES)
        return df, None
    try:
        df, warnings = add_paired(df, results_dir, spec)
    except baselines.BaselineError as e:
        if baseline is not None:
            raise
        log.info("No baseline in %s (%s): paired statistics left out; set one with baseline=...", results_dir, e)
        df, warnings = add_paired(df, results_dir, None)
    df = _ordered(df)
    for line in warnings:
        log.warning(line)
    write_into_summaries(df, results_dir, spec)
    # Each file is replaced atomically: a kill while the report is written leaves the previous table
    # and plot (or none), never a torn one; running the report again completes it.
    write_atomically(results_dir / TABLE_CSV, lambda tmp: df.to_csv(tmp, index=False))
    write_atomically(results_dir / TABLE_PARQUET, lambda tmp: df.to_parquet(tmp, index=False))
    ref = read_overlay(overlay) if overlay else None
    write_atomically(results_dir / PLOT_PNG, lambda tmp: plot(df, tmp, ref, title=_title(df)))
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
    ok = acc.notna() & df["mean_forwards"].notna()
    for i in pareto_front(df.loc[ok, "mean_forwards"].astype(float), acc[ok]):
        lines.append(f"pareto   {_line(i, df.loc[i])}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["diff"]:
        return diff_main(argv[1:])
    ap = argparse.ArgumentParser(prog="python -m t2m.report", description="Rebuild a sweep's table, paired statistics and plot. "
                                 "(`python -m t2m.report diff BEFORE AFTER`: what changed, problem by problem.)")  # fmt: skip
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
    print(f"{len(shown)} rows -> {out}")
    return 0


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
    row.update(experiment=cfg.get("experiment"), model=model, dataset=(cfg.get("dataset") or {}).get("name"))
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


def _title(df: pd.DataFrame) -> str:
    def one(col):
        vals = df[col].dropna().unique() if col in df else []
        return ", ".join(map(str, vals)) if len(vals) else None

    n = int(df["n"].max()) if "n" in df else 0
    parts = [one("experiment"), one("model"), one("dataset"), f"{len(df)} configurations, n = {n} per configuration"]
    return " · ".join(p for p in parts if p)


def _line(i, r) -> str:
    c_max = r["c_max"]
    c_max = int(c_max) if isinstance(c_max, float) and c_max.is_integer() else c_max  # a column with nulls is float
    knobs = f"#{i:<4}{r['strategy']:<10}" + (f" tau={r['tau']}" if edits(r) else "") + (f" c_max={c_max} rho_max={r['rho_max']}" if remasks(r) else "")
    ci = f"[{100 * r['accuracy_ci95_low']:.1f}, {100 * r['accuracy_ci95_high']:.1f}]" if "accuracy_ci95_low" in r else ""
    line = f"{knobs:<50} acc {100 * r['accuracy']:5.1f}% {ci:<13} mods {r['mean_modifications']:6.2f}  fwd {r['mean_forwards']:7.2f}"
    if isinstance(r.get("vs_baseline"), str) and r["vs_baseline"] != "baseline":
        line += f"  {comparison(r)}"
    return line


if __name__ == "__main__":
    sys.exit(main())
