"""Per-sample diff of two configurations on the same problems: which problems changed, and how.

    sample_diff(before_records, after_records)  ->  DataFrame, one row per problem both hold

`change` says what happened to a problem going from `before` (e.g. the baseline) to `after`:

    fixed          before wrong, after right
    broken         before right, after wrong
    other_answer   both wrong, with different answers
    same_answer    the generation changed, the answer did not
    unchanged      the same generation

Counting `fixed` and `broken` gives the discordant pairs of `t2m.analysis.stats.compare`; the error
classes (`t2m.analysis.errors`) of both generations say what kind of error was repaired or made.
"""

from __future__ import annotations

from typing import Iterable, Mapping

import pandas as pd

from t2m.analysis.errors import record_analysis

CHANGES = ("fixed", "broken", "other_answer", "same_answer", "unchanged")
COLUMNS = [
    "id", "change", "gold", "before_answer", "after_answer", "before_correct", "after_correct", "before_class", "after_class",
    "before_modifications", "after_modifications", "before_forwards", "after_forwards", "before_generation", "after_generation",
]  # fmt: skip


def sample_diff(before: Iterable[Mapping], after: Iterable[Mapping]) -> pd.DataFrame:
    """One row per problem held by both (in `before`'s order), with what changed."""
    after_by_id = _by_id(after)
    rows = []
    for problem_id, b in _by_id(before).items():
        a = after_by_id.get(problem_id)
        if a is None:
            continue
        rows.append({
            "id": problem_id,
            "change": change(b, a),
            "gold": b.get("gold"),
            "before_answer": b.get("extracted"),
            "after_answer": a.get("extracted"),
            "before_correct": bool(b["correct"]),
            "after_correct": bool(a["correct"]),
            "before_class": _class(b),
            "after_class": _class(a),
            "before_modifications": b.get("modifications"),
            "after_modifications": a.get("modifications"),
            "before_forwards": b.get("forwards"),
            "after_forwards": a.get("forwards"),
            "before_generation": b.get("generation"),
            "after_generation": a.get("generation"),
        })  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)


def change(before: Mapping, after: Mapping) -> str:
    if bool(before["correct"]) != bool(after["correct"]):
        return "fixed" if after["correct"] else "broken"
    if before.get("generation") == after.get("generation"):
        return "unchanged"
    if not before["correct"] and before.get("extracted") != after.get("extracted"):
        return "other_answer"
    return "same_answer"


def _by_id(records: Iterable[Mapping]) -> dict[str, Mapping]:
    out: dict[str, Mapping] = {}
    for r in records:
        out.setdefault(str(r["id"]), r)  # the first record of an id counts, as in the store
    return out


def _class(record: Mapping) -> str | None:
    analysis = record_analysis(record)
    return analysis.cls if analysis else None
