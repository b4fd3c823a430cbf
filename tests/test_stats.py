"""Paired statistics on hand-made outcomes, checked against values computed here from first principles:
McNemar's p from the binomial formula, the bootstrap interval from the exact distribution of a
resampled mean difference."""

from __future__ import annotations

import math

import pytest

from t2m.analysis import stats


def paired(n: int, fixed: int, broken: int, both_right: int) -> tuple[dict, dict]:
    """(configuration, baseline) outcomes over problems p0..p{n-1} with the given discordant counts."""
    config, base = {}, {}
    kinds = [(True, False)] * fixed + [(False, True)] * broken + [(True, True)] * both_right
    kinds += [(False, False)] * (n - len(kinds))
    for i, (c, b) in enumerate(kinds):
        config[f"p{i}"], base[f"p{i}"] = c, b
    return config, base


def mcnemar_by_hand(fixed: int, broken: int) -> float:
    """Two-sided exact binomial test at 1/2: twice the smaller tail, at most 1."""
    m, k = fixed + broken, min(fixed, broken)
    return min(1.0, 2 * sum(math.comb(m, i) for i in range(k + 1)) / 2**m)


def exact_bootstrap_quantiles(n: int, fixed: int, broken: int, q=(0.025, 0.975)) -> list[float]:
    """Quantiles of the bootstrap distribution of Δ = (F - B) / n, where a resample of the n pairs
    draws F fixed and B broken pairs: (F, B, rest) ~ Multinomial(n; fixed/n, broken/n, rest/n)."""
    pf, pb = fixed / n, broken / n
    pr = 1 - pf - pb
    pmf: dict[int, float] = {}
    for f in range(n + 1):
        for b in range(n + 1 - f):
            p = math.comb(n, f) * math.comb(n - f, b) * pf**f * pb**b * pr ** (n - f - b)
            pmf[f - b] = pmf.get(f - b, 0.0) + p
    out, cdf = [], 0.0
    values = sorted(pmf)
    for target in q:
        cdf = 0.0
        for v in values:
            cdf += pmf[v]
            if cdf >= target:
                out.append(v / n)
                break
    return out


@pytest.mark.parametrize(("fixed", "broken"), [(6, 1), (8, 0), (4, 0), (3, 9), (5, 5)])
def test_mcnemar_p_matches_the_binomial_formula(fixed, broken):
    config, base = paired(40, fixed, broken, both_right=10)
    r = stats.compare(config, base)
    assert (r.n, r.fixed, r.broken) == (40, fixed, broken)
    assert r.p_value == pytest.approx(mcnemar_by_hand(fixed, broken), rel=1e-12)
    assert r.delta == pytest.approx((fixed - broken) / 40)
    assert r.accuracy == pytest.approx((fixed + 10) / 40) and r.baseline_accuracy == pytest.approx((broken + 10) / 40)


def test_known_values():
    assert stats.mcnemar_exact(8, 0) == pytest.approx(2 / 256)  # 0.0078: significant
    assert stats.mcnemar_exact(4, 0) == pytest.approx(0.125)  # the arith1000 case: not significant
    assert stats.mcnemar_exact(6, 1) == pytest.approx(16 / 128)
    assert stats.mcnemar_exact(0, 0) == 1.0


@pytest.mark.parametrize(("n", "fixed", "broken"), [(30, 6, 1), (50, 2, 7), (40, 3, 3)])
def test_bootstrap_interval_matches_the_exact_resampling_distribution(n, fixed, broken):
    config, base = paired(n, fixed, broken, both_right=n // 3)
    lo, hi = stats.compare(config, base).delta_ci95
    exact_lo, exact_hi = exact_bootstrap_quantiles(n, fixed, broken)
    # 9999 resamples estimate the quantiles of a lattice with step 1/n: closer than half a step to the exact ones
    assert lo == pytest.approx(exact_lo, abs=0.5 / n)
    assert hi == pytest.approx(exact_hi, abs=0.5 / n)
    assert lo <= (fixed - broken) / n <= hi


def test_bootstrap_is_seeded():
    config, base = paired(60, 7, 2, both_right=20)
    a, b = stats.compare(config, base), stats.compare(config, base)
    assert a.delta_ci95 == b.delta_ci95
    assert stats.compare(config, base, seed=1).delta_ci95 == stats.compare(config, base, seed=1).delta_ci95


def test_only_problems_both_hold_count():
    config, base = paired(20, 4, 0, both_right=5)
    config["extra"] = True  # decoded by the configuration only
    del base["p0"]  # a fixed problem the baseline has not decoded (yet)
    r = stats.compare(config, base)
    assert r.n == 19 and r.fixed == 3 and r.broken == 0


def test_identical_configurations_and_no_overlap():
    config, _ = paired(25, 0, 0, both_right=9)
    r = stats.compare(config, dict(config))
    assert (r.fixed, r.broken, r.delta, r.delta_ci95, r.p_value, r.verdict) == (0, 0, 0.0, (0.0, 0.0), 1.0, "n.s.")
    r = stats.compare({"a": True}, {"b": False})
    assert r.n == 0 and r.verdict == "n.s." and math.isnan(r.delta)


def test_verdicts():
    assert stats.compare(*paired(100, 10, 1, 30)).verdict == "better"  # p = 0.012
    assert stats.compare(*paired(100, 1, 10, 30)).verdict == "worse"
    assert stats.compare(*paired(100, 4, 0, 30)).verdict == "n.s."  # p = 0.125
    d = stats.compare(*paired(100, 10, 1, 30)).to_dict()
    assert d["verdict"] == "better" and isinstance(d["delta_ci95"], list) and d["n"] == 100


def test_outcomes_first_record_wins():
    recs = [{"id": 1, "correct": True}, {"id": "2", "correct": False}, {"id": 1, "correct": False}]
    assert stats.outcomes(recs) == {"1": True, "2": False}


@pytest.mark.parametrize(("config", "base"), [(True, False), (False, True), (True, True), (False, False)])
def test_one_problem_gives_the_uninformative_interval(config, base):
    r = stats.compare({"p0": config}, {"p0": base})  # dataset.limit=1
    assert r.n == 1 and r.delta == int(config) - int(base)
    assert r.delta_ci95 == (-1.0, 1.0) and r.verdict == "n.s."
    assert r.to_dict()["delta_ci95"] == [-1.0, 1.0]
# Families adjusted by hand. Holm: sort p ascending, multiply the i-th smallest (i from 0) by m - i, take
# the running maximum, cap at 1. Benjamini–Hochberg: multiply the i-th smallest (rank i + 1) by m / (i + 1),
# take the running minimum from the largest down, cap at 1.
@pytest.mark.parametrize(("p", "holm", "bh"), [
    # sorted 0.005, 0.01, 0.03, 0.04 -> Holm 0.02, 0.03, 0.06, max(0.06, 0.04); BH 0.02, 0.02, 0.04, 0.04
    ([0.01, 0.04, 0.03, 0.005], [0.03, 0.06, 0.06, 0.02], [0.02, 0.04, 0.04, 0.02]),
    # Holm 1.2 -> 1, then max(1, 0.7); BH min(1.2, 0.7), 0.7
    ([0.6, 0.7], [1.0, 1.0], [0.7, 0.7]),
    # a family of one is its own test
    ([0.03], [0.03], [0.03]),
    # ties: 0.02 * 3, 0.02 * 2 -> max, 0.5; BH 0.02 * 3 / 2 for both, 0.5
    ([0.02, 0.5, 0.02], [0.06, 0.5, 0.06], [0.03, 0.5, 0.03]),
])  # fmt: skip
def test_adjusted_p_matches_holm_and_benjamini_hochberg_by_hand(p, holm, bh):
    assert stats.adjust(p, "holm") == pytest.approx(holm, rel=1e-12)
    assert stats.adjust(p, "bh") == pytest.approx(bh, rel=1e-12)
    assert stats.adjust(p, "none") == p


def test_a_missing_p_is_left_out_of_the_family():
    nan = float("nan")
    out = stats.adjust([nan, 0.01, 0.04], "holm")  # a family of two: 0.01 * 2, max(0.02, 0.04 * 1)
    assert math.isnan(out[0]) and out[1:] == pytest.approx([0.02, 0.04])
    assert stats.adjust([], "holm") == []
    with pytest.raises(ValueError, match="correction='bonferroni' is unknown; allowed: holm, bh, none"):
        stats.adjust([0.1], "bonferroni")


def test_verdict_follows_the_p_it_is_given():
    assert stats.verdict(0.05, 0.01) == "better" and stats.verdict(-0.05, 0.01) == "worse"
    assert stats.verdict(0.05, 0.05) == "n.s." and stats.verdict(0.05, float("nan")) == "n.s."
    raw = 0.03  # below α alone; in a family of three with two larger p, Holm's step-down p is 3 * 0.03
    assert stats.verdict(0.1, raw) == "better" and stats.verdict(0.1, stats.adjust([raw, 0.2, 0.5])[0]) == "n.s."


def test_outcomes_leave_out_undefined_values():
    records = [{"id": "a", "x": None}, {"id": "b", "x": False}, {"id": "c", "x": True}]
    assert stats.outcomes(records, value=lambda r: r["x"]) == {"b": False, "c": True}
