"""Paired statistics for a table of configurations: each row against its baseline.

    add_paired(table, results_dir, spec, correction)  ->  (table with the columns below, warning lines)
    write_into_summaries(table, results_dir)

Columns (empty where a row has no baseline): `vs_baseline` ("baseline" for the baseline itself, else
"better" / "worse" where the adjusted p is below 0.05, or "n.s."), `delta_accuracy` with `delta_ci95_low` /
`delta_ci95_high` (paired bootstrap), `mcnemar_p` (the exact McNemar test's raw p), `p_adjusted` (that p
adjusted over the row's family: every row compared with the same baseline in this table), `correction`
(`stats.correction`: holm, bh or none) and `family_size`, `fixed`, `broken`, `n_paired` (the problems both
hold) and `baseline_job`, and the corruption-and-repair counts per error class (`t2m.analysis.repair`:
`baseline_<class>`, `repaired_<class>`, `broken_<class>` for last_mile, reasoning, no_answer). The statistics are `t2m.analysis.stats.compare`; which row is whose
baseline is `t2m.pipeline.report.baseline`. The same dict goes into each configuration's summary.json as
`paired`: the baseline may finish after the configuration, so it is written when the sweep's table is.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from t2m.analysis import repair, stats
from t2m.pipeline.report import baseline as baselines
from t2m.pipeline.store.jobdir import SUMMARY, job_records, job_row
from t2m.pipeline.store.entries import SAMPLES, atomic_write_json

log = logging.getLogger(__name__)

COLUMNS = ["vs_baseline", "delta_accuracy", "delta_ci95_low", "delta_ci95_high", "mcnemar_p", "p_adjusted", "correction", "family_size",
           "fixed", "broken", "n_paired", "baseline_job", *repair.COLUMNS]  # fmt: skip


def add_paired(table: pd.DataFrame, results_dir: Path, spec: dict | str | None,
               correction: str = stats.DEFAULT_CORRECTION) -> tuple[pd.DataFrame, list[str]]:  # fmt: skip
    """`table` (from report.collect) with the paired columns, compared as `spec` says (baseline.parse),
    each family's p adjusted as `correction` says (stats.adjust). A job-directory `spec` outside
    `results_dir` joins the table as one more row. Raises BaselineError when `spec` names nothing in
    the table."""
    results_dir = Path(results_dir)
    table = table.copy()
    for col in COLUMNS:
        table[col] = None
    if spec is None or table.empty:
        return table, []
    rows = [_plain_row(r) for r in table.to_dict("records")]
    if isinstance(spec, str):
        table, rows, base_of, warnings = _by_job(table, rows, results_dir, spec)
    else:
        base_of, warnings = baselines.assign(rows, spec)
    records, outcomes = {}, {}
    for i, b in enumerate(base_of):
        if b is None:
            continue
        for j in (i, b):
            if j not in outcomes:
                records[j] = job_records(_job_path(results_dir, rows[j]["job"]))
                outcomes[j] = stats.outcomes(records[j])
        result = stats.compare(outcomes[i], outcomes[b])
        values = {
            "vs_baseline": "baseline" if i == b else None,  # a verdict once the whole family is known (_adjust)
            "delta_accuracy": result.delta,
            "delta_ci95_low": result.delta_ci95[0],
            "delta_ci95_high": result.delta_ci95[1],
            "mcnemar_p": result.p_value,
            "fixed": result.fixed,
            "broken": result.broken,
            "n_paired": result.n,
            "baseline_job": rows[b]["job"],
            **repair.repair_columns(records[b], records[i]),
        }
        for col, v in values.items():
            table.at[table.index[i], col] = v
    return _adjust(_typed(table), correction), warnings


def _adjust(table: pd.DataFrame, correction: str) -> pd.DataFrame:
    """Each family, the rows compared with one baseline, gets its p adjusted over the family and its
    verdicts from that p: with 108 configurations tested at 0.05, raw p would mark about 5 by chance."""
    compared = table["baseline_job"].notna() & table["vs_baseline"].ne("baseline")
    for _, family in table[compared].groupby("baseline_job", sort=False):
        for i, p in zip(family.index, stats.adjust(family["mcnemar_p"], correction)):
            table.at[i, "p_adjusted"], table.at[i, "correction"], table.at[i, "family_size"] = p, correction, len(family)
            table.at[i, "vs_baseline"] = stats.verdict(table.at[i, "delta_accuracy"], p)
    return table


def write_into_summaries(table: pd.DataFrame, results_dir: Path, spec: dict | str | None) -> int:
    """Put each row's paired statistics into its summary.json (atomically); returns how many changed."""
    changed = 0
    for _, row in table.iterrows():
        path = _job_path(results_dir, row["job"]) / SUMMARY
        if not path.exists():
            continue  # still running or killed: its summary comes when it finishes, the next report adds this
        try:
            summary = json.loads(path.read_text())
        except ValueError:
            continue
        paired = _summary_entry(row, spec)
        if summary.get("paired") != paired:
            summary["paired"] = paired
            atomic_write_json(path, summary)
            changed += 1
    return changed


def _summary_entry(row, spec) -> dict | None:
    if pd.isna(row.get("vs_baseline")):
        return None
    return {
        "baseline": row["baseline_job"],
        "baseline_selector": baselines.describe(spec),
        "vs_baseline": row["vs_baseline"],
        "n": int(row["n_paired"]),
        "fixed": int(row["fixed"]),
        "broken": int(row["broken"]),
        "delta_accuracy": float(row["delta_accuracy"]),
        "delta_accuracy_ci95": [float(row["delta_ci95_low"]), float(row["delta_ci95_high"])],
        "mcnemar_p": float(row["mcnemar_p"]),
        "p_adjusted": None if pd.isna(row["p_adjusted"]) else float(row["p_adjusted"]),
        "correction": row["correction"] if isinstance(row["correction"], str) else None,  # the family: the configurations compared with this baseline in this report
        "family_size": None if pd.isna(row["family_size"]) else int(row["family_size"]),
        "alpha": stats.ALPHA,
        "repair": {col: int(row[col]) for col in repair.COLUMNS if not pd.isna(row.get(col))},
    }


def _by_job(table, rows, results_dir: Path, job: str):
    """Every row against one job directory: a row of the table, or a directory elsewhere (added)."""
    b = baselines.job_index(rows, job)
    if b is None:
        external = Path(job).expanduser()
        if not (external / SAMPLES).exists():
            raise baselines.BaselineError(f"baseline={job!r} is neither a job directory under {results_dir} nor a directory holding {SAMPLES}")
        row = job_row(external)
        row["job"] = str(external.resolve())
        table = pd.concat([table, pd.DataFrame([row])], ignore_index=True)
        rows = rows + [_plain_row(row)]
        b = len(rows) - 1
    ctx = {k: baselines.context_value(rows[b], k) for k in baselines.CONTEXT_KEYS}
    base_of = [b if all(baselines.context_value(r, k) == v for k, v in ctx.items()) else None for r in rows]
    skipped = base_of.count(None)
    warnings = [f"baseline={job}: {skipped} configurations of another model or dataset are not compared"] if skipped else []
    return table, rows, base_of, warnings


def _job_path(results_dir: Path, job: str) -> Path:
    p = Path(job)
    return p if p.is_absolute() else Path(results_dir) / p


def _plain_row(row: dict) -> dict:
    return {k: (None if isinstance(v, float) and pd.isna(v) else v) for k, v in row.items()}


def _typed(table: pd.DataFrame) -> pd.DataFrame:
    for col in ("delta_accuracy", "delta_ci95_low", "delta_ci95_high", "mcnemar_p", "p_adjusted"):
        table[col] = pd.to_numeric(table[col], errors="coerce")
    for col in ("fixed", "broken", "n_paired", "family_size", *repair.COLUMNS):
        table[col] = pd.to_numeric(table[col], errors="coerce").astype("Int64")
    return table
