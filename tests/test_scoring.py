"""Answer extraction and scoring: real golds score 100% as predictions, and the hard cases hold."""

import json
from pathlib import Path

import pytest

import t2m
from t2m.scoring import extract_answer, is_correct

SHARED = Path(__file__).resolve().parents[2] / "shared"


def _golds(name: str, field: str) -> list[str]:
    path = SHARED / "data" / name
    if not path.exists():
        pytest.skip(f"{path} is absent (../shared is only beside a developer checkout)")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if field == "answer":
        return [r["answer"].rsplit("#### ", 1)[1].strip() for r in rows]
    return [str(r[field]).strip() for r in rows]


@pytest.mark.parametrize("name,field", [("gsm8k_test.jsonl", "answer"), ("cmath_dev.jsonl", "golden")])
def test_gold_as_prediction_scores_100_percent(name, field):
    golds = _golds(name, field)
    for gold in golds:
        assert is_correct(f"Step by step.\nThe answer is {gold}.", gold, strict=True), gold
        assert is_correct(f"答案是{gold}", gold, strict=True), gold
        assert is_correct(f"Some work: 3 + 4 = 7, so we get {gold}", gold), gold  # flexible: last number
        assert extract_answer(f"no marker, just {gold}", strict=True) is None


def test_gsm8k_reference_solutions_score_through_their_own_marker():
    path = SHARED / "data" / "gsm8k_test.jsonl"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert all(is_correct(r["answer"], r["answer"].rsplit("#### ", 1)[1], strict=True) for r in rows)


@pytest.mark.parametrize(
    "text,gold,expected",
    [
        ("The answer is 2.5.", "2.9", False),  # never truncated to 2
        ("The answer is 2.9.", "2.9", True),
        ("The answer is 2.", "2.5", False),
        ("The answer is 1,450,000.", "1,450,000", True),
        ("The answer is 1450000.", "1,450,000", True),
        ("The answer is $1,450,000.", "1450000", True),
        ("The answer is -3.", "-3", True),
        ("The answer is 3.", "-3", False),
        ("It drops 10 - 3 = 7 degrees, so the answer is -3", "-3", True),
        ("The answer is 3/4.", "0.75", True),
        ("The answer is 0.75.", "3/4", True),
        ("答案是6/8", "3/4", True),
        ("答案是2/6", "1/3", True),
        ("The answer is 0.33.", "1/3", False),  # a rounded decimal is not the fraction
        ("The answer is 0.0020000001.", "0.002", True),  # float noise within 1e-6 relative
        ("The answer is 0.0021.", "0.002", False),
        ("The answer is 50%.", "0.5", True),  # N% reads as N/100 ...
        ("The answer is 50%.", "50", True),  # ... and as N
        ("The answer is 50.", "50%", True),
        ("The answer is 0.5.", "50%", True),
        ("The answer is 50.", "0.5", False),  # a bare number is never rescaled
        (r"So \boxed{42} is it.", "42", True),
        (r"\boxed{7} first, then \boxed{\frac{3}{4}}", "0.75", True),  # the last box wins
        (r"The answer is 5. Final: \boxed{6}", "6", True),  # boxed before "The answer is"
        ("答案是：12元。", "12", True),
        ("所以答案为１２", "12", True),  # full-width digits
        ("#### 18", "18", True),
        ("The answer is 5.\nLater text mentions 9.", "5", True),  # marker beats the last number
        ("I think it is 17.", "17", True),  # flexible fallback
        ("", "1", False),
        ("no numbers here", "1", False),
    ],
)
def test_hard_cases(text, gold, expected):
    assert is_correct(text, gold) is expected


def test_strict_needs_a_marker_and_flexible_falls_back():
    assert extract_answer("he pays 2.5 yuan", strict=True) is None
    assert extract_answer("he pays 2.5 yuan") == "2.5"
    assert not is_correct("he pays 2.5 yuan", "2.5", strict=True)
    assert is_correct("he pays 2.5 yuan", "2.5")


def test_extract_answer_returns_the_number_as_written():
    assert extract_answer("The answer is 1,450,000.") == "1,450,000"
    assert extract_answer("The Answer Is: 12 apples") == "12"
    assert extract_answer(r"\boxed{\dfrac{3}{4}}") == "3/4"
    assert extract_answer("The answer is 12%.") == "12%"
    assert extract_answer("The answer is twelve.", strict=True) is None


def test_tiny_model_output_format_round_trips():
    # What the bundled tokenizer decodes to: the number must come out whole.
    assert extract_answer("4 + 8 = 12.\nThe answer is 12.", strict=True) == "12"
    assert extract_answer("9.5 * 5 = 47.5. 100 - 47.5 = 52.5.\nThe answer is 52.5.", strict=True) == "52.5"


def test_package_level_reexports():
    assert t2m.extract_answer is extract_answer and t2m.is_correct is is_correct
