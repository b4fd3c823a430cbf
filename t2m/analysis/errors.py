"""Error classes: what went wrong in a generation, and so what a remasking policy could repair.

    classify(generation, gold)      ->  "correct" | "last_mile" | "reasoning" | "no_answer"
    analyse(generation, gold)       ->  Analysis(cls, last_value, form): the class with its details
    record_analysis(record)         ->  the same for a stored sample (its stored `correct` decides correctness)
    faithful(generation)            ->  answer-line fidelity: True / False, None where the chain computed nothing
    record_faithful(record)         ->  the same for a stored sample

Answer-line fidelity is gold-free: the stated answer equals the reasoning's own last computed value
(`last_computed_value`, the number the last_value rule reads). It is the paper's last-mile notion
measured against the model's own chain, so it moves when a decoder copies a value into the answer line
wrongly even where the chain itself is wrong (on the bundled model, almost every error).

Two definitions of last-mile corruption, named apart (docs/scoring.md has examples of each):

- last_mile (the paper's rule, arXiv 2604.18738): the stated answer is wrong, but the gold appears
  among the reasoning chain's numbers ("50 - 27 = 23. The answer is 28." with gold 23). An answer
  line whose marker repeats and holds no number ("The answer is is.", "答案是答案是") counts too when
  the chain reached the gold: the answer was corrupted, not missing.
- last_value (stricter, t2m's own; a subset of last_mile): also the chain's last computed value is
  the gold (after its last "=" / "等于" / GSM8K "<<a=b>>", else its last number), and that last step
  holds where it is plain arithmetic ("20 / 6 = 4. The answer is 3." with gold 4 is last_mile, not
  last_value: the chain reached 4 by a wrong step).

The other classes: correct (flexible scoring); reasoning, a stated answer that is wrong with a chain
that never reached the gold; no_answer, no stated answer (no "The answer is" / "答案是" / "####" /
\\boxed{}), typically cut off by gen_length, or `truncated=True` and wrong.

A last_mile error's form, the paper's sub-forms, compares the stated answer's digits with the gold's:
marker_repeated (the marker repeats on the answer line), digits_appended (18 -> 188), digits_dropped
(32 -> 2), digit_substituted (one digit differs: 23 -> 28), other_corruption (anything else).
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Mapping

from t2m.scoring import _ANSWER, _clean, _normalize, is_correct, same_answer, split_answer, to_number

CLASSES = ("correct", "last_mile", "reasoning", "no_answer")
ERRORS = CLASSES[1:]
FORMS = ("marker_repeated", "digits_appended", "digits_dropped", "digit_substituted", "other_corruption")

_RESULT = re.compile(rf"(?:=|等于)\s*[$¥￥]?\s*({_ANSWER.pattern})")
# A marker followed by (the tail of) itself: "The answer is is", "答案是答案是", "答案是是".
_REPEATED_MARKER = [
    re.compile(r"the\s+answer\s+is\s+(?:the\s+answer\s+is|answer\s+is|is)\b", re.IGNORECASE),
    re.compile(r"答案[是为]\s*(?:答案|案)?[是为]"),
]
# Plain arithmetic right before an "=": numbers joined by + - * / × ÷, in optional brackets.
_TERM = r"\(*\s*-?\d[\d,]*(?:\.\d+)?\s*\)*"
_EXPRESSION = re.compile(rf"((?:{_TERM}\s*[-+*/×÷]\s*)+{_TERM})\s*$")
_REMAINDER = re.compile(r"\s*(?:…|\.\.\.|余)")  # 29÷6=4……5: a quotient with a remainder


@dataclass(frozen=True)
class Analysis:
    cls: str  # one of CLASSES
    last_value: bool = False  # the stricter rule (only ever True for last_mile)
    form: str | None = None  # one of FORMS, for last_mile only


def classify(generation: str, gold: str, truncated: bool = False) -> str:
    """The class of one generation (see the module docstring)."""
    return analyse(generation, gold, truncated).cls


def analyse(generation: str, gold: str, truncated: bool = False, correct: bool | None = None) -> Analysis:
    """The class of a generation with its last-mile details; `correct` overrides scoring it again."""
    if correct if correct is not None else is_correct(generation, gold):
        return Analysis("correct")
    if truncated:
        return Analysis("no_answer")
    chain, stated = split_answer(generation)
    garbled = repeated_marker(generation)
    if stated is None:
        if garbled is None:
            return Analysis("no_answer")
        chain = _normalize(generation)[:garbled]
    if not reaches(chain, gold):
        return Analysis("reasoning" if stated is not None else "no_answer")
    form = "marker_repeated" if garbled is not None else corruption_form(stated, gold)
    return Analysis("last_mile", last_value=_last_value(chain, gold), form=form)


def record_analysis(record: Mapping) -> Analysis | None:
    """The analysis of a stored sample, computed from its generation (so that older records follow
    today's definitions); a record without one keeps its stored class. None if neither."""
    if record.get("generation") is None or record.get("gold") is None:
        return Analysis(record["error_class"]) if record.get("error_class") else None
    return analyse(record["generation"], str(record["gold"]), bool(record.get("truncated")), correct=bool(record.get("correct")))


def faithful(generation: str) -> bool | None:
    """Whether the stated answer equals the chain's last computed value; None when the chain holds no
    value to compare with (nothing to be faithful to). No stated answer, or a garbled answer line
    ("The answer is is."), after a chain that computed something is unfaithful."""
    chain, stated = split_answer(generation)
    if stated is None:
        garbled = repeated_marker(generation)
        chain = chain if garbled is None else _normalize(generation)[:garbled]
    computed = last_computed_value(chain)
    if computed is None:
        return None
    return stated is not None and same_answer(stated, computed)


def record_faithful(record: Mapping) -> bool | None:
    """`faithful` of a stored sample, from its generation (today's definition, as record_analysis);
    a record without a generation keeps its stored value."""
    if record.get("generation") is None:
        return record.get("faithful")
    return faithful(record["generation"])


def reaches(chain: str, gold: str) -> bool:
    """Whether the gold appears among the chain's numbers (the paper's last-mile condition)."""
    return any(same_answer(_clean(n), gold) for n in _ANSWER.findall(chain))


def repeated_marker(text: str) -> int | None:
    """Where the last repeated answer marker starts in the normalized text, or None."""
    text = _normalize(text or "")
    starts = [m.start() for pattern in _REPEATED_MARKER for m in pattern.finditer(text)]
    return max(starts) if starts else None


def last_computed_value(reasoning: str) -> str | None:
    """The number the reasoning computed last: after its last "=" if it has one, else its last number."""
    results = _RESULT.findall(reasoning)
    if results:
        return _clean(results[-1])
    numbers = _ANSWER.findall(reasoning)
    return _clean(numbers[-1]) if numbers else None


def _last_value(chain: str, gold: str) -> bool:
    computed = last_computed_value(chain)
    return computed is not None and same_answer(computed, gold) and last_step_holds(chain)


def last_step_holds(chain: str) -> bool:
    """Whether the chain's last "=" step is right where its left side is plain arithmetic: the result
    may round the exact value at its own precision (20/6 = 3.33), or be a quotient with a remainder
    (29÷6=4……5). A step that is not plain arithmetic ("3加5等于8") cannot be checked and holds."""
    steps = list(_RESULT.finditer(chain))
    if not steps:
        return True
    step = steps[-1]
    expression = _EXPRESSION.search(chain[max(0, step.start() - 200): step.start()])
    exact = _evaluate(expression.group(1)) if expression else None
    stated = to_number(step.group(1))
    if exact is None or stated is None or stated[1]:
        return True  # not checkable (or a percent, whose scale the step does not say)
    if _REMAINDER.match(chain, step.end()):
        return math.floor(exact) == stated[0]
    decimals = len(step.group(1).partition(".")[2])
    return abs(exact - stated[0]) <= Fraction(1, 2 * 10**decimals)


def _evaluate(expression: str) -> Fraction | None:
    """The exact value of plain arithmetic (+ - * / and brackets), or None if it is not that."""
    text = expression.replace(",", "").replace("×", "*").replace("÷", "/")
    try:
        return _value(ast.parse(text.strip(), mode="eval").body)
    except (SyntaxError, ValueError, ZeroDivisionError):
        return None


def _value(node: ast.AST) -> Fraction:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return Fraction(str(node.value))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_value(node.operand)
    ops = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b, ast.Div: lambda a, b: a / b}
    if isinstance(node, ast.BinOp) and type(node.op) in ops:
        return ops[type(node.op)](_value(node.left), _value(node.right))
    raise ValueError("not plain arithmetic")


def corruption_form(stated: str, gold: str) -> str:
    """How a wrong stated answer differs from the gold, digit by digit (see the module docstring)."""
    pred, want = _digits(stated), _digits(str(gold))
    if not pred or not want or pred == want:
        return "other_corruption"
    if len(pred) > len(want) and _is_subsequence(want, pred):
        return "digits_appended"
    if len(pred) < len(want) and _is_subsequence(pred, want):
        return "digits_dropped"
    if len(pred) == len(want) and sum(a != b for a, b in zip(pred, want)) == 1:
        return "digit_substituted"
    return "other_corruption"


def _digits(answer: str) -> str:
    """An answer's characters that carry its value: digits, point, sign, slash (no separators)."""
    return re.sub(r"[^\d.\-/]", "", _normalize(answer).replace(",", "")).rstrip(".")


def _is_subsequence(short: str, long: str) -> bool:
    rest = iter(long)
    return all(c in rest for c in short)
