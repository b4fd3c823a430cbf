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

What counts as one number, and how two are compared, is documented case by case in docs/scoring.md
(the table there is tests/test_scoring_cases.py). In short: values are exact fractions with a
relative tolerance of 1e-6 (float noise, never rounding: 0.33 != 1/3); thousands separators are
ignored; mixed numbers (1 1/2, 1又1/2), 万/亿 multipliers and, right after a marker, Chinese
numerals (十二, 两百零五, 三分之一) are values; "a:b" is the ratio's value a/b unless it is a clock time
("3:30", compared as a time only); "N%" matches both N and N/100.
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
_SIGN = r"(?:(?<![\w)\]])-)"
_NUM = rf"{_SIGN}?(?:\d{{1,3}}(?:,\d{{3}})+(?![\d])|\d+)(?:\.\d+)?"
_MULTIPLIER = {"万亿": 10**12, "亿": 10**8, "万": 10**4}
# Alternatives in the order the regex tries them at one position: a mixed number before its integer
# part, a ratio or clock time before its first term, then a number with a fraction, 万/亿 or percent.
_ANSWER = re.compile(
    rf"{_SIGN}?\d+(?:[ \t]|又)\d+\s*/\s*\d+(?!\d|\.\d)"
    rf"|{_NUM}(?::\d+(?:\.\d+)?)+"
    rf"|{_NUM}(?:\s*/\s*{_NUM}|万亿|亿|万)?(?:\s*%)?"
)

# Chinese numerals, read only right after a marker (elsewhere 一 is mostly a word: 一共, 一样).
_CN_DIGIT = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"〇": 0, "两": 2}
_CN_UNIT = {"十": 10, "百": 100, "千": 1000}
_CN_INT = r"[零〇一二两三四五六七八九十百千万亿]+"
_CN_NUM = rf"{_CN_INT}(?:点[零〇一二三四五六七八九]+)?"
_CN = re.compile(rf"负?(?:百分之{_CN_NUM}|(?:{_CN_INT}又)?{_CN_INT}分之{_CN_NUM}|{_CN_NUM})")
_CN_AFTER_MARKER = re.compile(rf"[\s:]*((?>{_CN.pattern}))(?!分之|\d)")  # not the 百 of 百分之20
_CN_WORD = re.compile(r"[共样些般起定直致切半]")  # 一共, 一样, ...: a word, not the number one

_MARKERS = [
    re.compile(r"the\s+answer\s+is", re.IGNORECASE),
    re.compile(r"答案[是为]"),
    re.compile(r"####"),
]

# A clock time: hours 0-24 and two-digit minutes. Compared as a time, never as the ratio h/mm.
_CLOCK = re.compile(r"([01]?\d|2[0-4]):([0-5]\d)")


def _normalize(text: str) -> str:
    """Unify the spellings of numbers: full-width forms, LaTeX fractions and percent, minus signs,
    thin spaces as thousands separators."""
    text = re.sub(r"(?<=\d)(?:\\,|\\ |[\u2009\u202f\u00a0])(?=\d{3}(?!\d))", ",", text)  # 1\,450 / 1 450 (thin space)
    text = unicodedata.normalize("NFKC", text)  # full-width digits, "：", "％" -> ASCII
    text = text.replace("\u2212", "-").replace("\\%", "%").replace("{,}", ",").replace("\\!", "")
    text = re.sub(r"(?<=\d)\s*(?=\\[dt]?frac)", " ", text)  # 1\frac{1}{2}: a mixed number, not 11/2
    text = re.sub(rf"百分之\s*({_NUM})", r"\1%", text)  # 百分之20 is 20%
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
    """A number as written, without the spaces around "/", "%" or ":" ("3 / 4" -> "3/4"); the one
    space of a mixed number ("1 1/2") stays, since without it 1 1/2 would read 11/2."""
    number = re.sub(r"\s*([/%:])\s*", r"\1", number.strip())
    return re.sub(r"\s+", " ", number)


def extract_answer(text: str, strict: bool = False) -> str | None:
    """The final answer in a model's output as written (e.g. "1,450,000", "3/4", "-3", "12%", "十二"), or None."""
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
            answer = _after_marker(text[found.end():].split("\n", 1)[0])  # the number must be on the marker's line
            if answer:
                return found.start(), answer
    return None


def _after_marker(rest: str) -> str | None:
    """The answer on a marker's line: a Chinese numeral right after the marker, else the first number."""
    cn = _CN_AFTER_MARKER.match(rest)
    if cn and not _CN_WORD.match(rest, cn.end()):
        return cn.group(1)
    m = _ANSWER.search(rest)
    return _clean(m.group()) if m else None


def _chinese_value(s: str) -> Fraction:
    """The value of a Chinese numeral matched by _CN (without 百分之): 十二, 两百零五, 三点五, 一又二分之一."""
    sign = -1 if s.startswith("负") else 1
    s = s.removeprefix("负")
    whole, _, s = s.rpartition("又") if "又" in s else ("", "", s)
    if "分之" in s:
        den, num = s.split("分之")
        value = _cn_decimal(num) / _cn_integer(den)
    else:
        value = _cn_decimal(s)
    return sign * ((_cn_integer(whole) if whole else 0) + value)


def _cn_decimal(s: str) -> Fraction:
    whole, _, digits = s.partition("点")
    frac = Fraction(int("".join(str(_CN_DIGIT[c]) for c in digits)), 10 ** len(digits)) if digits else 0
    return _cn_integer(whole) + frac


def _cn_integer(s: str) -> int:
    """十二 -> 12, 两百零五 -> 205, 一万二千 -> 12000, 三亿五万 -> 300050000; digits alone read
    positionally (二零二四 -> 2024)."""
    if all(c in _CN_DIGIT for c in s):
        return int("".join(str(_CN_DIGIT[c]) for c in s))
    total, section, digit = 0, 0, 0
    for c in s:
        if c in _CN_DIGIT:
            digit = _CN_DIGIT[c]
        elif c in _CN_UNIT:
            section += (digit or 1) * _CN_UNIT[c]  # 十二: a bare 十 is one ten
            digit = 0
        elif c == "万":
            total += (section + digit) * 10**4
            section, digit = 0, 0
        else:  # 亿 scales everything before it (二万亿)
            total = (total + section + digit) * 10**8
            section, digit = 0, 0
    return total + section + digit


def to_number(answer: str) -> tuple[Fraction, bool] | None:
    """(value, is_percent) of an answer string such as "1,450,000", "-2.5", "3/4", "50%", "1 1/2",
    "1.5万", "十二", "3:4" (a ratio's value); None if not a number (a word, a clock time)."""
    s = _clean(_normalize(answer)).rstrip(".")
    if _CN.fullmatch(s):
        if "百分之" in s:
            return _chinese_value(s.replace("百分之", "")), True
        return _chinese_value(s), False
    percent = s.endswith("%")
    s = s.rstrip("%").replace(",", "")
    try:
        return _arabic_value(s), percent
    except (ValueError, ZeroDivisionError):
        return None


def _arabic_value(s: str) -> Fraction:
    """The value of a number in digits; raises ValueError when `s` is not one (or is a clock time)."""
    if _CLOCK.fullmatch(s) or s.count(":") > 1:
        raise ValueError(s)  # a time is no number; a ratio of three terms has no single value
    mixed = re.fullmatch(r"(-?)(\d+)[ 又](\d+)/(\d+)", s)
    if mixed:
        sign, whole, num, den = mixed.groups()
        return (-1 if sign else 1) * (int(whole) + Fraction(int(num), int(den)))
    for suffix, factor in _MULTIPLIER.items():
        if s.endswith(suffix):
            return Fraction(s.removesuffix(suffix)) * factor
    for sep in ("/", ":"):  # a fraction, or a ratio a:b read as its value a/b
        if sep in s:
            num, den = s.split(sep, 1)
            return Fraction(num) / Fraction(den)
    return Fraction(s)


def _close(a: Fraction, b: Fraction) -> bool:
    return a == b or abs(a - b) <= REL_TOL * max(abs(a), abs(b))


def _readings(answer: str) -> list[tuple[str, object]]:
    """The values an answer may stand for, each with its kind: ("number", v) for a number (for "N%"
    both N and N/100), ("time", minutes) for a clock time, ("ratio", terms) for a ratio of 3+ terms."""
    s = _clean(_normalize(answer)).rstrip(".")
    clock = _CLOCK.fullmatch(s)
    if clock:
        return [("time", int(clock.group(1)) * 60 + int(clock.group(2)))]
    if re.fullmatch(r"[\d.]+(?::[\d.]+){2,}", s):
        return [("ratio", _proportions(s))]
    parsed = to_number(answer)
    if parsed is None:
        return []
    value, percent = parsed
    return [("number", value), ("number", value / 100)] if percent else [("number", value)]


def _proportions(ratio: str) -> tuple[Fraction, ...]:
    """A ratio's terms scaled so the first is 1: 2:4:6 and 1:2:3 are the same ratio."""
    terms = [Fraction(t) for t in ratio.split(":")]
    return tuple(t / terms[0] for t in terms) if terms[0] else tuple(terms)


def same_answer(pred: str, gold: str) -> bool:
    """Whether two answers as written are equal: by value where both are numbers, a time only
    equals a time, a ratio of 3+ terms only a proportional one."""
    gold = str(gold).strip()
    pred_values, gold_values = _readings(pred), _readings(gold)
    if pred_values and gold_values:
        return any(pk == gk and (_close(p, g) if pk == "number" else p == g)
                   for pk, p in pred_values for gk, g in gold_values)  # fmt: skip
    # A non-numeric gold (rare: a word answer) can only match the same text.
    return _clean(pred).rstrip(".") == _clean(_normalize(gold)).rstrip(".")


def is_correct(text: str, gold: str, strict: bool = False) -> bool:
    """Whether the answer extracted from `text` equals `gold` (numerically when both are numbers)."""
    pred = extract_answer(text, strict=strict)
    return pred is not None and same_answer(pred, gold)
