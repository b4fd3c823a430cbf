"""Paired statistics for a table of configurations: each row against its baseline.

    add_paired(table, results_dir, spec, correction)  ->  (table with the columns below, warning lines)
    write_into_summaries(table, results_dir)

Columns (empty where a row has no baseline), the same statistics for each outcome (`OUTCOMES`:
accuracy, and answer-line fidelity on the problems where both define it), named by `names`:
`vs_baseline` ("baseline" for the baseline itself, else "better" / "worse" where the adjusted p is
below 0.05, or "n.s."), `delta_accuracy` with `delta_ci95_low` / `delta_ci95_high` (paired
bootstrap), `mcnemar_p` (the exact McNemar test's raw p), `p_adjusted` (that p adjusted over the
row's family: every row compared with the same reference in this table, for one outcome) and
`family_size`, `fixed`, `broken`, `n_paired` (the problems both hold); `correction` says how p was
adjusted (`stats.correction`: holm, bh or none). For fidelity the same prefixed `fidelity_`
(`delta_fidelity`); against a row's matched random-remask control the same prefixed `control_`
(`control_fidelity_mcnemar_p`, with `control_job`). Then `baseline_job`, and the corruption-and-repair
counts per error class (`t2m.analysis.repair`: `baseline_<class>`, `repaired_<class>`,
`broken_<class>` for last_mile, reasoning, no_answer). The statistics are
`t2m.analysis.stats.compare`; which row is whose baseline is `t2m.pipeline.report.baseline`. The same dict goes into each configuration's summary.json as
`paired`: the baseline may finish after the configuration, so it is written when the sweep's table is.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from t2m.analysis import repair, stats
from t2m.analysis.errors import record_faithful
from t2m.pipeline.report import baseline as baselines
from t2m.pipeline.store.jobdir import SUMMARY, job_records, job_row
from t2m.pipeline.store.entries import SAMPLES, atomic_write_json

log = logging.getLogger(__name__)

# The outcomes compared, per problem: accuracy (the stored `correct`) and answer-line fidelity
# (t2m.analysis.errors.faithful; problems where either side's chain computed nothing are left out).
OUTCOMES = {"accuracy": None, "fidelity": record_faithful}
STATS = ("verdict", "delta", "ci_low", "ci_high", "p", "p_adjusted", "family_size", "fixed", "broken", "n")


def names(metric: str = "accuracy", against: str = "baseline") -> dict[str, str]:
    """The column of each statistic of `metric` compared `against` the baseline or the matched control.
    Accuracy against the baseline keeps its historical names (vs_baseline, delta_accuracy, mcnemar_p,
    p_adjusted, family_size, fixed, broken, n_paired); the others are prefixed (fidelity_mcnemar_p,
    control_fidelity_p_adjusted, ...)."""
    pre = "" if metric == "accuracy" else f"{metric}_"
    ctl = "" if against == "baseline" else f"{against}_"
    return {"verdict": f"{pre}vs_{against}", "delta": f"{ctl}delta_{metric}", "ci_low": f"{ctl}{pre}delta_ci95_low",
            "ci_high": f"{ctl}{pre}delta_ci95_high", "p": f"{ctl}{pre}mcnemar_p", "p_adjusted": f"{ctl}{pre}p_adjusted",
            "family_size": f"{ctl}{pre}family_size", "fixed": f"{ctl}{pre}fixed", "broken": f"{ctl}{pre}broken", "n": f"{ctl}{pre}n_paired"}  # fmt: skip


FAMILIES = [(m, a) for a in ("baseline", "control") for m in OUTCOMES]  # per reference job, each is a family of comparisons
PAIRED_STATS = [names(m, a)[k] for m, a in FAMILIES for k in STATS]
COLUMNS = [*PAIRED_STATS, "correction", "baseline_job", "control_job", *repair.COLUMNS]


def add_paired(table: pd.DataFrame, results_dir: Path, spec: dict | str | None,
               correction: str = stats.DEFAULT_CORRECTION) -> tuple[pd.DataFrame, list[str]]:  # fmt: skip
    """`table` (from report.collect) with the paired columns, compared as `spec` says (baseline.parse),
    and each detector row against its matched random-remask control (a row whose `control_for` is its
    fingerprint; t2m.pipeline.control); each family's p adjusted as `correction` says (stats.adjust).
    A job-directory `spec` outside `results_dir` joins the table as one more row. Raises BaselineError
    when `spec` names nothing in the table."""
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
    records = _Records(results_dir, rows)
    for i, b in enumerate(base_of):
        if b is None:
            continue
        values = {"baseline_job": rows[b]["job"], **repair.repair_columns(records[b], records[i])}
        for metric in OUTCOMES:
            values.update(compare_rows(records, i, b, metric, "baseline"))
        if i == b:
            values["vs_baseline"] = values[names("fidelity")["verdict"]] = "baseline"
        _put(table, i, values)
    for i, c in matched_controls(rows):
        values = {"control_job": rows[c]["job"]}
        for metric in OUTCOMES:
            values.update(compare_rows(records, i, c, metric, "control"))
        _put(table, i, values)
    return _adjusted(_typed(table), correction), warnings


def compare_rows(records: "_Records", i: int, b: int, metric: str, against: str) -> dict:
    """Row i against row b on one outcome (`metric`, a key of OUTCOMES): the same statistics
    (exact McNemar, paired bootstrap) whatever the outcome, under that outcome's column names."""
    result = stats.compare(records.outcomes(i, metric), records.outcomes(b, metric))
    col = names(metric, against)
    return {col["verdict"]: result.verdict, col["delta"]: result.delta, col["ci_low"]: result.delta_ci95[0],
            col["ci_high"]: result.delta_ci95[1], col["p"]: result.p_value, col["fixed"]: result.fixed,
            col["broken"]: result.broken, col["n"]: result.n}  # fmt: skip


def matched_controls(rows: list[dict]) -> list[tuple[int, int]]:
    """(detector row, its matched control row): a control row says which configuration it matches by
    that configuration's fingerprint (`control_for`), on the same problems (`subset`)."""
    by_key = {(r.get("fingerprint"), r.get("subset")): i for i, r in enumerate(rows) if r.get("fingerprint")}
    pairs = []
    for c, r in enumerate(rows):
        i = by_key.get((r.get("control_for"), r.get("subset"))) if r.get("control_for") else None
        if i is not None:
            pairs.append((i, c))
    return pairs


class _Records:
    """Each row's sample records and outcomes, read once."""

    def __init__(self, results_dir: Path, rows: list[dict]):
        self.results_dir, self.rows, self._records, self._outcomes = results_dir, rows, {}, {}

    def __getitem__(self, i: int) -> list[dict]:
        if i not in self._records:
            self._records[i] = job_records(_job_path(self.results_dir, self.rows[i]["job"]))
        return self._records[i]

    def outcomes(self, i: int, metric: str) -> dict[str, bool]:
        if (i, metric) not in self._outcomes:
            self._outcomes[i, metric] = stats.outcomes(self[i], value=OUTCOMES[metric])
        return self._outcomes[i, metric]


def _put(table: pd.DataFrame, i: int, values: dict) -> None:
    for col, v in values.items():
        table.at[table.index[i], col] = v


def _adjusted(table: pd.DataFrame, correction: str) -> pd.DataFrame:
    """Each family (one outcome, compared against one kind of reference, over the rows compared with
    the same reference job; the baseline itself is not a comparison) gets its p adjusted over the
    family and its verdicts from that p: with 108 configurations tested at 0.05, raw p would mark
    about 5 by chance."""
    for metric, against in FAMILIES:
        col = names(metric, against)
        ref = "baseline_job" if against == "baseline" else "control_job"
        compared = table[col["p"]].notna() & (table[col["verdict"]] != "baseline")
        groups = table[compared].groupby(ref, sort=False) if against == "baseline" else [(None, table[compared])]
        for _, family in groups:
            for i, p in zip(family.index, stats.adjust(family[col["p"]], correction)):
                table.at[i, col["p_adjusted"]], table.at[i, col["family_size"]] = p, len(family)
                table.at[i, col["verdict"]] = stats.verdict(table.at[i, col["delta"]], p)
                table.at[i, "correction"] = correction
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
        "fidelity": _entry(row, "fidelity", "baseline"),
        "control": None if pd.isna(row.get("control_job")) else
                   {"job": row["control_job"], **{m: _entry(row, m, "control") for m in OUTCOMES}},  # fmt: skip
        "repair": {col: int(row[col]) for col in repair.COLUMNS if not pd.isna(row.get(col))},
    }


def _entry(row, metric: str, against: str) -> dict | None:
    """One comparison's statistics, named plainly (the columns' names without prefixes)."""
    col = names(metric, against)
    if pd.isna(row.get(col["n"])):
        return None
    return {k: (v.item() if hasattr(v, "item") else v) for k in STATS if not pd.isna(v := row.get(col[k]))}


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
    for metric, against in FAMILIES:
        col = names(metric, against)
        for k in ("delta", "ci_low", "ci_high", "p", "p_adjusted"):
            table[col[k]] = pd.to_numeric(table[col[k]], errors="coerce")
        for k in ("fixed", "broken", "n", "family_size"):
            table[col[k]] = pd.to_numeric(table[col[k]], errors="coerce").astype("Int64")
    for col in repair.COLUMNS:
        table[col] = pd.to_numeric(table[col], errors="coerce").astype("Int64")
    return table
