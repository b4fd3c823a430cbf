"""A procedural generator of small elementary-school word problems (the bundled `arith` benchmark).

Each problem is one to three reasoning steps in a CMATH-like situation (ages, prices, pages, groups,
shops, ...). The target the tiny model is trained on is a short chain of thought, one equation per
step, then a final line `The answer is N.`:

    Question: A book has 50 pages. Lily reads 12 pages on Monday and 15 pages on Tuesday. ...
    Target:   12 + 15 = 27. 50 - 27 = 23.
              The answer is 23.

Numbers stay small (operands <= 60, mostly + and -, products of small factors, exact divisions) so
that a model of about a million parameters, trained for half an hour on a laptop CPU, can learn to
compute them; prices may carry one decimal (2.5).
Money is handled in tenths internally so decimals never pick up float noise.

Everything is driven by one `random.Random(seed)`, so a seed always yields the same problems, on
every Python version that keeps `random`'s documented reproducibility (3.2+).
"""

from __future__ import annotations

import itertools
import json
import random
import re
from dataclasses import asdict
from fractions import Fraction
from pathlib import Path

from t2m.data import Problem
from t2m.data.registry import register_dataset

NAMES = ["Tom", "Amy", "Ben", "Lily", "Sam", "Mia", "Jack", "Emma", "Leo", "Lucy", "Max", "Anna", "Tim", "Kate"]
# name -> pronoun, so "He"/"She" agrees with the name.
PRONOUN = {"Tom": "He", "Ben": "He", "Sam": "He", "Jack": "He", "Leo": "He", "Max": "He", "Tim": "He",
           "Amy": "She", "Lily": "She", "Mia": "She", "Emma": "She", "Lucy": "She", "Anna": "She", "Kate": "She"}
ITEMS = ["apples", "pears", "candies", "stickers", "books", "pencils", "balls", "cards", "flowers", "eggs",
         "stamps", "shells"]
GOODS = ["pen", "notebook", "toy", "cake", "ruler", "bag", "cup", "kite"]  # priced things (singular)
RELATIVES = ["brother", "sister", "father", "mother", "cousin"]
GROUPS = [("rows", "chairs"), ("boxes", "apples"), ("bags", "candies"), ("teams", "students"),
          ("shelves", "books"), ("plates", "cakes"), ("vases", "flowers")]
DAYS = ["Monday", "Tuesday", "Wednesday"]
PLACES = [("shop", "apples"), ("farm", "eggs"), ("library", "books"), ("school", "pencils"), ("store", "cups")]


def fmt(x: Fraction) -> str:
    """Render an exact number the way the targets write it: 7, 2.5, -3 (never 2.50 or 7.0)."""
    if x.denominator == 1:
        return str(x.numerator)
    tenths = x * 10
    assert tenths.denominator == 1, f"only one decimal place is generated, got {x}"
    sign = "-" if tenths < 0 else ""
    n = abs(tenths.numerator)
    return f"{sign}{n // 10}.{n % 10}"


def eq(a: Fraction, op: str, b: Fraction, r: Fraction) -> str:
    return f"{fmt(a)} {op} {fmt(b)} = {fmt(r)}."


def _price(rng: random.Random) -> Fraction:
    """A price: mostly whole yuan, sometimes a half (2.5) so some answers are decimals."""
    if rng.random() < 0.35:
        return Fraction(rng.randint(1, 5)) + Fraction(1, 2)
    return Fraction(rng.randint(1, 10))


# Each template draws its numbers, then returns (question, equations, answer). The equations are the
# steps in order; the answer is the last equation's result.

def _add(rng):
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    a, b = rng.randint(2, 30), rng.randint(2, 20)
    q = f"{name} has {a} {item}. {PRONOUN[name]} gets {b} more. How many {item} does {name} have now?"
    return q, [eq(a, "+", b, a + b)], a + b


def _sub(rng):
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    a = rng.randint(10, 50)
    b = rng.randint(1, a - 1)
    q = f"{name} had {a} {item}. {PRONOUN[name]} gave away {b} of them. How many {item} are left?"
    return q, [eq(a, "-", b, a - b)], a - b


def _age(rng):
    name, rel = rng.choice(NAMES), rng.choice(RELATIVES)
    a, b = rng.randint(3, 12), rng.randint(1, 20)
    if rng.random() < 0.5:
        q = f"{name} is {a} years old. {name}'s {rel} is {b} years older. How old is the {rel}?"
        return q, [eq(a, "+", b, a + b)], a + b
    a = a + b  # the relative is younger: keep the age positive
    q = f"{name} is {a} years old. {name}'s {rel} is {b} years younger. How old is the {rel}?"
    return q, [eq(a, "-", b, a - b)], a - b


def _pages(rng):
    name = rng.choice(NAMES)
    a = rng.randint(20, 60)
    b = rng.randint(1, a - 1)
    q = f"A book has {a} pages. {name} has read {b} pages. How many pages are left?"
    return q, [eq(a, "-", b, a - b)], a - b


def _buy(rng):
    name, good = rng.choice(NAMES), rng.choice(GOODS)
    p, n = _price(rng), rng.randint(2, 5)
    q = f"A {good} costs {fmt(p)} yuan. {name} buys {n} of them. How much does {name} pay?"
    return q, [eq(p, "*", n, p * n)], p * n


def _groups(rng):
    (group, item) = rng.choice(GROUPS)
    n, m = rng.randint(2, 5), rng.randint(2, 10)
    q = f"There are {n} {group} with {m} {item} in each. How many {item} are there?"
    return q, [eq(n, "*", m, n * m)], n * m


def _share(rng):
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    n, each = rng.randint(2, 5), rng.randint(2, 10)
    total = n * each
    q = f"{name} shares {total} {item} equally among {n} friends. How many {item} does each friend get?"
    return q, [eq(total, "/", n, each)], Fraction(each)


def _add_sub(rng):
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    a, b = rng.randint(2, 30), rng.randint(2, 20)
    c = rng.randint(1, a + b - 1)
    q = (f"{name} has {a} {item}. {PRONOUN[name]} buys {b} more and then gives {c} to a friend. "
         f"How many {item} does {name} have now?")
    return q, [eq(a, "+", b, a + b), eq(a + b, "-", c, a + b - c)], a + b - c


def _pages_two_days(rng):
    name = rng.choice(NAMES)
    b, c = rng.randint(2, 20), rng.randint(2, 20)
    a = rng.randint(b + c + 1, 60)
    d1, d2 = DAYS[0], DAYS[1]
    q = (f"A book has {a} pages. {name} reads {b} pages on {d1} and {c} pages on {d2}. "
         f"How many pages are left?")
    return q, [eq(b, "+", c, b + c), eq(a, "-", b + c, a - b - c)], a - b - c


def _age_later(rng):
    name, rel = rng.choice(NAMES), rng.choice(RELATIVES)
    a, b, c = rng.randint(3, 12), rng.randint(1, 20), rng.randint(2, 10)
    q = f"{name} is {a} years old. {name}'s {rel} is {b} years older. How old will the {rel} be in {c} years?"
    return q, [eq(a, "+", b, a + b), eq(a + b, "+", c, a + b + c)], a + b + c


def _buy_two(rng):
    name, g1, g2 = rng.choice(NAMES), *rng.sample(GOODS, 2)
    p, q_price, n = _price(rng), _price(rng), rng.randint(2, 4)
    q = (f"A {g1} costs {fmt(p)} yuan and a {g2} costs {fmt(q_price)} yuan. "
         f"{name} buys {n} {g1}s and one {g2}. How much does {name} pay?")
    return q, [eq(p, "*", n, p * n), eq(p * n, "+", q_price, p * n + q_price)], p * n + q_price


def _change(rng):
    name, good = rng.choice(NAMES), rng.choice(GOODS)
    p, n = _price(rng), rng.randint(2, 5)
    cost = p * n
    money = Fraction(rng.choice([20, 50])) if cost < 20 else Fraction(50)
    q = f"{name} has {fmt(money)} yuan and buys {n} {good}s at {fmt(p)} yuan each. How much money is left?"
    return q, [eq(p, "*", n, cost), eq(money, "-", cost, money - cost)], money - cost


def _groups_left(rng):
    (group, item) = rng.choice(GROUPS)
    n, m = rng.randint(2, 6), rng.randint(2, 10)
    c = rng.randint(1, n * m - 1)
    q = f"There are {n} {group} with {m} {item} in each. {c} {item} are taken away. How many {item} are left?"
    return q, [eq(n, "*", m, n * m), eq(n * m, "-", c, n * m - c)], n * m - c


def _shop_day(rng):
    place, item = rng.choice(PLACES)
    a = rng.randint(20, 60)
    b = rng.randint(1, a // 2)
    c = rng.randint(1, a - b - 1)
    d = rng.randint(2, 20)
    q = (f"A {place} had {a} {item}. It gave out {b} in the morning and {c} in the afternoon, "
         f"then got {d} more. How many {item} does the {place} have now?")
    steps = [eq(a, "-", b, a - b), eq(a - b, "-", c, a - b - c), eq(a - b - c, "+", d, a - b - c + d)]
    return q, steps, a - b - c + d


def _shopping_list(rng):
    name, g1, g2 = rng.choice(NAMES), *rng.sample(GOODS, 2)
    p, n, q_price = _price(rng), rng.randint(2, 3), _price(rng)
    cost = p * n + q_price
    money = Fraction(50)
    q = (f"{name} has {fmt(money)} yuan. {PRONOUN[name]} buys {n} {g1}s at {fmt(p)} yuan each "
         f"and a {g2} for {fmt(q_price)} yuan. How much money is left?")
    steps = [eq(p, "*", n, p * n), eq(p * n, "+", q_price, cost), eq(money, "-", cost, money - cost)]
    return q, steps, money - cost


def _class_groups(rng):
    boys, girls = rng.randint(5, 20), rng.randint(5, 20)
    group = rng.choice([2, 3, 4, 5, 6])
    total = boys + girls
    total -= total % group  # make the division exact: drop the remainder from the girls
    girls = total - boys
    if girls < 1:
        return _class_groups(rng)
    q = (f"A class has {boys} boys and {girls} girls. The teacher puts them in groups of {group}. "
         f"How many groups are there?")
    return q, [eq(boys, "+", girls, total), eq(total, "/", group, Fraction(total, group))], Fraction(total, group)


# (template, weight): one-step problems are the common case, as in CMATH's lower grades.
TEMPLATES = [
    (_add, 3), (_sub, 3), (_age, 2), (_pages, 2), (_buy, 2), (_groups, 2), (_share, 1),
    (_add_sub, 2), (_pages_two_days, 2), (_age_later, 1), (_buy_two, 2), (_change, 2), (_groups_left, 1),
    (_shop_day, 1), (_shopping_list, 1), (_class_groups, 1),
]
_FUNCS = [t for t, _ in TEMPLATES]
_WEIGHTS = [w for _, w in TEMPLATES]


def sample(rng: random.Random) -> tuple[str, str, str]:
    """One random problem: (question, target, gold)."""
    template = rng.choices(_FUNCS, weights=_WEIGHTS)[0]
    question, steps, answer = template(rng)
    gold = fmt(Fraction(answer))
    target = " ".join(steps) + f"\nThe answer is {gold}."
    return question, target, gold


def generate(n: int, seed: int, exclude: set[str] | frozenset[str] = frozenset()) -> list[Problem]:
    """`n` distinct problems from `random.Random(seed)`; questions in `exclude` are skipped.

    Duplicates are skipped rather than kept so a split never scores the same question twice.
    """
    rng = random.Random(seed)
    seen, out = set(exclude), []
    while len(out) < n:
        question, target, gold = sample(rng)
        if question in seen:
            continue
        seen.add(question)
        out.append(Problem(id=f"arith-{seed}-{len(out):05d}", question=question, gold=gold, target=target))
    return out


# ---- the evaluation splits ------------------------------------------------------------------------
#
# Every problem of arith100 and arith1000 has its own number set (the numbers of its question, in
# order), within a split and across the two: a model answers two questions that differ only in names
# alike, so such twins would count one problem twice (issue 24: the generator's first arith1000 held
# 811 number sets among its 1,000 questions). Each split takes, in order,
#   1. the problems of its retired version (seeds RETIRED_SEEDS, the splits before issue 24): training
#      has always skipped those questions, so the bundled model never saw one of them;
#   2. then fresh draws from FRESH_SEEDS,
# each only if its number set is not taken yet and the bundled model's training data does not hold
# the question itself. The bundled model stays as it is: apart from it means not one evaluation
# question in its 256,256 training problems. Their number sets it did see, under other names (the
# one-step templates have a few hundred number sets each, all drawn in 256,256 problems).
# Building the splits replays that training data (8 s), so they are written once into splits/*.jsonl
# (`python -m t2m.data --write`) and read from there; a test rebuilds and compares them.

RETIRED_SEEDS = {"arith100": 100_100, "arith1000": 101_000}
FRESH_SEEDS = {"arith100": 200_100, "arith1000": 201_000}
EVAL_SIZES = {"arith100": 100, "arith1000": 1000}
SPLITS_DIR = Path(__file__).with_name("splits")
# The recipe of the bundled checkpoint (t2m/tiny/README.md): seed 0, 8,000 steps of 32 problems, and
# a validation set of 256 drawn with seed -1, every retired evaluation question skipped.
BUNDLED_TRAINING = {"seed": 0, "steps": 8000, "batch_size": 32, "val_size": 256}

_NUMBER = re.compile(r"\d+(?:\.\d+)?")
# The words a template fills in besides numbers: who and what a problem is about.
_VARYING = sorted({*NAMES, *PRONOUN.values(), *ITEMS, *GOODS, *(g + "s" for g in GOODS), *RELATIVES,
                   *(w for pair in GROUPS + PLACES for w in pair)}, key=len, reverse=True)  # fmt: skip
_VARYING_WORD = re.compile(r"\b(?:" + "|".join(_VARYING) + r")\b")


def number_set(question: str) -> tuple[str, ...]:
    """The numbers of a question in order: what an evaluation problem must not share with another."""
    return tuple(_NUMBER.findall(question))


def twin_key(question: str) -> str:
    """Names ignored: the person, relative, object and place words as one placeholder, whitespace
    runs as one space (the template's own words and every number kept)."""
    return " ".join(_VARYING_WORD.sub("\u2400", question).split())


def eval_split(name: str) -> list[Problem]:
    """The frozen evaluation split `name` (see above), read from splits/NAME.jsonl."""
    rows = [json.loads(line) for line in (SPLITS_DIR / f"{name}.jsonl").read_text(encoding="utf-8").splitlines() if line]
    return [Problem(**row) for row in rows]


def build_eval_splits() -> dict[str, list[Problem]]:
    """Every evaluation split, built as described above (the content of splits/*.jsonl)."""
    trained = bundled_training_questions()
    taken: set[tuple[str, ...]] = set()
    splits = {}
    for name, size in EVAL_SIZES.items():
        candidates = itertools.chain(generate(size, RETIRED_SEEDS[name]), _draws(FRESH_SEEDS[name]))
        chosen = []
        for p in candidates:
            if len(chosen) == size:
                break
            if number_set(p.question) in taken or p.question in trained:
                continue
            taken.add(number_set(p.question))
            chosen.append(Problem(id=f"{name}-{len(chosen):04d}", question=p.question, gold=p.gold, target=p.target))
        splits[name] = chosen
    return splits


def _draws(seed: int):
    rng = random.Random(seed)
    while True:
        question, target, gold = sample(rng)
        yield Problem(id="", question=question, gold=gold, target=target)


def retired_questions() -> frozenset[str]:
    """Every question of the retired evaluation splits: training skips them still, so that the bundled
    recipe draws exactly the batches it drew."""
    return frozenset(p.question for name, size in EVAL_SIZES.items() for p in generate(size, RETIRED_SEEDS[name]))


def eval_questions() -> frozenset[str]:
    """Every question training must never see: the evaluation splits' and the retired splits'."""
    return retired_questions() | frozenset(p.question for name in EVAL_SIZES for p in eval_split(name))


def bundled_training_questions() -> frozenset[str]:
    """Every question the bundled model was trained or validated on (its recipe, replayed)."""
    r, skip = BUNDLED_TRAINING, retired_questions()
    batches = [training_stream(r["seed"], step, r["batch_size"], skip) for step in range(r["steps"])]
    batches.append(training_stream(-1 - r["seed"], 0, r["val_size"], skip))
    return frozenset(p.question for batch in batches for p in batch)


def training_stream(seed: int, step: int, n: int, exclude: frozenset[str]) -> list[Problem]:
    """The `n` training problems of one optimizer step, a pure function of (seed, step).

    Seeding per step (a string seed is hashed deterministically by `random`) makes a resumed run draw
    exactly the batches an uninterrupted one would, and the "train-" prefix keeps this family apart
    from the integer seeds of the evaluation splits.
    """
    return seeded_batch(sample, "train", seed, step, n, exclude)


def seeded_batch(draw, family: str, seed: int, step: int, n: int, exclude: frozenset[str]) -> list[Problem]:
    """`n` problems from `draw(rng)` under the seed "{family}-{seed}-{step}", questions in `exclude` skipped."""
    rng = random.Random(f"{family}-{seed}-{step}")
    out = []
    while len(out) < n:
        question, target, gold = draw(rng)
        if question not in exclude:
            out.append(Problem(id=f"{family}-{seed}-{step}-{len(out)}", question=question, gold=gold, target=target))
    return out


# ---- the datasets --------------------------------------------------------------------------------

# The plain format the tiny model was trained on: the model continues after "Answer:".
TEMPLATE = "Question: {question}\nAnswer:"
# The tiny model's answers (at most three equations and the answer line) take at most 45 tokens, so
# 64 (two blocks) covers them with room for EOS and a garbled, longer answer.
GEN_LENGTH = 64


def development(n: int) -> list[Problem]:
    """`n` development problems: the generator's own stream under a seed of its own, every evaluation
    question skipped (a matched control's tau is calibrated on them)."""
    return generate(n, "calibration-dev", exclude=eval_questions())


@register_dataset("arith100", template=TEMPLATE, gen_length=GEN_LENGTH, takes_path=False, twin_key=twin_key,
                  development=development)
def arith100(path=None) -> list[Problem]:
    """100 bundled arith problems, one number set each (the format the tiny model was trained on)."""
    return eval_split("arith100")


@register_dataset("arith1000", template=TEMPLATE, gen_length=GEN_LENGTH, takes_path=False, twin_key=twin_key,
                  development=development)
def arith1000(path=None) -> list[Problem]:
    """1,000 bundled arith problems, one number set each, none sharing one with arith100."""
    return eval_split("arith1000")


def main(argv=None) -> None:
    import argparse

    ap = argparse.ArgumentParser(description="Build the arith evaluation splits into t2m/data/splits/ (or check them).")
    ap.add_argument("--write", action="store_true", help="write splits/*.jsonl (default: only say whether they match)")
    args = ap.parse_args(argv)
    for name, problems in build_eval_splits().items():
        text = "".join(json.dumps(asdict(p)) + "\n" for p in problems)
        path = SPLITS_DIR / f"{name}.jsonl"
        same = path.exists() and path.read_text(encoding="utf-8") == text
        if args.write and not same:
            SPLITS_DIR.mkdir(exist_ok=True)
            path.write_text(text, encoding="utf-8")
        print(f"{name}: {len(problems)} problems, {len({number_set(p.question) for p in problems})} number sets; "
              f"{path} {'matches' if same else 'written' if args.write else 'differs'}")
