"""Pareto fronts and hypervolume of configurations scored on several objectives.

Every function takes losses: one row per configuration, one column per objective, lower is better
(negate what is maximised, e.g. accuracy). Used by the search's pruning, its shortlist and the
benchmark that compares a search's front with a grid's.

    non_dominated(losses)                 which rows no other row dominates
    pareto_ranks(losses, violations)      0 for the front, 1 for the front of the rest, ...; feasible before infeasible
    hypervolume_2d(losses, reference)     the area the front dominates up to a reference point (exact)
    reference_point(losses)               each objective's worst value plus a tenth of its span
"""

from __future__ import annotations

import numpy as np


def dominates(a, b) -> bool:
    """Whether loss vector `a` is at least as good as `b` everywhere and better somewhere."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return bool(np.all(a <= b) and np.any(a < b))


def non_dominated(losses) -> np.ndarray:
    """Boolean mask of the rows no other row dominates (equal rows are all kept)."""
    pts = np.asarray(losses, float).reshape(len(losses), -1)
    better_or_equal = np.all(pts[:, None, :] <= pts[None, :, :], axis=2)  # [i, j]: i <= j everywhere
    strictly = np.any(pts[:, None, :] < pts[None, :, :], axis=2)
    dominated = np.any(better_or_equal & strictly, axis=0)  # j is dominated by some i
    return ~dominated


def pareto_ranks(losses, violations=None) -> np.ndarray:
    """Non-dominated sorting: rank 0 is the front, rank 1 the front once rank 0 is removed, and so on.
    With `violations` (> 0: by how much a constraint is broken) feasible rows come first, and
    infeasible ones follow in order of their violation (Deb's constrained domination)."""
    pts = np.asarray(losses, float).reshape(len(losses), -1)
    ranks = np.full(len(pts), -1)
    viol = np.zeros(len(pts)) if violations is None else np.clip(np.asarray(violations, float), 0, None)
    feasible = viol <= 0
    rank = 0
    left = np.flatnonzero(feasible)
    while left.size:
        front = left[non_dominated(pts[left])]
        ranks[front] = rank
        left = np.setdiff1d(left, front)
        rank += 1
    for v in np.unique(viol[~feasible]):  # infeasible: less violation first, ties share a rank
        ranks[(viol == v) & ~feasible] = rank
        rank += 1
    return ranks


def hypervolume_2d(losses, reference) -> float:
    """The area dominated by two-objective `losses` and bounded by `reference` (points that do not
    beat the reference on both objectives add nothing). Exact: a sweep over the front sorted by the
    first objective."""
    pts = np.asarray(losses, float).reshape(-1, 2)
    ref = np.asarray(reference, float)
    pts = pts[np.all(pts < ref, axis=1)]
    if not len(pts):
        return 0.0
    pts = pts[np.lexsort((pts[:, 1], pts[:, 0]))]  # by the first objective, ties by the second
    area, best_second = 0.0, ref[1]
    for first, second in pts:
        if second < best_second:
            area += (ref[0] - first) * (best_second - second)
            best_second = second
    return float(area)


def reference_point(losses, margin: float = 0.1) -> np.ndarray:
    """A hypervolume reference point for `losses`: each objective's worst value, moved a `margin`
    share of its span further (so the extreme points still count); two fronts compared on one set of
    configurations (e.g. a grid's) get the same point."""
    pts = np.asarray(losses, float).reshape(len(losses), -1)
    span = pts.max(axis=0) - pts.min(axis=0)
    return pts.max(axis=0) + margin * np.where(span > 0, span, 1.0)
