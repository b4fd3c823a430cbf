"""Answer extraction and scoring shared by every math benchmark (arith, CMATH, GSM8K).

    extract_answer("... The answer is 1,450,000.")   -> "1,450,000"
    is_correct("答案是3/4", "0.75")                    -> True

Extraction looks for the answer markers in a fixed order and takes the first kind that is present
(its last occurrence, with a number after it):
    1. the last `\\boxed{...}`          (LaTeX answers)
    2. "The answer is N"               (our prompts, LLaDA's English outputs; any case)
    3. "答案是 N" / "答案为 N"            (the CMATH prompt asks for 答案是X)
    4. "#### N"                        (GSM8K's own format)
    5. flexible mode only: the last number anywhere in the text.
Strict mode stops after 4: no marker, no answer.

Numbers are compared exactly as fractions, never truncated (2.5 != 2.9), with a relative tolerance
of 1e-6 so that 0.1 + 0.2-style float noise in a model's decimals does not count as wrong; a
decimal that merely rounds a fraction (0.33 for 1/3) is wrong. Thousands separators are ignored
(1,450,000 == 1450000), fractions are values (3/4 == 0.75 == 6/8), negatives keep their sign.
Percent, decided here once: "N%" matches both N and N/100, because CMATH golds such as "12%" are
answered as "12" or "0.12" by models asked for "a number"; a bare 50 never matches a gold of 0.5.
"""

from __future__ import annotations

import re
import unicodedata
from fractions import Fraction

REL_TOL = 1e-6
# The answer formats a dataset may declare (its registry entry, `answer=`): what `is_correct` compares.
# "number": the extraction and numeric comparison below, the only one so far.
ANSWER_FORMATS = ("number",)

# One number: a thousands-grouped or plain integer part, an optional decimal part; a leading minus
# only where it cannot be a binary minus (not right after a digit, letter or closing bracket).
_NUM = r"(?:(?<![\w)\]])-)?(?:\d{1,3}(?:,\d{3})+(?![\d])|\d+)(?:\.\d+)?"
_ANSWER = re.compile(rf"{_NUM}(?:\s*/\s*{_NUM})?(?:\s*%)?")

_MARKERS = [
    re.compile(r"the\s+answer\s+is", re.IGNORECASE),
    re.compile(r"答案[是为]"),
    re.compile(r"####"),
]


def _normalize(text: str) -> str:
    """Unify the spellings of numbers: full-width forms, LaTeX fractions and percent, minus signs."""
    text = unicodedata.normalize("NFKC", text)  # full-width digits, "：", "％" -> ASCII
    text = text.replace("\u2212", "-").replace("\\%", "%").replace("{,}", ",").replace("\\!", "")
    return re.sub(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}", r"\1/\2", text)


def _boxed_contents(text: str) -> list[tuple[int, str]]:
    """(where it starts, its contents) of every `\\boxed{...}` (or `\\fbox{...}`), braces balanced, in order."""
    out = []
    for m in re.finditer(r"\\(?:boxed|fbox)\s*\{", text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if depth == 0:
            out.append((m.start(), text[m.end(): i - 1]))
    return out


def _clean(number: str) -> str:
    return re.sub(r"\s+", "", number)


def extract_answer(text: str, strict: bool = False) -> str | None:
    """The final answer in a model's output as written (e.g. "1,450,000", "3/4", "-3", "12%"), or None."""
    if not text:
        return None
    found = _stated_answer(_normalize(text))
    if found is not None:
        return found[1]
    if strict:
        return None
    numbers = _ANSWER.findall(_normalize(text))
    return _clean(numbers[-1]) if numbers else None


def split_answer(text: str) -> tuple[str, str | None]:
    """(the reasoning before the stated answer, the stated answer) of a normalized output; a stated
    answer is one behind a marker (strict extraction). Without one: (the whole text, None)."""
    text = _normalize(text or "")
    found = _stated_answer(text)
    return (text, None) if found is None else (text[: found[0]], found[1])


def _stated_answer(text: str) -> tuple[int, str] | None:
    """(where the marker starts, the answer) of the first marker kind present, its last occurrence."""
    for start, content in reversed(_boxed_contents(text)):
        m = _ANSWER.search(_normalize(content))
        if m:
            return start, _clean(m.group())

    for marker in _MARKERS:
        for found in reversed(list(marker.finditer(text))):
            rest = text[found.end():].split("\n", 1)[0]  # the number must be on the marker's line
            m = _ANSWER.search(rest)
            if m:
                return found.start(), _clean(m.group())
    return None


def to_number(answer: str) -> tuple[Fraction, bool] | None:
    """(value, is_percent) of an answer string such as "1,450,000", "-2.5", "3/4", "50%"; None if not numeric."""
    s = _clean(_normalize(answer)).rstrip(".")
    percent = s.endswith("%")
    s = s.rstrip("%").replace(",", "")
    try:
        if "/" in s:
            num, den = s.split("/", 1)
            value = Fraction(num) / Fraction(den)
        else:
            value = Fraction(s)
    except (ValueError, ZeroDivisionError):
        return None
    return value, percent


def _close(a: Fraction, b: Fraction) -> bool:
    return a == b or abs(a - b) <= REL_TOL * max(abs(a), abs(b))


def _readings(answer: str) -> list[Fraction]:
    """The values an answer may stand for: itself, or for "N%" both N and N/100."""
    parsed = to_number(answer)
    if parsed is None:
        return []
    value, percent = parsed
    return [value, value / 100] if percent else [value]


def same_answer(pred: str, gold: str) -> bool:
    """Whether two answers as written are equal (numerically when both are numbers)."""
    gold = str(gold).strip()
    pred_values, gold_values = _readings(pred), _readings(gold)
    if pred_values and gold_values:
        return any(_close(p, g) for p in pred_values for g in gold_values)
    # A non-numeric gold (rare: a word answer) can only match the same text.
    return _clean(pred).rstrip(".") == _clean(_normalize(gold)).rstrip(".")


def is_correct(text: str, gold: str, strict: bool = False) -> bool:
    """Whether the answer extracted from `text` equals `gold` (numerically when both are numbers)."""
    pred = extract_answer(text, strict=strict)
    return pred is not None and same_answer(pred, gold)
