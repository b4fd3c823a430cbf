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
        raise ValueError(f"dataset cmath100 needs at least {CMATH100_SIZE} rows in the full test split, got {n_rows}")
    return sorted(random.Random(CMATH100_SEED).sample(range(n_rows), CMATH100_SIZE))


def check_source(name: str, path: str) -> None:
    """Refuse a local file `name` cannot come from: cmath100 is the paper's sample of the 1,098-problem
    CMATH test split, so any other file (e.g. the 600-row dev split) would give a different subset
    under the same name. The size is what can be checked without the split itself at hand."""
    if name == "cmath100":
        with open(path, encoding="utf-8") as f:
            n = sum(1 for line in f if line.strip())
        _check_cmath_test_split(n, path)


def _check_cmath_test_split(n_rows: int, source: str) -> None:
    if n_rows != CMATH_TEST_SIZE:
        raise ValueError(f"dataset cmath100 is sampled from the {CMATH_TEST_SIZE:,}-problem CMATH test split, but {source} has {n_rows} problems; "
                         f"pass the test split (dataset.path=...)")


def load(name: str, path: str | None = None) -> list[Problem]:
    base = "cmath" if name in ("cmath", "cmath100") else name
    if base not in HUB:
        raise ValueError(f"dataset {name!r} has no loader here; allowed: cmath, cmath100, gsm8k")
    rows = _read_jsonl(name, path) if path is not None else _read_hub(name, *HUB[base])
    problems = [_cmath_problem(i, r, name) if base == "cmath" else _gsm8k_problem(i, r, name) for i, r in enumerate(rows)]
    if name == "cmath100":
        _check_cmath_test_split(len(problems), path or f"{HUB['cmath'][0]} ({HUB['cmath'][2]})")
        # Ids keep the row's index in the full split, so cmath100 rows line up with cmath rows.
        problems = [problems[i] for i in cmath100_indices(len(problems))]
    return problems


def _cmath_problem(i: int, row: dict, name: str) -> Problem:
    question = row.get("question", row.get("input"))  # the test split says question, the dev file input
    if question is None or "golden" not in row:
        raise ValueError(f"dataset {name}: row {i} lacks fields; needs question (or input) and golden, has {sorted(row)}")
    return Problem(id=f"cmath-{i:04d}", question=str(question), gold=str(row["golden"]).strip())


def _gsm8k_problem(i: int, row: dict, name: str) -> Problem:
    if "question" not in row or "answer" not in row:
        raise ValueError(f"dataset {name}: row {i} lacks fields; needs question and answer, has {sorted(row)}")
    answer = str(row["answer"])
    if "#### " not in answer:
        raise ValueError(f"dataset {name}: row {i} answer has no '#### ' gold marker")
    return Problem(id=f"gsm8k-{i:04d}", question=str(row["question"]), gold=answer.rsplit("#### ", 1)[1].strip())


def _read_jsonl(name: str, path: str) -> list[dict]:
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"dataset {name}: no such file {str(p)!r}; pass a JSONL file with one problem per line")
    rows = []
    with open(p, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ValueError(f"dataset {name}: {p}:{lineno} is not valid JSON ({e.msg})") from None
    return rows


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
