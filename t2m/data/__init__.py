"""Math benchmarks as lists of `Problem`s, their prompt templates, and prompt building.

    problems = load_problems("arith100")                     # bundled, generated, offline
    problems = load_problems("cmath100", path="cmath.jsonl")   # the paper's CMATH subset
    ids = build_prompt(problems[0], dataset("arith100").template, tokenizer)

A dataset is a loader plus a registry entry with its facts (`t2m.data.registry`); each module
registers its own: the `arith*` splits beside their generator (`t2m.data.arith`), `cmath*` and
`gsm8k` beside their loaders (`t2m.data.benchmarks`), a user's in a `plugins` module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    id: str
    question: str
    gold: str  # the reference answer as the benchmark writes it: "12", "2.5", "2/6", "1,450,000"
    target: str | None = None  # full chain-of-thought answer for generated problems; None for real ones


from t2m.data.registry import DATASETS, Dataset, dataset, distinct, register_dataset  # noqa: E402  (Problem first: loaders import it)


def load_problems(name: str, path: str | None = None, limit: int | None = None) -> list[Problem]:
    """The distinct problems of dataset `name` (duplicates left out: `t2m.data.registry.distinct`),
    optionally from a local JSONL `path`, the first `limit` of them."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit={limit!r} is invalid; allowed: an integer >= 0, or None for all")
    problems, _ = dataset(name).problems(path)
    return problems if limit is None else problems[:limit]


class _View(Mapping):
    """One fact of every registered dataset, by name: read-only and always current (plugins included),
    for code written before the registry. The registry entry is the source."""

    def __init__(self, fact: str):
        self.fact = fact

    def __getitem__(self, name: str):
        if name not in DATASETS:
            raise KeyError(name)
        return getattr(DATASETS[name], self.fact)

    def __iter__(self):
        return iter(DATASETS)

    def __len__(self) -> int:
        return len(DATASETS)


PROMPT_TEMPLATES: Mapping[str, str] = _View("template")
GEN_LENGTH: Mapping[str, int] = _View("gen_length")


def build_prompt(problem: Problem, template: str, tokenizer) -> list[int]:
    """Token ids of `template` filled with the problem's question, ready for the decoder.

    A tokenizer with a chat template (LLaDA2.x) gets the text as one user turn plus the generation
    prompt, as the paper does; a plain tokenizer (the bundled tiny model) gets plain text led by BOS.
    """
    text = template.replace("{question}", problem.question)  # not str.format: prompts may hold braces
    if getattr(tokenizer, "chat_template", None):
        ids = tokenizer.apply_chat_template(
            [{"role": "user", "content": text}], add_generation_prompt=True, tokenize=True
        )
        return list(ids["input_ids"] if isinstance(ids, dict) else ids)
    ids = tokenizer.encode(text, add_special_tokens=False)
    if tokenizer.bos_token_id is not None:
        ids = [tokenizer.bos_token_id] + ids
    return ids


from t2m.data import arith, benchmarks, carry  # noqa: E402,F401  (they register the built-in datasets)
