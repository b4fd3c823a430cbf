"""Scoring, case by case: the table docs/scoring.md documents (each group is one of its sections).
Expected values are written by hand from what the answer means, not from what the code returns."""

import pytest

from t2m.scoring import extract_answer, is_correct, to_number

NNBSP = "\u202f"  # narrow no-break space, a thousands separator in typeset numbers

CASES = {
    "mixed numbers": [
        ("The answer is 1 1/2.", "1.5", True),
        ("答案是1又1/2", "3/2", True),
        ("The answer is 1 1/2.", "11/2", False),  # the space separates the whole part, it does not join digits
        (r"\boxed{1\frac{1}{2}}", "1.5", True),
        ("The answer is -2 1/4.", "-2.25", True),
        ("答案是2又1/2", "2", False),
        ("The answer is 2.5 hours.", "2 1/2", True),  # a mixed gold
    ],
    "wan and yi": [
        ("答案是1.5万", "15000", True),
        ("答案是2万", "20000", True),
        ("答案是3亿", "300000000", True),
        ("答案是1.5万元", "1.5", False),
        ("The answer is 15000.", "1.5万", True),
    ],
    "chinese numerals": [
        ("答案是十二", "12", True),
        ("答案是十二", "13", False),
        ("答案是两百零五", "205", True),
        ("答案是零", "0", True),
        ("答案是一千零二十", "1020", True),
        ("答案是一万二千", "12000", True),
        ("答案为三点五", "3.5", True),
        ("答案是三分之一", "1/3", True),
        ("答案是一又二分之一", "1.5", True),
        ("答案是百分之二十", "20%", True),
        ("答案是百分之20", "0.2", True),  # digits after 百分之: 20%, not 百 = 100
        ("答案是两个", "2", True),
        ("答案是负三", "-3", True),
        ("答案是一共12个", "12", True),  # 一共 ("in all") is a word, not the number one
        ("The answer is twelve.", "12", False),  # English number words are not read
    ],
    "ratios and times": [
        ("答案是3:4", "3/4", True),
        ("答案是3:4", "3:4", True),
        ("答案是3：4", "3:4", True),  # full-width colon
        ("The answer is 3:4.", "0.75", True),
        ("The answer is 6:8.", "3:4", True),  # the same ratio
        ("The answer is 4:3.", "3:4", False),
        ("答案是1:2:3", "2:4:6", True),
        ("答案是1:2:3", "1:2:4", False),
        ("The answer is 3:30.", "3", False),  # a time, not 3
        ("The answer is 3:30.", "3:30", True),
        ("The answer is 03:30.", "3:30", True),
        ("The answer is 15:30.", "3:30", False),
        ("The answer is 3.5.", "3:30", False),  # a time equals no number
    ],
    "thousands separators": [
        ("The answer is 1,450,000.", "1450000", True),
        ("The answer is 1450000.", "1,450,000", True),
        ("The answer is 1\\,450.", "1450", True),  # LaTeX thin space
        (f"The answer is 1{NNBSP}450{NNBSP}000.", "1450000", True),
        ("答案是12，000", "12000", True),  # full-width comma
        ("The answer is -1,200.", "-1200", True),
        ("The answer is 1,45.", "145", False),  # not a grouping: the number is 1
    ],
    "fractions and decimals": [
        ("答案是1/3", "2/6", True),
        ("答案是2/6", "2/6", True),
        ("答案是 2 / 6", "1/3", True),
        ("The answer is 0.333.", "2/6", False),  # a rounded decimal is not the fraction
        ("答案是0.002", "0.002", True),
        ("答案是0.02", "0.002", False),
        ("答案是4.404", "4.404", True),
        ("答案是12%", "0.12", True),
        ("答案是12", "0.12", False),
    ],
}
TABLE = [(group, *case) for group, cases in CASES.items() for case in cases]


@pytest.mark.parametrize("group,text,gold,expected", TABLE)
def test_case_table(group, text, gold, expected):
    assert is_correct(text, gold) is expected


def test_the_table_is_large_and_has_both_outcomes():
    assert len(TABLE) >= 40
    for group, cases in CASES.items():
        assert {e for _, _, e in cases} == {True, False}, group


@pytest.mark.parametrize(
    "text,written",
    [
        ("The answer is 1 1/2.", "1 1/2"),
        ("答案是1又1/2", "1又1/2"),
        ("答案是1.5万元", "1.5万"),
        ("答案是十二个", "十二"),
        ("The answer is 3:30.", "3:30"),
        ("The answer is 3 / 4.", "3/4"),
    ],
)
def test_the_extracted_answer_is_as_written(text, written):
    assert extract_answer(text, strict=True) == written


def test_to_number_of_the_new_forms():
    assert to_number("1 1/2") == (1.5, False)
    assert to_number("两百零五") == (205, False)
    assert to_number("百分之二十") == (20, True)
    assert to_number("1.5万") == (15000, False)
    assert to_number("3:4") == (0.75, False)
    assert to_number("3:30") is None  # a clock time has no value
