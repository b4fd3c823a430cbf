"""The union sweeper: named sweeps expand to the right configurations, through Hydra itself."""

from __future__ import annotations

import sys

import hydra
import pytest
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from t2m.pipeline import cli as sweep
from t2m.pipeline.sweepers.union import expand, grid_overrides

PAPER = ({("t2t", 0.5, None, None)}
         | {("lowprob", t, c, r) for t in (0.1, 0.3, 0.5, 0.7, 0.9) for c in (1, 3, 5) for r in (0.25, 0.5, 1.0)}
         | {("t2t_remask", t, c, r) for t in (0.5, 0.7, 0.9) for c in (1, 3, 5) for r in (0.25, 0.5, 1.0)}
         | {("logitdiff", t, c, r) for t in (0.1, 0.2, 0.3, 0.5) for c in (1, 3, 5) for r in (0.25, 0.5, 1.0)})  # fmt: skip


def parse(*overrides):
    return OverridesParser.create().parse_overrides(list(overrides))


def grids_of(name):
    grids = OmegaConf.load(sweep.SWEEPS_DIR / f"{name}.yaml").hydra.sweeper.grids
    return [parse(*grid_overrides(g)) for g in grids.values()]


def as_points(jobs):
    """(strategy, tau, c_max, rho_max) of override lists; C_max and rho_max only where a grid set them."""
    out = []
    for job in jobs:
        kv = dict(o.split("=", 1) for o in job)
        num = lambda k, f: f(kv[k]) if k in kv else None  # noqa: E731
        out.append((kv["strategy"], num("tau", float), num("c_max", int), num("rho_max", float)))
    return out


def test_paper_ablation_is_the_papers_109():
    points = as_points(expand(parse("sweep=paper_ablation"), grids_of("paper_ablation")))
    assert len(points) == 109 == len(set(points))
    assert set(points) == PAPER


def test_command_line_applies_to_every_grid():
    jobs = expand(parse("sweep=paper_ablation", "c_max=1", "dataset=arith1000,arith100"), grids_of("paper_ablation"))
    assert len(jobs) == 2 * (1 + 12 * 3)  # c_max=1 narrows each T2M grid and is added to the baseline
    assert all("c_max=1" in job and "sweep=paper_ablation" in job for job in jobs)


def test_without_grids_it_is_the_basic_sweeper():
    jobs = expand(parse("strategy=lowprob,logitdiff", "tau=0.1,0.3"), [])
    assert jobs == [["strategy=lowprob", "tau=0.1"], ["strategy=lowprob", "tau=0.3"],
                    ["strategy=logitdiff", "tau=0.1"], ["strategy=logitdiff", "tau=0.3"]]  # fmt: skip


def test_overlapping_grids_run_once():
    grids = [parse("strategy=lowprob", "tau=0.1,0.3"), parse("strategy=lowprob", "tau=0.3,0.5")]
    assert len(expand([], grids)) == 3


def test_grid_values_may_be_yaml_lists():
    assert grid_overrides({"tau": [0.1, 0.3], "c_max": None, "eos_early_stop": False}) == ["tau=0.1,0.3", "c_max=null", "eos_early_stop=false"]


@pytest.fixture
def hydra_multirun(tmp_path, monkeypatch):
    """Run a multirun through Hydra with the real config and sweeper but a task that only records
    each job's decoding keys (no model)."""

    def run(*overrides, record=lambda cfg: (cfg.strategy, cfg.tau, cfg.c_max, cfg.rho_max)):
        seen = []
        task = lambda cfg: seen.append(record(cfg))  # noqa: E731
        monkeypatch.setattr(sys, "argv", ["t2m.sweep", "-m", *overrides, "tracker=none", f"hydra.sweep.dir={tmp_path}",
                                          "hydra/job_logging=disabled", "hydra/hydra_logging=disabled"])  # fmt: skip
        sweep.register_named_sweeps()
        GlobalHydra.instance().clear()
        hydra.main(version_base="1.3", config_path=str(sweep.CONF_DIR), config_name="config")(task)()
        GlobalHydra.instance().clear()
        return seen

    return run


def test_hydra_runs_the_quick_sweep_with_group_defaults(hydra_multirun, tmp_path):
    from t2m.decoding.registry import STRATEGIES

    seen = hydra_multirun("sweep=quick", "dataset.limit=2")
    order = ["t2t", "none", "lowprob", "t2t_remask", "logitdiff"]
    assert seen == [(s, STRATEGIES[s].default_tau, 1, 0.25) for s in order]  # each at its registered default
    assert [t for _, t, _, _ in seen] == [0.5, 0.0, 0.3, 0.7, 0.2]  # the paper's
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir())[:2] == ["0_t2t_tau0.5_c1_rho0.25", "1_none_tau0.0_c1_rho0.25"]


def test_hydra_drops_configurations_that_compose_identically(hydra_multirun):
    # `strategy=t2t` already means tau=0.5: the three spellings are one configuration
    assert hydra_multirun("strategy=t2t", "tau=0.5,0.50,0.7") == [("t2t", 0.5, 1, 0.25), ("t2t", 0.7, 1, 0.25)]


@pytest.mark.slow
def test_hydra_expands_paper_ablation_to_109_jobs(hydra_multirun, tmp_path):
    seen = hydra_multirun("sweep=paper_ablation")
    assert len(seen) == 109 == len(set(seen))
    norm = {(s, t, None, None) if s == "t2t" else (s, t, c, r) for s, t, c, r in seen}
    assert norm == PAPER
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 109  # one Hydra job directory each


def test_a_sweep_without_its_baseline_runs_it_first(hydra_multirun):
    assert hydra_multirun("strategy=lowprob", "tau=0.1,0.3", "c_max=3") == [("t2t", 0.5, 1, 0.25), ("lowprob", 0.1, 3, 0.25), ("lowprob", 0.3, 3, 0.25)]
    assert hydra_multirun("strategy=lowprob", "tau=0.1,0.3", "baseline=none") == [("lowprob", 0.1, 1, 0.25), ("lowprob", 0.3, 1, 0.25)]
    # a chosen baseline that is not in the sweep is added the same way
    assert hydra_multirun("strategy=logitdiff", "baseline={strategy:lowprob,tau:0.5}")[0] == ("lowprob", 0.5, 1, 0.25)


def test_one_baseline_per_context(hydra_multirun):
    record = lambda cfg: (cfg.strategy, cfg.threshold, cfg.dataset.name)  # noqa: E731
    seen = hydra_multirun("strategy=t2t,lowprob", "threshold=0.5,0.7", "dataset=arith100", record=record)
    assert len(seen) == 4  # each threshold has its T2T run already: nothing added
    seen = hydra_multirun("strategy=lowprob", "threshold=0.5,0.7", "dataset=arith100,arith1000", record=record)
    assert sorted(seen[:4]) == [("t2t", t, d) for t in (0.5, 0.7) for d in ("arith100", "arith1000")]
    # naming the threshold in the baseline makes it one run for every threshold (per dataset)
    seen = hydra_multirun("strategy=lowprob", "threshold=0.5,0.7", "baseline={strategy:t2t,threshold:0.7}", record=record)
    assert seen[0] == ("t2t", 0.7, "arith100") and len(seen) == 3
