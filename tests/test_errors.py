"""Error classes on hand-written generations: the bundled task, GSM8K style and CMATH style (Chinese)."""

import pytest

from t2m.analysis.errors import (
    CLASSES, Analysis, analyse, classify, corruption_form, faithful, last_computed_value, last_step_holds, record_analysis, record_faithful,
)

CASES = [
    # bundled arith format
    ("12 + 15 = 27. 50 - 27 = 23.\nThe answer is 23.", "23", "correct"),
    ("12 + 15 = 27. 50 - 27 = 23.\nThe answer is 28.", "23", "last_mile"),
    ("12 + 15 = 27. 50 - 27 = 32.\nThe answer is 32.", "23", "reasoning"),
    ("12 + 15 = 27. 50 - 27 = 32.\nThe answer is 28.", "23", "reasoning"),
    ("12 + 15 = 27. 50 - 27 =", "23", "no_answer"),  # cut off before the answer line
    ("2.5 * 4 = 10.\nThe answer is 1.", "10", "last_mile"),
    # GSM8K style, with calculator notes, dollars and thousands separators
    ("She sells 16 - 3 - 4 = <<16-3-4=9>>9 eggs.\nShe makes 9 * 2 = $<<9*2=18>>18.\n#### 81", "18", "last_mile"),
    ("Total is 1,200 + 250 = 1,450 dollars.\nThe answer is 1450.", "1,450", "correct"),
    ("Total is 1,200 + 250 = 1,450 dollars.\nThe answer is 1540.", "1,450", "last_mile"),
    ("He runs 3 * 60 = 180 meters.\nThe answer is \\boxed{540}.", "540", "correct"),
    ("He runs 3 * 60 = 180 meters.\nThe answer is \\boxed{180}.", "540", "reasoning"),
    # CMATH style, Chinese, full-width forms, fractions, percent
    ("小明有5个苹果，又买了3个，一共有5+3=8（个）。\n答案是8", "8", "correct"),
    ("小明有5个苹果，又买了3个，一共有5+3=8（个）。\n答案是9", "8", "last_mile"),
    ("每人分到 12÷4＝3 块。\n答案是4", "3", "last_mile"),
    ("一共是3加5等于8个。\n答案是6", "8", "last_mile"),
    ("涂色部分占 2/6。\n答案是1/3", "2/6", "correct"),
    ("涂色部分占 1/6。\n答案是1/2", "2/6", "reasoning"),
    ("请一步一步思考：先算", "8", "no_answer"),
]


@pytest.mark.parametrize("generation,gold,expected", CASES)
def test_classes_of_hand_written_generations(generation, gold, expected):
    assert classify(generation, gold) == expected


def test_truncated_wrong_generation_is_no_answer_but_a_right_one_counts():
    assert classify("5 + 3 = 8.\nThe answer is 9", "8", truncated=True) == "no_answer"
    assert classify("5 + 3 = 8.\nThe answer is 8", "8", truncated=True) == "correct"


def test_last_computed_value():
    assert last_computed_value("12 + 15 = 27. 50 - 27 = 23.\n") == "23"
    assert last_computed_value("first 4, then 7 apples") == "7"  # no equation: the last number
    assert last_computed_value("no numbers") is None
    assert set(CLASSES) == {"correct", "last_mile", "reasoning", "no_answer"}


# The paper's last_mile beside the stricter last_value, and the corruption's form:
# (generation, gold, class, last_value, form)
RULES = [
    ("12 + 15 = 27. 50 - 27 = 23.\nThe answer is 28.", "23", "last_mile", True, "digit_substituted"),
    # the final step stated without "=": the chain reached 23, its last "=" did not
    ("12 + 15 = 27. So 50 - 27 leaves 23 apples.\nThe answer is 28.", "23", "last_mile", False, "digit_substituted"),
    # a check step after the result
    ("50 - 27 = 23. Check: 23 + 27 = 50.\nThe answer is 32.", "23", "last_mile", False, "other_corruption"),
    # a wrong step that lands on the gold: the paper's rule counts it, the stricter one does not
    ("20 / 6 = 4. The answer is 3.", "4", "last_mile", False, "digit_substituted"),
    ("20 / 6 = 3.33. The answer is 3.", "3.33", "last_mile", True, "digits_dropped"),
    ("29÷6=4……5（个）\n答案是5", "4", "last_mile", True, "digit_substituted"),  # a quotient with a remainder
    ("She makes 9 * 2 = $<<9*2=18>>18.\n#### 188", "18", "last_mile", True, "digits_appended"),
    ("32 - 0 = 32.\n答案是2", "32", "last_mile", True, "digits_dropped"),
    ("3 × 4 = 12。\n答案是答案是1", "12", "last_mile", True, "marker_repeated"),
    # a repeated marker without a number: corruption when the chain reached the gold, else no answer
    ("5 + 3 = 8 apples, and 8 - 3 = 5.\nThe answer is is.", "8", "last_mile", False, "marker_repeated"),
    ("4 + 5 = 9, so 9 - 1 = 8.\nThe answer is is.", "7", "no_answer", False, None),
    ("12 + 15 = 27. 50 - 27 = 32.\nThe answer is 32.", "23", "reasoning", False, None),
    ("一共是3加5等于8个。\n答案是6", "8", "last_mile", True, "digit_substituted"),  # 等于 in words: not checkable
    ("12 + 15 = 27. 50 - 27 = 23.\nThe answer is 23.", "23", "correct", False, None),
]


@pytest.mark.parametrize("generation,gold,cls,last_value,form", RULES)
def test_paper_rule_beside_the_stricter_rule(generation, gold, cls, last_value, form):
    assert analyse(generation, gold) == Analysis(cls, last_value, form)


def test_truncated_garbled_answer_is_no_answer():
    assert classify("5 + 3 = 8 apples, and 8 - 3 = 5.\nThe answer is is", "8", truncated=True) == "no_answer"


@pytest.mark.parametrize(
    "stated,gold,form",
    [("188", "18", "digits_appended"), ("2", "32", "digits_dropped"), ("28", "23", "digit_substituted"),
     ("14500", "1,450", "digits_appended"), ("45", "54", "other_corruption"), ("十二", "13", "other_corruption"),
     ("0.25", "0.025", "digits_dropped")],
)  # fmt: skip
def test_corruption_form(stated, gold, form):
    assert corruption_form(stated, gold) == form


@pytest.mark.parametrize(
    "chain,holds",
    [("20 / 6 = 4", False), ("20 / 6 = 3.33", True), ("20 / 6 = 3.34", False), ("(3 + 5) × 2 = 16", True),
     ("(3 + 5) × 2 = 18", False), ("3加5等于8", True), ("29÷6=4......5", True), ("29÷6=3......11", False),
     ("1,200 + 250 = 1,450", True), ("no equation", True)],
)  # fmt: skip
def test_last_step_holds(chain, holds):
    assert last_step_holds(chain) is holds


def test_record_analysis_keeps_the_stored_correctness():
    generation = "5 + 3 = 8.\nThe answer is 9"
    assert record_analysis({"generation": generation, "gold": "8", "correct": False}) == Analysis("last_mile", True, "digit_substituted")
    assert record_analysis({"generation": generation, "gold": "8", "correct": True}).cls == "correct"  # scored so when stored
    assert record_analysis({"generation": generation, "gold": "8", "correct": False, "truncated": True}).cls == "no_answer"
    assert record_analysis({"id": "1", "error_class": "reasoning"}) == Analysis("reasoning")  # no generation: the stored class
    assert record_analysis({"id": "1"}) is None


@pytest.mark.parametrize("generation, expected", [
    ("12 + 15 = 27. 50 - 27 = 23.\nThe answer is 23.", True),  # states its own last value
    ("50 - 27 = 32.\nThe answer is 32.", True),  # a wrong chain faithfully copied: fidelity is gold-free
    ("50 - 27 = 23.\nThe answer is 28.", False),  # last-mile corruption of its own value
    ("5 + 3 = 8. The answer is is.", False),  # a garbled answer line after a computed value
    ("12 + 15 = 27. 50 - 27 =", False),  # cut off: a value, but no answer line
    ("20 / 6 = 3.33. The answer is 3.33", True),
    ("3 + 4 = 7 个. 答案是7", True),
    ("Natalia sold <<48/2=24>>24 clips. #### 72", False),  # GSM8K's note is the computed value
    ("The answer is 5.", None),  # no chain: nothing to be faithful to
    ("", None),
])  # fmt: skip
def test_answer_line_fidelity(generation, expected):
    assert faithful(generation) is expected


def test_record_faithful_follows_the_generation_else_the_stored_value():
    assert record_faithful({"generation": "2 + 2 = 4. The answer is 5.", "faithful": True}) is False
    assert record_faithful({"faithful": True}) is True and record_faithful({}) is None
