"""Math benchmarks as lists of `Problem`s, their prompt templates, and prompt building.

    problems = load_problems("arith100")                     # bundled, generated, offline
    problems = load_problems("cmath100", path="cmath.jsonl")   # the paper's CMATH subset
    ids = build_prompt(problems[0], PROMPT_TEMPLATES["arith100"], tokenizer)

`arith*` splits come from the seeded generator in `t2m.data.arith`; `cmath*` and `gsm8k` from a
local JSONL file or the Hugging Face hub (`t2m.data.benchmarks`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    id: str
    question: str
    gold: str  # the reference answer as the benchmark writes it: "12", "2.5", "2/6", "1,450,000"
    target: str | None = None  # full chain-of-thought answer for generated problems; None for real ones


DATASETS = ("arith100", "arith1000", "cmath", "cmath100", "gsm8k")

# The plain format the tiny model was trained on: the model continues after "Answer:".
_ARITH_PROMPT = "Question: {question}\nAnswer:"

# The paper's CMATH prompt, verbatim (kept in code: the project must not read ../shared at run time).
_CMATH_PROMPT = "请逐步解决以下数学问题。\n\n问题：{question}\n\n请一步一步思考，最后一行请用「答案是X」的格式给出最终数字答案。"

_GSM8K_PROMPT = (
    "Solve the following math problem step by step.\n\n"
    "Question: {question}\n\n"
    'Think step by step, then give the final numeric answer on the last line as "The answer is N."'
)

PROMPT_TEMPLATES: dict[str, str] = {
    "arith": _ARITH_PROMPT,
    "arith100": _ARITH_PROMPT,
    "arith1000": _ARITH_PROMPT,
    "cmath": _CMATH_PROMPT,
    "cmath100": _CMATH_PROMPT,
    "gsm8k": _GSM8K_PROMPT,
}

# Generation budget per dataset (gen_length), the one place it is written: conf/dataset/*.yaml read
# it from here. The tiny model's arith answers (at most three equations and the answer line) take at
# most 45 tokens, so 64 (two blocks) covers them with room for EOS and a garbled, longer answer.
# CMATH: LLaDA2.1-mini's answers in the paper's runs average 334 tokens and reach 547, so 256 would
# cut a good share of them off before the answer line; 1024 (32 blocks) holds them with room, and
# costs nothing for answers that end earlier (decoding stops after the block holding EOS). The
# paper's own evaluation code allows up to 16,384. GSM8K keeps 256.
GEN_LENGTH: dict[str, int] = {"arith100": 64, "arith1000": 64, "cmath": 1024, "cmath100": 1024, "gsm8k": 256}


def load_problems(name: str, path: str | None = None, limit: int | None = None) -> list[Problem]:
    """The problems of dataset `name` (see DATASETS), optionally from a local JSONL `path`."""
    if name not in DATASETS:
        raise ValueError(f"dataset {name!r} is unknown; allowed: {', '.join(DATASETS)}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit={limit!r} is invalid; allowed: an integer >= 0, or None for all")
    if name.startswith("arith"):
        if path is not None:
            raise ValueError(f"dataset {name!r} is generated and takes no path; got path={path!r}")
        from t2m.data.arith import eval_split

        problems = eval_split(name)
    else:
        from t2m.data import benchmarks

        problems = benchmarks.load(name, path)
    return problems if limit is None else problems[:limit]


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
