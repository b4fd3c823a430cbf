"""Table 2 on hand-made records: the paper's own counts give its two rates, labelled apart
(92 of 155 last-mile errors repaired: gross 59.4%; 155 -> 91 last-mile errors: net 41.3%)."""

import pandas as pd
import pytest

from t2m.analysis.metrics import summarize
from t2m.analysis.repair import COLUMNS, error_counts, format_table, long_table, repair_columns, repair_table, table2


def rec(pid, cls):
    return {"id": str(pid), "error_class": cls, "correct": cls == "correct"}


def paper_like():
    """Baseline: 155 last-mile, 20 reasoning errors, 45 correct. The configuration repairs 92 of the
    last-mile errors, keeps 63, and breaks 28 correct answers into last-mile ones (63 + 28 = 91)."""
    base = [rec(i, "last_mile") for i in range(155)] + [rec(i, "reasoning") for i in range(155, 175)]
    base += [rec(i, "correct") for i in range(175, 220)]
    conf = [rec(i, "correct") for i in range(92)] + [rec(i, "last_mile") for i in range(92, 155)]
    conf += [rec(i, "reasoning") for i in range(155, 175)]
    conf += [rec(i, "last_mile") for i in range(175, 203)] + [rec(i, "correct") for i in range(203, 220)]
    return base, conf


def test_gross_repair_rate_and_net_change_are_the_papers_two_numbers():
    t = repair_table(*paper_like()).set_index("class")
    lm = t.loc["last_mile"]
    assert (lm["baseline_errors"], lm["repaired"], lm["broken"], lm["errors"]) == (155, 92, 28, 91)
    assert lm["repair_rate"] == pytest.approx(92 / 155)  # 59.4%: gross
    assert lm["net_change"] == pytest.approx(64 / 155)  # 41.3%: net
    assert t.loc["total", "net_change"] == pytest.approx((175 - 111) / 175)
    out = format_table(repair_table(*paper_like()))
    assert "gross repair" in out and "net change" in out
    line = next(x for x in out.splitlines() if x.startswith("last_mile"))
    assert "59.4%" in line and "41.3%" in line


def test_table2_from_the_sweep_columns():
    base, conf = paper_like()
    rows = [
        {"job": "t2t", "vs_baseline": "baseline", "baseline_job": "t2t", "accuracy": 45 / 220, "delta_accuracy": 0.0, "n_paired": 220,
         **repair_columns(base, base)},
        {"job": "t2m", "vs_baseline": "better", "baseline_job": "t2t", "accuracy": 109 / 220, "delta_accuracy": 64 / 220, "n_paired": 220,
         **repair_columns(base, conf)},
    ]  # fmt: skip
    assert set(rows[1]) >= set(COLUMNS)
    t = table2(pd.DataFrame(rows)).set_index("job")
    assert t.loc["t2t", ["errors", "last_mile", "reasoning"]].tolist() == [175, 155, 20]
    assert t.loc["t2m", ["errors", "last_mile", "reasoning", "no_answer"]].tolist() == [111, 91, 20, 0]
    assert t.loc["t2m", ["accuracy", "delta_accuracy"]].tolist() == [109 / 220, 64 / 220]
    assert t.loc["t2m", "gross_repair_last_mile"] == pytest.approx(92 / 155)
    assert t.loc["t2m", "net_change_last_mile"] == pytest.approx(64 / 155)
    assert t.loc["t2t", "net_change_last_mile"] == 0 and pd.isna(t.loc["t2m", "gross_repair_no_answer"])
    long = long_table(pd.DataFrame(rows)).set_index("class")
    assert long.loc["last_mile", "net_change"] == pytest.approx(64 / 155) and long.loc["last_mile", "errors"] == 91


def test_last_value_and_forms_are_counted_from_generations():
    records = [
        {"id": "1", "generation": "50 - 27 = 23.\nThe answer is 28.", "gold": "23", "correct": False},  # last_value, substituted
        {"id": "2", "generation": "20 / 6 = 4. The answer is 3.", "gold": "4", "correct": False},  # last_mile only
        {"id": "3", "generation": "9 * 2 = 18.\n#### 188", "gold": "18", "correct": False},  # appended
        {"id": "4", "generation": "3 × 4 = 12。\n答案是答案是1", "gold": "12", "correct": False},  # marker repeated
        {"id": "5", "generation": "5 + 1 = 6.\nThe answer is 7.", "gold": "9", "correct": False},  # reasoning
        {"id": "6", "generation": "4 + 5 = 9.\nThe answer is 9.", "gold": "9", "correct": True},
    ]
    c = error_counts(records)
    assert (c["correct"], c["last_mile"], c["last_value"], c["reasoning"], c["no_answer"]) == (1, 4, 3, 1, 0)
    assert (c["digit_substituted"], c["digits_appended"], c["marker_repeated"], c["digits_dropped"]) == (2, 1, 1, 0)
    for r in records:
        r.update(strict_correct=r["correct"], output_tokens=1, modifications=0, t2t_edits=0, remasks=0, forwards=1)
    s = summarize(records)
    assert (s["n_last_mile"], s["n_last_value"], s["n_marker_repeated"], s["n_other_corruption"]) == (4, 3, 1, 0)
    t = repair_table(records, [{**records[0], "correct": True, "generation": "The answer is 23."}]).set_index("class")
    assert t.loc["last_value", ["baseline_errors", "repaired"]].tolist() == [1, 1]
