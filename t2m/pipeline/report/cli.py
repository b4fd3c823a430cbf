"""The `python -m t2m.report` command: a sweep's table, plot and paired statistics, and the per-problem
views (diff, repair, trajectory). The work is done in t2m.pipeline.report.table and its neighbours.

    python -m t2m.report RESULTS_DIR [--overlay CSV] [--baseline SPEC] [--correction holm|bh|none] [--metric accuracy|fidelity]
    python -m t2m.report diff BEFORE AFTER [--out CSV] [--all]
    python -m t2m.report repair RESULTS_DIR [--baseline SPEC]
    python -m t2m.report trajectory JOB_DIR --id ID [--vs JOB_DIR] [--sample J] [--out PNG]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import textwrap
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from t2m.analysis.repair import long_table
from t2m.pipeline.report import baseline as baselines
from t2m.pipeline.report.plot import remasks
from t2m.analysis.stats import CORRECTIONS
from t2m.pipeline.report.plot import METRICS
from t2m.pipeline.report.table import REPAIR_CSV, TABLE_CSV, TABLE_PARQUET, build, describe, not_one_sweep, sweep_baseline, sweep_correction, sweep_metric
from t2m.pipeline.store.entries import SAMPLES
from t2m.pipeline.store.jobdir import CONFIG, SKIP_DIRS, SUMMARY, job_records

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["diff"]:
        return diff_main(argv[1:])
    if argv[:1] == ["repair"]:
        return repair_main(argv[1:])
    if argv[:1] == ["trajectory"]:
        return trajectory_main(argv[1:])
    if argv[:1] == ["verify"]:
        return verify_main(argv[1:])
    ap = argparse.ArgumentParser(prog="python -m t2m.report", usage=usage(), description="Rebuild a sweep's table, paired statistics and plot. "
                                 "(`python -m t2m.report diff BEFORE AFTER`: what changed, problem by problem; `repair DIR`: repaired and "
                                 "broken per error class; `trajectory JOB --id ID`: draw a stored trajectory.)")  # fmt: skip
    ap.add_argument("results_dir", type=Path, help="a sweep directory (or any directory holding job directories)")
    ap.add_argument("--overlay", type=Path, default=None, help="CSV of published points to draw as hollow markers")
    ap.add_argument("--baseline", default=None, help="the configuration to compare with, as in baseline=: {strategy:t2t,tau:0.5}, "
                    "a job directory, or none (default: the sweep's own baseline, else the T2T run)")  # fmt: skip
    _correction_option(ap)
    ap.add_argument("--metric", choices=list(METRICS), default=None,
                    help="the plot's y-axis and the printout's verdicts (default: the sweep's report.metric, else accuracy)")
    args = ap.parse_args(argv)
    if not args.results_dir.is_dir():
        return _usage_error(f"results_dir={str(args.results_dir)!r} is not a directory")
    if args.overlay is not None and not args.overlay.is_file():
        return _usage_error(f"--overlay={str(args.overlay)!r} does not exist; allowed: a CSV file")
    if why := not_one_sweep(args.results_dir):
        return _usage_error(why)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    load_job_plugins(args.results_dir)
    try:
        value = baselines.parse_cli(args.baseline) if args.baseline is not None else sweep_baseline(args.results_dir)
        metric = args.metric or sweep_metric(args.results_dir)
        df, png = build(args.results_dir, args.overlay, baseline=value, correction=args.correction or sweep_correction(args.results_dir),
                        metric=metric, into_summaries=False)  # summaries are their runs' own
    except baselines.BaselineError as e:
        return _usage_error(str(e))
    if df.empty:
        return 1
    print(describe(df, metric=metric))
    print(f"{len(df)} configurations -> {args.results_dir / TABLE_CSV}, {args.results_dir / TABLE_PARQUET}, {png}")
    return 0


def usage() -> str:
    """The usage of every subcommand, from this module's docstring, for `python -m t2m.report --help`
    and its errors."""
    lines = [line.strip() for line in (__doc__ or "").splitlines() if line.strip().startswith("python -m t2m.report")]
    return "\n       ".join(lines)


def _correction_option(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--correction", choices=list(CORRECTIONS), default=None, help="p adjusted over the configurations compared with one "
                    "baseline: holm (family-wise), bh (false discovery rate) or none (default: the sweep's stats.correction, else holm)")  # fmt: skip


def load_job_plugins(results_dir: Path) -> None:
    """Import the policy modules the jobs under `results_dir` ran with (their `plugins`), so that the
    report knows their strategies as the sweep did; one that cannot be imported from here is named in
    a warning, and its rows are still shown."""
    from t2m.decoding.registry import load_plugins

    modules = set()
    for config in Path(results_dir).rglob(CONFIG):
        if not SKIP_DIRS.intersection(config.relative_to(results_dir).parts[:-1]):
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
    ap.add_argument("--out", type=Path, default=None, help="CSV to write (default: BEFORE_vs_AFTER.csv beside BEFORE, in its sweep directory)")
    ap.add_argument("--all", action="store_true", help="every problem both hold, not only those whose generation changed")
    args = ap.parse_args(argv)
    for name in ("before", "after"):
        if not (getattr(args, name) / SAMPLES).is_file():
            return _usage_error(f"{name}={str(getattr(args, name))!r} holds no {SAMPLES}; allowed: a job directory")
    before, after = job_records(args.before), job_records(args.after)
    table = sample_diff(before, after)
    shown = table if args.all else table[table["change"] != "unchanged"]
    before_dir = args.before.resolve()  # written beside the runs it compares, never into whatever directory the command ran in
    out = args.out or before_dir.parent / f"{before_dir.name}_vs_{args.after.resolve().name}.csv"
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
    _correction_option(ap)
    args = ap.parse_args(argv)
    if not args.results_dir.is_dir():
        return _usage_error(f"results_dir={str(args.results_dir)!r} is not a directory")
    if why := not_one_sweep(args.results_dir):
        return _usage_error(why)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        value = baselines.parse_cli(args.baseline) if args.baseline is not None else sweep_baseline(args.results_dir)
        df, _ = build(args.results_dir, baseline=value, correction=args.correction or sweep_correction(args.results_dir), into_summaries=False)
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
    from t2m.pipeline.report import trajectory

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


def verify_main(argv: list[str]) -> int:
    """`python -m t2m.report verify RESULTS_DIR|STORE_DIR`: one line per problem of every store entry, then a summary."""
    from t2m.pipeline.store.verify import store_of, verify

    ap = argparse.ArgumentParser(prog="python -m t2m.report verify", description="Check every entry of a result store: key.json "
                                 "matches its fingerprint, records parse and pass their checksums, no problem id twice. Exit 1 if anything is wrong.")  # fmt: skip
    ap.add_argument("path", type=Path, nargs="?", default=Path("results"), help="a results directory (its store/) or a store directory")
    args = ap.parse_args(argv)
    store = store_of(args.path)
    if store is None:
        return _usage_error(f"{str(args.path)!r} is neither a results directory with a store nor a store; allowed: e.g. results or results/store")
    logging.basicConfig(level=logging.ERROR)  # the problems are printed below, once each
    problems, n_entries, n_samples = verify(store)
    for line in problems:
        print(line)
    print(f"{store}: {n_entries} entries, {n_samples} samples counted, {len(problems)} problem(s)")
    return 1 if problems else 0


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


if __name__ == "__main__":
    sys.exit(main())
