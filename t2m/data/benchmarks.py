"""Loaders for the real benchmarks, CMATH and GSM8K, from a local JSONL file or the Hugging Face hub.

    load("cmath100", "cmath_test.jsonl")   # the paper's 100-problem CMATH subset
    load("gsm8k")                          # openai/gsm8k, config main, split test (needs the hub)

Golds are kept exactly as the benchmark writes them ("2/6", "0.002", "1,450,000"); `t2m.scoring`
does the normalising, so what was asked and what is compared stay visible in the results.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from t2m.data import Problem
from t2m.data.registry import register_dataset


class DatasetFileError(ValueError):
    """A dataset file that cannot be used: `where` (the file, and the line when one is to blame) and why."""

    def __init__(self, path, reason: str, line: int | None = None):
        self.path, self.line, self.reason = str(path), line, reason
        super().__init__(f"{self.path}{'' if line is None else f':{line}'}: {reason}")

HUB = {
    "cmath": ("weitianwen/cmath", None, "test"),
    "gsm8k": ("openai/gsm8k", "main", "test"),
}
CMATH100_SEED, CMATH100_SIZE = 42, 100
CMATH_TEST_SIZE = 1098  # the CMATH test split the paper's subset is drawn from (the dev split has 600)


def cmath100_indices(n_rows: int) -> list[int]:
    """The paper's subset: `random.seed(42); sorted(random.sample(range(n_rows), 100))`.

    A private `random.Random(42)` draws the same numbers as seeding the global generator (one
    algorithm, one seed) without disturbing anyone else's use of `random`.
    """
    if n_rows < CMATH100_SIZE:
        raise ValueError(f"cmath100 draws the paper's {CMATH100_SIZE} problems from the full CMATH test split (1,098 rows); got {n_rows} rows")
    return sorted(random.Random(CMATH100_SEED).sample(range(n_rows), CMATH100_SIZE))


def _check_cmath_test_split(n_rows: int, source: str) -> None:
    """cmath100 is the paper's sample of the 1,098-problem CMATH test split: any other file (e.g. the
    600-row dev split) would give a different subset under the same name. The size is what can be
    checked without the split itself at hand (the pre-flight reads every dataset through `load`)."""
    if n_rows != CMATH_TEST_SIZE:
        raise ValueError(f"dataset cmath100 is sampled from the {CMATH_TEST_SIZE:,}-problem CMATH test split, but {source} has {n_rows} problem{'s' * (n_rows != 1)}; "
                         f"pass the test split (dataset.path=...)")


def load(name: str, path: str | None = None) -> list[Problem]:
    """Every problem of the benchmark; a file that is missing, empty, not JSONL or lacks a field
    raises ValueError/OSError with one line naming the file and line."""
    base = "cmath" if name in ("cmath", "cmath100") else name
    if base not in HUB:
        raise ValueError(f"dataset {name!r} has no loader here; allowed: cmath, cmath100, gsm8k")
    make = _cmath_problem if base == "cmath" else _gsm8k_problem
    if path is not None:
        problems = []
        for i, (line, row) in enumerate(_read_jsonl(name, path)):
            try:
                problems.append(make(i, row))
            except ValueError as e:
                raise DatasetFileError(path, str(e), line) from None
    else:
        problems = []
        for i, row in enumerate(_read_hub(name, *HUB[base])):
            try:
                problems.append(make(i, row))
            except ValueError as e:
                raise ValueError(f"dataset {name}: row {i} {e}") from None
    if name == "cmath100":
        _check_cmath_test_split(len(problems), path or f"{HUB['cmath'][0]} ({HUB['cmath'][2]})")
        # Ids keep the row's index in the full split, so cmath100 rows line up with cmath rows.
        problems = [problems[i] for i in cmath100_indices(len(problems))]
    return problems


def _cmath_problem(i: int, row: dict) -> Problem:
    question = row.get("question", row.get("input"))  # the test split says question, the dev file input
    if question is None or "golden" not in row:
        raise ValueError(f"lacks fields; needs question (or input) and golden, has {', '.join(sorted(row)) or 'none'}")
    return Problem(id=f"cmath-{i:04d}", question=str(question), gold=str(row["golden"]).strip())


def _gsm8k_problem(i: int, row: dict) -> Problem:
    if "question" not in row or "answer" not in row:
        raise ValueError(f"lacks fields; needs question and answer, has {', '.join(sorted(row)) or 'none'}")
    answer = str(row["answer"])
    if "#### " not in answer:
        raise ValueError("has an answer without '#### ' before its gold number")
    return Problem(id=f"gsm8k-{i:04d}", question=str(row["question"]), gold=answer.rsplit("#### ", 1)[1].strip())


# Limits of a dataset file, checked while it streams in (before any model loads): one problem is a
# few hundred bytes, the largest benchmark here (GSM8K's train split) 7,473 rows. Anything far beyond
# is a wrong file, and reading it whole would take gigabytes of memory or minutes of tokenizing.
MAX_LINE_BYTES = 2**20  # 1 MiB per problem
MAX_ROWS = 50_000


def _read_jsonl(name: str, path: str) -> list[tuple[int, dict]]:
    """(line number, row) of every non-blank line."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise DatasetFileError(p, "is a directory; pass a JSONL file with one problem per line")
    if not p.is_file():
        raise FileNotFoundError(f"dataset {name}: no such file {str(p)!r}; pass a JSONL file with one problem per line")
    rows = []
    with p.open("rb") as f:
        for lineno, raw in enumerate(iter(lambda: f.readline(MAX_LINE_BYTES + 1), b""), 1):
            if len(raw) > MAX_LINE_BYTES:
                raise DatasetFileError(p, f"is longer than {MAX_LINE_BYTES:,} bytes (MAX_LINE_BYTES); pass one problem per line", lineno)
            if raw.strip() and len(rows) == MAX_ROWS:
                raise DatasetFileError(p, f"holds more than {MAX_ROWS:,} problems (MAX_ROWS); pass a benchmark file")
            row = _json_row(p, raw, lineno)
            if row is not None:
                rows.append((lineno, row))
    if not rows:
        raise DatasetFileError(p, "holds no problems (the file is empty)")
    return rows


def _json_row(p: Path, raw: bytes, lineno: int) -> dict | None:
    """One line as a problem's row; None for a blank line."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DatasetFileError(p, f"is not UTF-8 text ({e.reason} at byte {e.start})", lineno) from None
    if not line.strip():
        return None
    try:
        row = json.loads(line)
    except json.JSONDecodeError as e:
        raise DatasetFileError(p, f"is not valid JSON ({e.msg}, column {e.colno})", lineno) from None
    if not isinstance(row, dict):
        raise DatasetFileError(p, 'is not a JSON object ({"question": ..., ...} per line)', lineno)
    return row


def _read_hub(name: str, hub_id: str, config: str | None, split: str) -> list[dict]:
    import datasets

    try:
        ds = datasets.load_dataset(hub_id, config, split=split)
    except Exception as e:  # offline, gated, renamed: all end the same way for the user
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise OSError(
            f"dataset {name}: cannot load {hub_id} from the Hugging Face hub ({first}); "
            f"pass a local JSONL with path=... (dataset.path=... on the command line)"
        ) from None
    return [dict(r) for r in ds]


# ---- the datasets --------------------------------------------------------------------------------

# The paper's CMATH prompt, verbatim (kept in code: the project must not read ../shared at run time).
CMATH_TEMPLATE = "请逐步解决以下数学问题。\n\n问题：{question}\n\n请一步一步思考，最后一行请用「答案是X」的格式给出最终数字答案。"

GSM8K_TEMPLATE = (
    "Solve the following math problem step by step.\n\n"
    "Question: {question}\n\n"
    'Think step by step, then give the final numeric answer on the last line as "The answer is N."'
)

# CMATH: 16,384, as the paper's evaluation code allows. LLaDA2.1-mini's answers in the paper's runs
# average 334 tokens and reach 547, but a heavy-remasking configuration writes longer ones, and a
# shorter budget cuts exactly those off (a bias against them, issue 24). It costs nothing for answers
# that end earlier: decoding stops after the block holding EOS, forwards run over the blocks so far
# only, and the KV cache grows with them (a canvas of 16,384 ids per row is 128 KiB).
CMATH_GEN_LENGTH = 16384


@register_dataset("cmath", template=CMATH_TEMPLATE, gen_length=CMATH_GEN_LENGTH, hub=HUB["cmath"][0])
def cmath(path=None) -> list[Problem]:
    """The CMATH test split (1,098 problems; Wei et al. 2023): fields question (or input) and golden."""
    return load("cmath", path)


@register_dataset("cmath100", template=CMATH_TEMPLATE, gen_length=CMATH_GEN_LENGTH, hub=HUB["cmath"][0])
def cmath100(path=None) -> list[Problem]:
    """The paper's 100-problem CMATH subset: random.seed(42); sorted(random.sample(range(1098), 100))."""
    return load("cmath100", path)


@register_dataset("gsm8k", template=GSM8K_TEMPLATE, gen_length=256, hub=HUB["gsm8k"][0])
def gsm8k(path=None) -> list[Problem]:
    """The GSM8K test set (1,319 problems): fields question and answer, the gold after "#### "."""
    return load("gsm8k", path)
