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

import random
from fractions import Fraction

from t2m.data import Problem

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


# The evaluation splits: fixed seeds, never to change (results on disk are keyed by these names).
# Training draws from `training_stream`, a different seed family, and also drops these questions.
EVAL_SEEDS = {"arith100": 100_100, "arith1000": 101_000}
EVAL_SIZES = {"arith100": 100, "arith1000": 1000}


def eval_split(name: str) -> list[Problem]:
    problems = generate(EVAL_SIZES[name], EVAL_SEEDS[name])
    return [Problem(id=f"{name}-{i:04d}", question=p.question, gold=p.gold, target=p.target)
            for i, p in enumerate(problems)]


def eval_questions() -> frozenset[str]:
    """Every question of every evaluation split: training must never see these."""
    return frozenset(p.question for name in EVAL_SEEDS for p in eval_split(name))


def training_stream(seed: int, step: int, n: int, exclude: frozenset[str]) -> list[Problem]:
    """The `n` training problems of one optimizer step, a pure function of (seed, step).

    Seeding per step (a string seed is hashed deterministically by `random`) makes a resumed run draw
    exactly the batches an uninterrupted one would, and the "train-" prefix keeps this family apart
    from the integer seeds of the evaluation splits.
    """
    rng = random.Random(f"train-{seed}-{step}")
    out = []
    while len(out) < n:
        question, target, gold = sample(rng)
        if question not in exclude:
            out.append(Problem(id=f"train-{seed}-{step}-{len(out)}", question=question, gold=gold, target=target))
    return out
