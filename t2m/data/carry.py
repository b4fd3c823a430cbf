"""Carry chains: a two-digit count changed twice by a single-digit amount (the accuracy-demo task).

    Question: Tom has 52 apples. He buys 3 more and then gives 9 to a friend. How many apples does Tom have now?
    Target:   52 + 3 = 55. 55 - 9 = 46.
              The answer is 46.

A smaller task than `arith`: prompt and target fit in 64 tokens (a 30-34 token prompt, then the
answer), so the tiny model trains on it about five times faster, and the one error T2M is meant for
shows up when a block is filled in parallel: the answer's tens digit is committed before the carry or
borrow that changes it (t2m/tiny/README.md, "Carry chains"). Every intermediate value and the answer
stay two-digit (10-99), so every target has the same shape.

Two frozen evaluation splits, one number set per problem within and across them: `carry_dev` (to
choose configurations on) and `carry_test` (held out, to confirm them once). Training draws from its
own seed family and skips every question of both.

This module rebuilds the generator of the `demo-carry` branch from its record in t2m/tiny/README.md
(that branch is lost); the phrasing and the mix of operations are this module's, not that branch's.
"""

from __future__ import annotations

import random

from t2m.data import Problem
from t2m.data.arith import ITEMS, NAMES, PRONOUN, TEMPLATE, number_set, seeded_batch, twin_key
from t2m.data.registry import register_dataset

# (first step, second step): mostly a gain then a loss, so that a borrow often undoes a carry.
ORDERS = [(("+", "-"), 7), (("-", "+"), 1), (("+", "+"), 1), (("-", "-"), 1)]
PHRASE = {("+", "-"): "buys {b} more and then gives {c} to a friend",
          ("-", "+"): "gives {b} to a friend and then buys {c} more",
          ("+", "+"): "buys {b} more and then gets {c} more",
          ("-", "-"): "gives {b} to a friend and then gives {c} to a friend"}
SPLIT_SEEDS = {"carry_dev": 777_000, "carry_test": 778_000}
SPLIT_SIZE = 1000
GEN_LENGTH = 32  # the target is 24 tokens and EOS


def sample(rng: random.Random) -> tuple[str, str, str]:
    """One problem: (question, target, gold); every value on the way in 10..99."""
    ops = rng.choices([o for o, _ in ORDERS], weights=[w for _, w in ORDERS])[0]
    while True:
        a, b, c = rng.randint(20, 89), rng.randint(1, 9), rng.randint(1, 9)
        mid = a + b if ops[0] == "+" else a - b
        end = mid + c if ops[1] == "+" else mid - c
        if 10 <= mid <= 99 and 10 <= end <= 99:
            break
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    question = (f"{name} has {a} {item}. {PRONOUN[name]} {PHRASE[ops].format(b=b, c=c)}. "
                f"How many {item} does {name} have now?")
    target = f"{a} {ops[0]} {b} = {mid}. {mid} {ops[1]} {c} = {end}.\nThe answer is {end}."
    return question, target, str(end)


def eval_splits() -> dict[str, list[Problem]]:
    """Both evaluation splits: draws from each split's seed, a number set taken at most once overall."""
    taken: set[tuple[str, ...]] = set()
    splits = {}
    for name, seed in SPLIT_SEEDS.items():
        rng, chosen = random.Random(seed), []
        while len(chosen) < SPLIT_SIZE:
            question, target, gold = sample(rng)
            if number_set(question) in taken:
                continue
            taken.add(number_set(question))
            chosen.append(Problem(id=f"{name}-{len(chosen):04d}", question=question, gold=gold, target=target))
        splits[name] = chosen
    return splits


def eval_questions() -> frozenset[str]:
    return frozenset(p.question for split in eval_splits().values() for p in split)


def training_stream(seed: int, step: int, n: int, exclude: frozenset[str]) -> list[Problem]:
    """The `n` training problems of one optimizer step, a pure function of (seed, step)."""
    return seeded_batch(sample, "carry-train", seed, step, n, exclude)


@register_dataset("carry_dev", template=TEMPLATE, gen_length=GEN_LENGTH, takes_path=False, twin_key=twin_key)
def carry_dev(path=None) -> list[Problem]:
    """1,000 carry chains to choose configurations on (t2m.data.carry)."""
    return eval_splits()["carry_dev"]


@register_dataset("carry_test", template=TEMPLATE, gen_length=GEN_LENGTH, takes_path=False, twin_key=twin_key,
                  development=lambda n: carry_dev()[:n])
def carry_test(path=None) -> list[Problem]:
    """1,000 held-out carry chains, no number set shared with carry_dev (t2m.data.carry)."""
    return eval_splits()["carry_test"]
