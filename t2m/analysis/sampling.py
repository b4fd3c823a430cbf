"""Several samples per problem (temperature > 0): accuracy at k, majority vote, and diversity.

    pass_at_k(n, c, k)            the unbiased pass@k estimator for c correct out of n samples
    summarize_samples(groups)     {problem id: [records of its samples]} -> the sampling metrics

Metrics (means over problems):
    pass@1, pass@k      unbiased estimator 1 - C(n-c, k) / C(n, k) (Chen et al. 2021), k = 1 and k = n
    majority_accuracy   the most frequent final answer (equal values count as one answer: "1,450" ==
                        "1450"; ties go to the answer seen first) is right
    distinct_answers    distinct final answers among a problem's samples (1 = the samples all agree)
    distinct_2          distinct token bigrams / all bigrams over a problem's samples (1 = no bigram repeats)
    edit_distance       mean pairwise token edit distance between a problem's samples, divided by
                        the longer sample's length (0 = identical samples, 1 = nothing in common)

Under sampling, a policy that repairs sampling errors but makes the samples alike shows it here:
pass@1 up, distinct_answers / edit_distance down, and pass@k gaining less than pass@1.
"""

from __future__ import annotations

import math
from itertools import combinations
from typing import Mapping, Sequence

import numpy as np

from t2m.scoring import _clean, to_number


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k samples drawn without replacement from n (c correct) is correct."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass_at_k needs 0 <= c <= n and 1 <= k <= n; got n={n}, c={c}, k={k}")
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)  # exact integers; int / int rounds once


def answer_key(answer: str | None):
    """What makes two final answers the same answer: their value when numeric, else their text."""
    if answer is None:
        return None
    parsed = to_number(answer)
    return ("value", parsed) if parsed is not None else ("text", _clean(answer))


def majority_correct(samples: Sequence[Mapping]) -> bool:
    """Whether the most frequent final answer among the samples is right (no answer never wins)."""
    votes: dict = {}
    for s in samples:
        key = answer_key(s.get("extracted"))
        if key is not None:
            count, correct = votes.get(key, (0, bool(s["correct"])))
            votes[key] = (count + 1, correct)
    if not votes:
        return False
    best = max(votes.values(), key=lambda v: v[0])  # max keeps the first of equal counts: the answer seen first
    return best[1]


def distinct_n(token_lists: Sequence[Sequence[int]], n: int = 2) -> float:
    grams = [tuple(t[i : i + n]) for t in token_lists for i in range(len(t) - n + 1)]
    return len(set(grams)) / len(grams) if grams else float("nan")


def edit_distance(a: Sequence[int], b: Sequence[int]) -> int:
    """Levenshtein distance between two token sequences, one numpy row per token of `a`."""
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return len(a)
    b = np.asarray(b)
    cols = np.arange(len(b) + 1)
    prev = cols.copy()
    for i, token in enumerate(a, 1):
        # a row is min(deletion, substitution) then insertions: row[j] = min_l (t[l] + j - l) = j + cummin(t - cols)
        t = np.empty_like(prev)
        t[0] = i
        t[1:] = np.minimum(prev[1:] + 1, prev[:-1] + (b != token))
        prev = np.minimum.accumulate(t - cols) + cols
    return int(prev[-1])


def mean_pairwise_edit_distance(token_lists: Sequence[Sequence[int]]) -> float:
    pairs = list(combinations(token_lists, 2))
    if not pairs:
        return float("nan")
    return float(np.mean([edit_distance(a, b) / max(len(a), len(b), 1) for a, b in pairs]))


def summarize_samples(groups: Mapping[str, Sequence[Mapping]]) -> dict:
    """The sampling metrics over problems, each with its list of sample records (same k for all)."""
    groups = {pid: s for pid, s in groups.items() if s}
    if not groups:
        return {}
    k = min(len(s) for s in groups.values())
    per_problem = []
    for samples in groups.values():
        samples = list(samples)[:k]
        c = sum(bool(s["correct"]) for s in samples)
        tokens = [s.get("tokens") or [] for s in samples]
        per_problem.append((
            pass_at_k(k, c, 1),
            pass_at_k(k, c, k),
            majority_correct(samples),
            len({answer_key(s.get("extracted")) for s in samples}),
            distinct_n(tokens, 2),
            mean_pairwise_edit_distance(tokens),
        ))  # fmt: skip
    cols = np.array(per_problem, dtype=float)
    return {
        "samples_per_prompt": k,
        "pass@1": float(cols[:, 0].mean()),
        "pass@k": float(cols[:, 1].mean()),
        "majority_accuracy": float(cols[:, 2].mean()),
        "distinct_answers": float(cols[:, 3].mean()),
        "distinct_2": float(np.nanmean(cols[:, 4])) if not np.isnan(cols[:, 4]).all() else None,
        "edit_distance": float(np.nanmean(cols[:, 5])) if not np.isnan(cols[:, 5]).all() else None,
    }
