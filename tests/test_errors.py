"""Error classes on hand-written generations: the bundled task, GSM8K style and CMATH style (Chinese)."""

import pytest

from t2m.analysis.errors import CLASSES, classify, last_computed_value

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
