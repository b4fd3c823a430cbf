"""Per-sample diff of two configurations on hand-written generations."""

from __future__ import annotations

from t2m.analysis.diff import CHANGES, sample_diff


def rec(pid, generation, gold, extracted, correct, mods=0):
    return {"id": pid, "generation": generation, "gold": gold, "extracted": extracted, "correct": correct, "modifications": mods, "forwards": 6}


BEFORE = [
    rec("a", "3 + 4 = 7. The answer is 7.", "7", "7", True),
    rec("b", "5 * 6 = 30. The answer is 36.", "30", "36", False),  # last-mile corruption ...
    rec("c", "9 - 2 = 6. The answer is 6.", "7", "6", False),
    rec("d", "8 + 1 = 9. The answer is 9.", "9", "9", True),
    rec("e", "2 * 2 = 5. The answer is 5.", "4", "5", False),
    rec("only-before", "1", "1", "1", True),
]
AFTER = [
    rec("a", "3 + 4 = 8. The answer is 8.", "7", "8", False, mods=2),  # broken
    rec("b", "5 * 6 = 30. The answer is 30.", "30", "30", True, mods=1),  # ... repaired: fixed
    rec("c", "9 - 2 = 5. The answer is 5.", "7", "5", False),  # both wrong, another answer
    rec("d", "8 + 1 = 9. So the answer is 9.", "9", "9", True),  # new words, same answer
    rec("e", "2 * 2 = 5. The answer is 5.", "4", "5", False),  # identical
    rec("only-after", "2", "2", "2", True),
]


def test_changes_and_classes():
    d = sample_diff(BEFORE, AFTER)
    assert d["id"].tolist() == ["a", "b", "c", "d", "e"]  # only problems both hold, in BEFORE's order
    assert d["change"].tolist() == ["broken", "fixed", "other_answer", "same_answer", "unchanged"]
    assert set(d["change"]) == set(CHANGES)
    b = d.set_index("id").loc["b"]
    assert (b["before_answer"], b["after_answer"], b["gold"]) == ("36", "30", "30")
    assert (b["before_class"], b["after_class"]) == ("last_mile", "correct")  # the repair T2M is meant for
    a = d.set_index("id").loc["a"]
    assert (a["before_class"], a["after_class"], a["after_modifications"]) == ("correct", "reasoning", 2)
