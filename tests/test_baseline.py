"""The `baseline` key: its syntax, which configuration is whose baseline, and which runs a sweep adds."""

from __future__ import annotations

import math

import pytest

from t2m.pipeline.report import baseline as b


def test_parse():
    assert b.parse(None) == b.default_baseline() == {"strategy": "t2t"}
    assert b.parse("none") is None and b.parse("3_t2t_tau0.5_c1_rho0.25") == "3_t2t_tau0.5_c1_rho0.25"
    assert b.parse({"strategy": "lowprob", "tau": 0.3}) == {"strategy": "lowprob", "tau": 0.3}
    assert b.parse_cli("{strategy:lowprob,tau:0.3}") == {"strategy": "lowprob", "tau": 0.3}
    assert b.parse_cli("none") == "none"  # the value; parse() turns it into "no baseline"
    for bad, message in (({}, "is empty"), ({"tua": 1}, "baseline.tua is unknown"), ({"tau": [1, 2]}, "a single value"),
                         ({"strategy": "foo"}, "baseline.strategy='foo' is unknown"), (3, "is invalid"), ("", "is invalid")):  # fmt: skip
        with pytest.raises(b.BaselineError, match=message.replace("[", r"\[")):
            b.parse(bad)
    with pytest.raises(b.BaselineError, match="not valid override syntax"):
        b.parse_cli("{strategy:")


def test_context_ignores_the_knobs_and_the_selector_keys():
    t2t = {"strategy": "t2t", "tau": 0.5, "c_max": 1, "threshold": 0.7, "model": "m", "dataset": "d", "top_k": None}
    low = {"strategy": "lowprob", "tau": 0.3, "c_max": float("nan"), "threshold": 0.7, "model": "m", "dataset": "d", "top_k": math.nan}
    sel = b.default_baseline()
    assert b.context(t2t, sel) == b.context(low, sel)  # NaN (a pandas null) is None
    assert b.context(t2t, sel) != b.context({**low, "threshold": 0.5}, sel)
    assert b.context(t2t, {"strategy": "t2t", "threshold": 0.7}) == b.context({**low, "threshold": 0.5}, {"strategy": "t2t", "threshold": 0.7})
    assert b.context(t2t, sel) != b.context({**low, "dataset": "other"}, sel)


def test_assign():
    rows = [{"job": "0", "strategy": "t2t", "dataset": "a"}, {"job": "1", "strategy": "lowprob", "dataset": "a"},
            {"job": "2", "strategy": "lowprob", "dataset": "b"}]  # fmt: skip
    assert b.assign(rows, {"strategy": "t2t"}) == ([0, 0, None], [])
    base_of, warnings = b.assign(rows + [{"job": "3", "strategy": "t2t", "dataset": "a"}], {"strategy": "t2t"})
    assert base_of == [None, None, None, None] and "matches 2 configurations (0, 3)" in warnings[0]
    with pytest.raises(b.BaselineError, match="matches none of the 3 configurations"):
        b.assign(rows, {"strategy": "logitdiff"})


def test_missing_jobs():
    jobs = [(["strategy=lowprob", "tau=0.1", "dataset=a"], {"strategy": "lowprob", "tau": 0.1, "dataset": "a"}),
            (["strategy=lowprob", "tau=0.3", "dataset=a"], {"strategy": "lowprob", "tau": 0.3, "dataset": "a"}),
            (["strategy=t2t", "dataset=b"], {"strategy": "t2t", "tau": 0.5, "dataset": "b"})]  # fmt: skip
    assert b.missing_jobs({"strategy": "t2t"}, jobs) == [["dataset=a", "strategy=t2t"]]  # dataset b has its T2T run
    assert b.missing_jobs({"strategy": "lowprob", "tau": 0.5}, jobs[:1]) == [["dataset=a", "strategy=lowprob", "tau=0.5"]]
    assert b.missing_jobs(None, jobs) == [] and b.missing_jobs("0_t2t", jobs) == []
