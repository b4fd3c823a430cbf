"""Corruption and repair: which kinds of error a configuration repairs, and which it makes (the
paper's Table 2).

    error_class(record)                     ->  the record's class (t2m.analysis.errors, from its generation)
    class_counts(records)                   ->  {class: count}
    error_counts(records)                   ->  {class, last_value, each corruption form: count}
    repair_table(baseline, records)         ->  DataFrame, one row per error class
    repair_columns(baseline, records)       ->  the same as flat columns for the sweep table
    table2(sweep)                           ->  DataFrame, the paper's Table 2: one row per configuration
    transitions(baseline, records)          ->  baseline class x configuration class, problem counts

Per error class of `t2m.analysis.errors` (last_mile, reasoning, no_answer; and last_value, the
stricter subset of last_mile, which the total leaves out), on the problems both hold:

    baseline_errors   problems the baseline got wrong in this class
    share             baseline_errors / all the baseline's errors (the paper: 79.9% last-mile on CMATH)
    repaired          of those, problems the configuration gets right
    repair_rate       the GROSS repair rate, repaired / baseline_errors (the paper: 92 of 155 last-mile
                      errors, 59.4%)
    broken            problems the baseline got right that the configuration gets wrong in this class
    errors            problems the configuration gets wrong in this class
    net_change        the NET reduction, (baseline_errors - errors) / baseline_errors (the paper: 155 -> 91
                      last-mile errors, 41.3%, which its abstract calls "repairing"): the repaired minus the
                      broken, plus the errors that changed to another class minus those that changed into this one

Summed over the classes, repaired and broken are the `fixed` and `broken` of `t2m.analysis.stats`.
"""

from __future__ import annotations

from typing import Iterable, Mapping

import pandas as pd

from t2m.analysis.errors import ERRORS, FORMS, Analysis, record_analysis

STRICT = "last_value"  # the stricter last-mile rule: a subset of last_mile, reported beside it
ROWS = (*ERRORS, STRICT)
TABLE_COLUMNS = ["class", "baseline_errors", "share", "repaired", "repair_rate", "broken", "errors", "net_change"]
CONFIG_KEYS = ("job", "strategy", "tau", "c_max", "rho_max", "baseline_job")


def error_class(record: Mapping) -> str | None:
    """The class of a stored sample (from its generation; a record without one keeps its stored class)."""
    analysis = record_analysis(record)
    return analysis.cls if analysis else None


def _in(analysis: Analysis | None, cls: str) -> bool:
    """Whether an analysed sample is an error of `cls` (one of ROWS)."""
    if analysis is None:
        return False
    return analysis.cls == "last_mile" and analysis.last_value if cls == STRICT else analysis.cls == cls


def class_counts(records: Iterable[Mapping]) -> dict[str, int]:
    counts = {c: 0 for c in ("correct", *ERRORS)}
    for r in records:
        c = error_class(r)
        if c in counts:
            counts[c] += 1
    return counts


def error_counts(records: Iterable[Mapping]) -> dict[str, int]:
    """Counts of each class, of last_value errors and of each last-mile corruption form."""
    counts = {c: 0 for c in ("correct", *ERRORS, STRICT, *FORMS)}
    for r in records:
        a = record_analysis(r)
        if a is None:
            continue
        counts[a.cls] += 1
        counts[STRICT] += _in(a, STRICT)
        if a.form:
            counts[a.form] += 1
    return counts


def rates(baseline_errors, repaired, errors) -> tuple[float, float]:
    """(gross repair rate, net change) of one class; NaN where the baseline had no error of it."""
    if not baseline_errors or pd.isna(baseline_errors):
        return float("nan"), float("nan")
    return repaired / baseline_errors, (baseline_errors - errors) / baseline_errors


def repair_table(baseline: Iterable[Mapping], records: Iterable[Mapping]) -> pd.DataFrame:
    """One row per error class (and last_value, and a `total` of the classes): what the configuration
    repaired and broke."""
    before = {str(r["id"]): record_analysis(r) for r in baseline}
    after = {str(r["id"]): record_analysis(r) for r in records}
    ids = [i for i in after if i in before]
    n_errors = sum(before[i] is not None and before[i].cls != "correct" for i in ids)
    rows = []
    for cls in ROWS:
        base = [i for i in ids if _in(before[i], cls)]
        row = {
            "class": cls,
            "baseline_errors": len(base),
            "share": len(base) / n_errors if n_errors else float("nan"),
            "repaired": sum(after[i] is not None and after[i].cls == "correct" for i in base),
            "broken": sum(before[i] is not None and before[i].cls == "correct" and _in(after[i], cls) for i in ids),
            "errors": sum(_in(after[i], cls) for i in ids),
        }  # fmt: skip
        rows.append(_with_rates(row))
    total = {k: sum(r[k] for r in rows if r["class"] in ERRORS) for k in ("baseline_errors", "repaired", "broken", "errors")}
    total.update({"class": "total", "share": 1.0 if n_errors else float("nan")})
    return pd.DataFrame(rows + [_with_rates(total)], columns=TABLE_COLUMNS)


def _with_rates(row: dict) -> dict:
    row["repair_rate"], row["net_change"] = rates(row["baseline_errors"], row["repaired"], row["errors"])
    return row


def transitions(baseline: Iterable[Mapping], records: Iterable[Mapping]) -> pd.DataFrame:
    """How many problems went from each class under the baseline (rows) to each class under the
    configuration (columns): repairs are the `correct` column, breaks the `correct` row."""
    before = {str(r["id"]): error_class(r) for r in baseline}
    pairs = [(before[str(r["id"])], error_class(r)) for r in records if str(r["id"]) in before]
    classes = ["correct", *ERRORS]
    table = pd.DataFrame(0, index=pd.Index(classes, name="baseline"), columns=pd.Index(classes, name="configuration"))
    for b, a in pairs:
        if b in classes and a in classes:
            table.at[b, a] += 1
    return table


def repair_columns(baseline: Iterable[Mapping], records: Iterable[Mapping]) -> dict:
    """The sweep table's columns: `baseline_<class>`, `repaired_<class>`, `broken_<class>` and
    `errors_<class>` for each error class, and `errors_last_value`, all on the paired problems."""
    table = repair_table(baseline, records).set_index("class")
    out = {}
    for cls in ERRORS:
        for kind, column in (("baseline", "baseline_errors"), ("repaired", "repaired"), ("broken", "broken"), ("errors", "errors")):
            out[f"{kind}_{cls}"] = int(table.at[cls, column])
    out[f"errors_{STRICT}"] = int(table.at[STRICT, "errors"])
    return out


# Only the disjoint classes have a `baseline_` column: the report reads the classes from them.
COLUMNS = [f"{kind}_{cls}" for cls in ERRORS for kind in ("baseline", "repaired", "broken", "errors")] + [f"errors_{STRICT}"]


def format_table(table: pd.DataFrame) -> str:
    """The table as aligned text (the CLI's output); both rates come from the counts shown."""
    lines = [f"{'class':<10} {'baseline errors':>15} {'share':>6} {'repaired':>8} {'gross repair':>12} {'broken':>6} "
             f"{'errors now':>10} {'net change':>10}"]  # fmt: skip
    for _, r in table.iterrows():
        gross, net = rates(r["baseline_errors"], r["repaired"], r["errors"])
        lines.append(f"{r['class']:<10} {_int(r['baseline_errors']):>15} {_pct(r['share']):>6} {_int(r['repaired']):>8} "
                     f"{_pct(gross):>12} {_int(r['broken']):>6} {_int(r['errors']):>10} {_pct(net):>10}")  # fmt: skip
    return "\n".join(lines)


def _int(v) -> str:
    return "-" if v is None or pd.isna(v) else str(int(v))


def _pct(v) -> str:
    return "-" if v is None or pd.isna(v) else f"{100 * v:.1f}%"


def _compared(sweep: pd.DataFrame, with_baseline: bool = False) -> pd.DataFrame:
    verdicts = ["better", "worse", "n.s."] + (["baseline"] if with_baseline else [])
    return sweep[sweep["vs_baseline"].isin(verdicts)]


def long_table(sweep: pd.DataFrame) -> pd.DataFrame:
    """From a sweep table with the repair columns: one row per (configuration, error class) that was
    compared with a baseline, with share and rates. The sweep's Table 2 by class, for every configuration."""
    if "vs_baseline" not in sweep or f"baseline_{ERRORS[0]}" not in sweep:
        return pd.DataFrame(columns=[*CONFIG_KEYS, *TABLE_COLUMNS])
    rows = []
    for _, r in _compared(sweep).iterrows():
        n_errors = sum(int(r[f"baseline_{c}"]) for c in ERRORS)
        for cls in ERRORS:
            row = {
                **{k: r.get(k) for k in CONFIG_KEYS},
                "class": cls,
                "baseline_errors": int(r[f"baseline_{cls}"]),
                "share": int(r[f"baseline_{cls}"]) / n_errors if n_errors else float("nan"),
                "repaired": int(r[f"repaired_{cls}"]),
                "broken": int(r[f"broken_{cls}"]),
                "errors": r.get(f"errors_{cls}", r.get(f"n_{cls}")),  # older tables: the configuration's own count
            }  # fmt: skip
            rows.append(_with_rates(row))
    return pd.DataFrame(rows, columns=[*CONFIG_KEYS, *TABLE_COLUMNS])


def table2(sweep: pd.DataFrame) -> pd.DataFrame:
    """The paper's Table 2 from a sweep table: per configuration (its baseline included) on the problems
    it shares with its baseline, its errors, corruption (last_mile, the paper's rule), last_value,
    reasoning and no_answer errors, accuracy and Δaccuracy, and per class the gross repair rate
    (`gross_repair_<class>`) and the net change (`net_change_<class>`). last_value has no gross rate
    here (`python -m t2m.report repair` has it per pair); its net change is against the baseline row."""
    if "vs_baseline" not in sweep or f"errors_{ERRORS[0]}" not in sweep:
        return pd.DataFrame()
    rows = []
    strict_of = {r["job"]: r.get(f"errors_{STRICT}") for _, r in _compared(sweep, with_baseline=True).iterrows()
                 if r["vs_baseline"] == "baseline"}  # fmt: skip
    for _, r in _compared(sweep, with_baseline=True).iterrows():
        row = {**{k: r.get(k) for k in CONFIG_KEYS}, "n_paired": r.get("n_paired")}
        row["errors"] = sum(int(r[f"errors_{c}"]) for c in ERRORS)
        row.update({c: int(r[f"errors_{c}"]) for c in (*ERRORS, STRICT)})
        row.update({"accuracy": r.get("accuracy"), "delta_accuracy": r.get("delta_accuracy")})
        for cls in ERRORS:
            row[f"gross_repair_{cls}"], row[f"net_change_{cls}"] = rates(r[f"baseline_{cls}"], r[f"repaired_{cls}"], r[f"errors_{cls}"])
        base_strict = strict_of.get(r.get("baseline_job"))
        row[f"net_change_{STRICT}"] = rates(base_strict, 0, row[STRICT])[1] if base_strict is not None else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)
