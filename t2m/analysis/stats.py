"""Paired comparison of a configuration with a baseline on the same problems.

    compare(outcomes, baseline_outcomes)  ->  Paired(n, fixed, broken, delta, delta_ci95, p_value, ...)
    outcomes(records)                     ->  {problem id: correct}
    adjust(p_values, correction)          ->  the p-values adjusted for the family they form (Holm, BH)
    verdict(delta, p)                     ->  "better" / "worse" / "n.s."
    outcomes(records, value=record_faithful) -> {problem id: faithful}, problems where it is defined

Two configurations that decoded the same problems give paired results: per problem both right, both
wrong, or one of each. Only the discordant problems tell the two apart:

    fixed    the baseline was wrong, the configuration right
    broken   the baseline was right, the configuration wrong

Δaccuracy = (fixed - broken) / n. Its 95% interval is a paired bootstrap (problems resampled with
both outcomes kept together, percentile method, fixed seed: the same inputs give the same interval),
and `p_value` is the exact McNemar test: fixed against fixed + broken under a fair coin, two-sided.
Pairing is what makes small differences visible: at n = 100 each configuration's own (Wilson)
interval is about ±9 points wide, while 8 fixes and no breaks is already p = 0.008.

A sweep compares many configurations with one baseline: at α = 0.05, 108 tests of configurations
that are all as good as the baseline still mark about 5 of them. The rows compared with one baseline
in one report are a family, and their verdicts use p adjusted over it (`adjust`, `stats.correction`):
Holm's step-down p by default (family-wise error rate ≤ α), Benjamini–Hochberg's q as an option
(false discovery rate ≤ α), or none.

With one problem (`dataset.limit=1`) a bootstrap has nothing to resample: the interval is then
(-1, 1), every Δ a single pair allows, which says that one problem bounds nothing (and p = 1 or 0.5,
never significant).

Only problems both configurations hold are compared (`n` says how many), so a configuration still
running, or a sweep over a different `dataset.limit`, is compared on what the two have in common.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, Iterable, Mapping

import numpy as np
from scipy import stats

ALPHA = 0.05  # significance level of every "better"/"worse" verdict
CONFIDENCE = 0.95
N_RESAMPLES = 9999
SEED = 0
VERDICTS = ("better", "worse", "n.s.")  # p < ALPHA with Δ > 0, p < ALPHA with Δ < 0, neither
# stats.correction -> statsmodels' multipletests method (None: the raw p), and how a report names it
CORRECTIONS = {"holm": "holm", "bh": "fdr_bh", "none": None}
CORRECTION_NAMES = {"holm": "Holm", "bh": "Benjamini–Hochberg", "none": "no correction"}
DEFAULT_CORRECTION = "holm"


@dataclass(frozen=True)
class Paired:
    """A configuration against its baseline on the `n` problems both hold."""

    n: int
    fixed: int
    broken: int
    accuracy: float  # the configuration's, on the paired problems
    baseline_accuracy: float
    delta: float  # accuracy - baseline_accuracy, a fraction
    delta_ci95: tuple[float, float]
    p_value: float  # exact McNemar, two-sided

    @property
    def verdict(self) -> str:
        """The verdict of this comparison alone (a family of one, as `t2m.report diff` makes)."""
        return verdict(self.delta, self.p_value) if self.n else "n.s."

    def to_dict(self) -> dict:
        return {**asdict(self), "delta_ci95": list(self.delta_ci95), "verdict": self.verdict}


def outcomes(records: Iterable[Mapping], field: str = "correct", value: Callable[[Mapping], bool | None] | None = None) -> dict[str, bool]:
    """{problem id: outcome} of sample records, the outcome `r[field]` or `value(r)`; the first record
    of an id counts (as in the store). An outcome of None (undefined, e.g. fidelity of a chain that
    computed nothing) leaves the problem out, so a comparison pairs only problems defined in both."""
    out: dict[str, bool] = {}
    for r in records:
        v = value(r) if value is not None else r[field]
        if v is not None and str(r["id"]) not in out:
            out[str(r["id"])] = bool(v)
    return out


def compare(config: Mapping[str, bool], baseline: Mapping[str, bool], *, seed: int = SEED, n_resamples: int = N_RESAMPLES) -> Paired:
    """`config` against `baseline` ({problem id: correct} each) on the problems both hold."""
    ids = [i for i in config if i in baseline]
    x = np.fromiter((config[i] for i in ids), dtype=bool, count=len(ids))
    y = np.fromiter((baseline[i] for i in ids), dtype=bool, count=len(ids))
    n = len(ids)
    fixed, broken = int((x & ~y).sum()), int((~x & y).sum())
    if n == 0:
        nan = float("nan")
        return Paired(0, 0, 0, nan, nan, nan, (nan, nan), 1.0)
    return Paired(
        n=n,
        fixed=fixed,
        broken=broken,
        accuracy=float(x.mean()),
        baseline_accuracy=float(y.mean()),
        delta=(fixed - broken) / n,
        delta_ci95=paired_bootstrap_ci(x, y, seed=seed, n_resamples=n_resamples),
        p_value=mcnemar_exact(fixed, broken),
    )


def mcnemar_exact(fixed: int, broken: int) -> float:
    """Exact McNemar p: a two-sided binomial test of `fixed` out of the discordant pairs at 1/2."""
    if fixed + broken == 0:
        return 1.0  # no discordant problem: no evidence either way
    return float(stats.binomtest(fixed, fixed + broken, 0.5).pvalue)


def paired_bootstrap_ci(x: np.ndarray, y: np.ndarray, *, seed: int = SEED, n_resamples: int = N_RESAMPLES) -> tuple[float, float]:
    """95% percentile-bootstrap interval of mean(x) - mean(y), resampling the pairs (x_i, y_i)."""
    if len(x) == 1:
        return (-1.0, 1.0)  # every resample is the one pair again: no spread to estimate, so no bound
    if np.array_equal(x, y):
        return (0.0, 0.0)  # every resample has difference 0 (the bootstrap would call this degenerate)
    res = stats.bootstrap(
        (x.astype(float), y.astype(float)),
        _mean_difference,
        paired=True,  # one index draw per resample, applied to both: the pairs stay together
        vectorized=True,
        n_resamples=n_resamples,
        batch=max(1, 2_000_000 // len(x)),  # bound the memory of the resampled index array at large n
        confidence_level=CONFIDENCE,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return (float(res.confidence_interval.low), float(res.confidence_interval.high))


def _mean_difference(x, y, axis=-1):
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def verdict(delta: float, p: float, alpha: float = ALPHA) -> str:
    """"better" / "worse" where `p` (raw for one test, adjusted in a family) is below `alpha`, else "n.s."."""
    if not p < alpha:  # also a NaN p: no evidence
        return "n.s."
    return "better" if delta > 0 else "worse"


def adjust(p_values: Iterable[float], correction: str = DEFAULT_CORRECTION) -> list[float]:
    """The p-values of one family of tests adjusted for their number: Holm's step-down p ("holm"),
    Benjamini–Hochberg's q ("bh") or unchanged ("none"). A NaN p (no test) stays NaN and does not
    count in the family."""
    if correction not in CORRECTIONS:
        raise ValueError(f"correction={correction!r} is unknown; allowed: {', '.join(CORRECTIONS)}")
    p = np.asarray(list(p_values), dtype=float)
    out = p.copy()
    tested = ~np.isnan(p)
    if CORRECTIONS[correction] is not None and tested.any():
        from statsmodels.stats.multitest import multipletests  # imported here: a report that corrects nothing never loads it

        out[tested] = multipletests(p[tested], alpha=ALPHA, method=CORRECTIONS[correction])[1]
    return out.tolist()
