"""Corruption and repair: which kinds of error a configuration repairs, and which it makes (the
paper's Table 2).

    error_class(record)                     ->  the record's class (stored, or computed for older records)
    class_counts(records)                   ->  {class: count}
    repair_table(baseline, records)         ->  DataFrame, one row per error class
    repair_columns(baseline, records)       ->  the same as flat columns for the sweep table
    transitions(baseline, records)          ->  baseline class x configuration class, problem counts

Per error class of `t2m.analysis.errors` (last_mile, reasoning, no_answer), on the problems both hold:

    baseline_errors   problems the baseline got wrong in this class
    share             baseline_errors / all the baseline's errors (the paper: 79.9% last-mile on CMATH)
    repaired          of those, problems the configuration gets right
    repair_rate       repaired / baseline_errors (the paper: T2M repairs 41.3% of last-mile errors)
    broken            problems the baseline got right that the configuration gets wrong in this class
    errors            problems the configuration gets wrong in this class

Summed over the classes, repaired and broken are the `fixed` and `broken` of `t2m.analysis.stats`.
"""

from __future__ import annotations

from typing import Iterable, Mapping

import pandas as pd

from t2m.analysis.errors import ERRORS, classify

TABLE_COLUMNS = ["class", "baseline_errors", "share", "repaired", "repair_rate", "broken", "errors"]


def error_class(record: Mapping) -> str | None:
    """The stored class of a sample, or (a record from before classes were stored) its class now."""
    if record.get("error_class"):
        return record["error_class"]
    if record.get("generation") is None or record.get("gold") is None:
        return None
    return "correct" if record.get("correct") else classify(record["generation"], str(record["gold"]))


def class_counts(records: Iterable[Mapping]) -> dict[str, int]:
    counts = {c: 0 for c in ("correct", *ERRORS)}
    for r in records:
        c = error_class(r)
        if c in counts:
            counts[c] += 1
    return counts


def repair_table(baseline: Iterable[Mapping], records: Iterable[Mapping]) -> pd.DataFrame:
    """One row per error class (and a `total` row): what the configuration repaired and broke."""
    before = {str(r["id"]): error_class(r) for r in baseline}
    after = {str(r["id"]): error_class(r) for r in records}
    ids = [i for i in after if i in before]
    n_errors = sum(before[i] != "correct" for i in ids)
    rows = []
    for cls in ERRORS:
        base = [i for i in ids if before[i] == cls]
        repaired = sum(after[i] == "correct" for i in base)
        rows.append({
            "class": cls,
            "baseline_errors": len(base),
            "share": len(base) / n_errors if n_errors else float("nan"),
            "repaired": repaired,
            "repair_rate": repaired / len(base) if base else float("nan"),
            "broken": sum(before[i] == "correct" and after[i] == cls for i in ids),
            "errors": sum(after[i] == cls for i in ids),
        })  # fmt: skip
    total = {k: sum(r[k] for r in rows) for k in ("baseline_errors", "repaired", "broken", "errors")}
    total.update({"class": "total", "share": 1.0 if n_errors else float("nan"),
                  "repair_rate": total["repaired"] / total["baseline_errors"] if total["baseline_errors"] else float("nan")})  # fmt: skip
    return pd.DataFrame(rows + [total], columns=TABLE_COLUMNS)


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
    """`repaired_<class>`, `broken_<class>` and `baseline_<class>` for each error class: the sweep table's columns."""
    table = repair_table(baseline, records).set_index("class")
    out = {}
    for cls in ERRORS:
        out[f"baseline_{cls}"] = int(table.at[cls, "baseline_errors"])
        out[f"repaired_{cls}"] = int(table.at[cls, "repaired"])
        out[f"broken_{cls}"] = int(table.at[cls, "broken"])
    return out


COLUMNS = [f"{kind}_{cls}" for cls in ERRORS for kind in ("baseline", "repaired", "broken")]


def format_table(table: pd.DataFrame) -> str:
    """The table as aligned text (the CLI's output)."""
    lines = [f"{'class':<10} {'baseline errors':>15} {'share':>6} {'repaired':>8} {'rate':>6} {'broken':>6} {'errors now':>10}"]
    for _, r in table.iterrows():
        lines.append(f"{r['class']:<10} {_int(r['baseline_errors']):>15} {_pct(r['share']):>6} {_int(r['repaired']):>8} "
                     f"{_pct(r['repair_rate']):>6} {_int(r['broken']):>6} {_int(r['errors']):>10}")  # fmt: skip
    return "\n".join(lines)


def _int(v) -> str:
    return "-" if v is None or pd.isna(v) else str(int(v))


def _pct(v) -> str:
    return "-" if pd.isna(v) else f"{100 * v:.1f}%"


def long_table(sweep: pd.DataFrame) -> pd.DataFrame:
    """From a sweep table with the repair columns: one row per (configuration, error class) that was
    compared with a baseline, with share and rates. The sweep's Table 2, for every configuration."""
    if "vs_baseline" not in sweep or f"baseline_{ERRORS[0]}" not in sweep:
        return pd.DataFrame(columns=["job", "strategy", "tau", "c_max", "rho_max", "baseline_job", *TABLE_COLUMNS])
    rows = []
    for _, r in sweep[sweep["vs_baseline"].isin(["better", "worse", "n.s."])].iterrows():
        n_errors = sum(int(r[f"baseline_{c}"]) for c in ERRORS)
        for cls in ERRORS:
            base, repaired = int(r[f"baseline_{cls}"]), int(r[f"repaired_{cls}"])
            rows.append({
                **{k: r.get(k) for k in ("job", "strategy", "tau", "c_max", "rho_max", "baseline_job")},
                "class": cls,
                "baseline_errors": base,
                "share": base / n_errors if n_errors else float("nan"),
                "repaired": repaired,
                "repair_rate": repaired / base if base else float("nan"),
                "broken": int(r[f"broken_{cls}"]),
                "errors": r.get(f"n_{cls}"),
            })  # fmt: skip
    return pd.DataFrame(rows)
