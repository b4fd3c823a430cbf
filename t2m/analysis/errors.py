"""Error classes: what went wrong in a generation, and so what a remasking policy could repair.

    classify(generation, gold)  ->  "correct" | "last_mile" | "reasoning" | "no_answer"

- correct: the answer is right (flexible scoring, the `correct` field of samples.jsonl).
- last_mile: last-mile corruption, the class T2M is meant to repair: the reasoning's last computed
  value equals the gold, but the stated answer does not ("50 - 27 = 23. The answer is 28.").
- reasoning: a stated answer that is wrong, and reasoning that did not reach the gold either.
- no_answer: no stated answer (no marker such as "The answer is" / "答案是" / "####" / \\boxed{}),
  typically a generation cut off by gen_length; or `truncated=True` and wrong.

The reasoning's last computed value is the number after its last "=" (also "等于", and GSM8K's
"<<48/2=24>>" calculator notes); where the reasoning has no "=", its last number.
"""

from __future__ import annotations

import re

from t2m.scoring import _ANSWER, _clean, is_correct, same_answer, split_answer

CLASSES = ("correct", "last_mile", "reasoning", "no_answer")
ERRORS = CLASSES[1:]

_RESULT = re.compile(rf"(?:=|等于)\s*[$¥￥]?\s*({_ANSWER.pattern})")


def last_computed_value(reasoning: str) -> str | None:
    """The number the reasoning computed last: after its last "=" if it has one, else its last number."""
    results = _RESULT.findall(reasoning)
    if results:
        return _clean(results[-1])
    numbers = _ANSWER.findall(reasoning)
    return _clean(numbers[-1]) if numbers else None


def classify(generation: str, gold: str, truncated: bool = False) -> str:
    """The class of one generation (see the module docstring)."""
    if is_correct(generation, gold):
        return "correct"
    reasoning, stated = split_answer(generation)
    if stated is None or truncated:
        return "no_answer"
    computed = last_computed_value(reasoning)
    if computed is not None and same_answer(computed, gold):
        return "last_mile"
    return "reasoning"
