"""Sweep outputs: one table of every configuration and the cost-versus-accuracy plot.

    python -m t2m.report RESULTS_DIR [--overlay CSV]

rebuilds, from the job directories under RESULTS_DIR (any depth), at any time (also while a sweep
runs, or after it was killed):

    sweep_results.csv / .parquet   one row per configuration: job directories that show the same
                                   configuration (fingerprint) and problems, e.g. after a re-run with
                                   the values in another order, are one row (the most complete, then
                                   the newest)
    cost_vs_accuracy.png           accuracy against modifications per sample and against forward
                                   passes per sample; the T2T baseline is a star, the Pareto front
                                   (cheapest configuration for each accuracy level) a dashed line

`--overlay` draws published points (columns accuracy_pct, avg_modifications_per_sample,
avg_forwards_per_sample, strategy), e.g. ../shared/reference/paper_ablation_cmath100.csv, as hollow
markers. The multirun callback (t2m.pipeline.callbacks) runs the same code when a sweep ends.
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
from t2m.pipeline.jobdir import CONFIG, POINTER, SUMMARY, pointed_records, read_pointer
from t2m.pipeline.store import SAMPLES, read_jsonl, write_atomically

log = logging.getLogger(__name__)

TABLE_CSV, TABLE_PARQUET, PLOT_PNG = "sweep_results.csv", "sweep_results.parquet", "cost_vs_accuracy.png"
LEAD_COLUMNS = [
    "job", "strategy", "tau", "c_max", "rho_max", "accuracy", "accuracy_ci95_low", "accuracy_ci95_high",
    "strict_accuracy", "n", "complete", "mean_modifications", "mean_forwards", "mean_output_tokens",
    "tokens_per_s", "wall_time_s",
]  # fmt: skip
COLORS = {"t2t": "black", "lowprob": "tab:blue", "t2t_remask": "tab:orange", "logitdiff": "tab:green", "none": "tab:gray"}
PANELS = (("mean_modifications", "avg_modifications_per_sample", "modifications per sample (T2T edits, T2M remasks)"),
          ("mean_forwards", "avg_forwards_per_sample", "forward passes per sample"))  # fmt: skip
_SKIP_DIRS = {"stale", "wandb", ".hydra", ".submitit"}


def collect(results_dir: Path) -> pd.DataFrame:
    """One row per configuration found under `results_dir`."""
    results_dir = Path(results_dir)
    rows = []
    for job in sorted(_job_dirs(results_dir), key=_job_order):
        row = _row(job)
        if row is not None:
            row["job"] = str(job.relative_to(results_dir)) if job != results_dir else "."
            rows.append(row)
    df = pd.DataFrame(_one_per_configuration(rows))
    if df.empty:
        return df
    lead = [c for c in LEAD_COLUMNS if c in df.columns]
    return df[lead + [c for c in df.columns if c not in lead]].reset_index(drop=True)


def pareto_front(cost: pd.Series, accuracy: pd.Series) -> list[int]:
    """Row labels of the configurations no other beats on both cost (lower) and accuracy (higher),
    ordered by cost."""
    front, best = [], -float("inf")
    for i in sorted(cost.index, key=lambda i: (cost[i], -accuracy[i])):
        if accuracy[i] > best:
            front.append(i)
            best = accuracy[i]
    return front


def plot(df: pd.DataFrame, path: Path, overlay: pd.DataFrame | None = None, title: str | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2), sharey=True)
    acc = 100 * df["accuracy"].astype(float)
    for ax, (col, ref_col, label) in zip(axes, PANELS):
        cost = df[col].astype(float)
        ok = cost.notna() & acc.notna()
        if overlay is not None and ref_col in overlay:
            for strategy, grp in overlay.groupby("strategy"):
                star = strategy == "t2t"
                ax.scatter(grp[ref_col], grp["accuracy_pct"], marker="*" if star else "o", s=220 if star else 30,
                           facecolors="none", edgecolors=COLORS.get(strategy, "tab:purple"), linewidths=1.0, alpha=0.6, zorder=2)  # fmt: skip
        front = pareto_front(cost[ok], acc[ok])
        ax.plot(cost[front], acc[front], ls="--", color="0.45", lw=1.2, drawstyle="steps-post", zorder=3)
        ax.scatter(cost[front], acc[front], s=110, facecolors="none", edgecolors="0.35", linewidths=1.0, zorder=6)  # ring the front's points
        for strategy, grp in df[ok].groupby("strategy", sort=False):
            star = strategy == "t2t"
            ax.scatter(cost[grp.index], acc[grp.index], marker="*" if star else "o", s=300 if star else 36,
                       color=COLORS.get(strategy, "tab:purple"), edgecolors="white" if not star else "gold",
                       linewidths=0.6 if not star else 1.2, alpha=0.9, zorder=5 if star else 4)  # fmt: skip
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy (%)")
    shown = pd.concat([acc, overlay["accuracy_pct"]]) if overlay is not None else acc
    lo, hi = float(shown.min()), float(shown.max())
    pad = max(2.0, 0.08 * (hi - lo))
    axes[0].set_ylim(lo - pad, hi + pad)  # margins so points at 0% or 100% are not cut in half ...
    axes[0].set_yticks([t for t in axes[0].get_yticks() if 0 <= t <= 100])  # ... but no tick outside [0, 100]

    present = [s for s in COLORS if s in set(df["strategy"])] + sorted(set(df["strategy"]) - set(COLORS))
    handles = [Line2D([], [], ls="", marker="*" if s == "t2t" else "o", ms=14 if s == "t2t" else 7,
                      color=COLORS.get(s, "tab:purple"), label="T2T baseline" if s == "t2t" else s) for s in present]  # fmt: skip
    handles.append(Line2D([], [], ls="--", color="0.45", marker="o", mfc="none", mec="0.35", ms=9, label="Pareto front"))
    if overlay is not None:
        handles.append(Line2D([], [], ls="", marker="o", mfc="none", mec="0.3", label="published (hollow)"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False)
    fig.suptitle(title or "cost vs accuracy")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def build(results_dir: Path, overlay: str | Path | None = None) -> tuple[pd.DataFrame, Path | None]:
    """Write the table (CSV, Parquet) and the plot into `results_dir`; return the table and plot path."""
    results_dir = Path(results_dir)
    df = collect(results_dir)
    if df.empty:
        log.warning("no configurations under %s (no %s or %s found)", results_dir, SUMMARY, SAMPLES)
        return df, None
    # Each file is replaced atomically: a kill while the report is written leaves the previous table
    # and plot (or none), never a torn one; running the report again completes it.
    write_atomically(results_dir / TABLE_CSV, lambda tmp: df.to_csv(tmp, index=False))
    write_atomically(results_dir / TABLE_PARQUET, lambda tmp: df.to_parquet(tmp, index=False))
    ref = read_overlay(overlay) if overlay else None
    write_atomically(results_dir / PLOT_PNG, lambda tmp: plot(df, tmp, ref, title=_title(df)))
    return df, results_dir / PLOT_PNG


def read_overlay(path: str | Path) -> pd.DataFrame:
    ref = pd.read_csv(path)
    missing = {"accuracy_pct", "strategy"} - set(ref.columns)
    if missing:
        raise ValueError(f"overlay {path}: missing column(s) {', '.join(sorted(missing))}")
    return ref


def describe(df: pd.DataFrame) -> str:
    """The baseline and the Pareto front (by forwards) as a few readable lines."""
    lines = []
    acc = df["accuracy"].astype(float)
    for i in df.index[df["strategy"] == "t2t"]:
        lines.append("baseline " + _line(df.loc[i]))
    ok = acc.notna() & df["mean_forwards"].notna()
    for i in pareto_front(df.loc[ok, "mean_forwards"].astype(float), acc[ok]):
        lines.append("pareto   " + _line(df.loc[i]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m t2m.report", description="Rebuild a sweep's table and plot.")
    ap.add_argument("results_dir", type=Path, help="a sweep directory (or any directory holding job directories)")
    ap.add_argument("--overlay", type=Path, default=None, help="CSV of published points to draw as hollow markers")
    args = ap.parse_args(argv)
    if not args.results_dir.is_dir():
        print(f"t2m.report: results_dir={str(args.results_dir)!r} is not a directory", file=sys.stderr)
        return 2
    if args.overlay is not None and not args.overlay.is_file():
        print(f"t2m.report: --overlay={str(args.overlay)!r} does not exist; allowed: a CSV file", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    df, png = build(args.results_dir, args.overlay)
    if df.empty:
        return 1
    print(describe(df))
    print(f"{len(df)} configurations -> {args.results_dir / TABLE_CSV}, {args.results_dir / TABLE_PARQUET}, {png}")
    return 0


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


def _row(job: Path) -> dict | None:
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
    row = {k: cfg.get(k) for k in ("strategy", "tau", "c_max", "rho_max", "threshold", "block_length", "gen_length")}
    row.update(experiment=cfg.get("experiment"), dataset=(cfg.get("dataset") or {}).get("name"))
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


def _line(r) -> str:
    c_max = r["c_max"]
    c_max = int(c_max) if isinstance(c_max, float) and c_max.is_integer() else c_max  # a column with nulls is float
    knobs = f"{r['strategy']:<10} tau={r['tau']}" + ("" if r["strategy"] in ("t2t", "none") else f" c_max={c_max} rho_max={r['rho_max']}")
    return f"{knobs:<44} acc {100 * r['accuracy']:5.1f}%  mods {r['mean_modifications']:6.2f}  fwd {r['mean_forwards']:7.2f}"


if __name__ == "__main__":
    sys.exit(main())
