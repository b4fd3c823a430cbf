"""The demo benchmark: the paper's grid as the sweep file defines it, the random-remask control, and a
short end-to-end run that prints every figure."""

import pytest
import torch

from t2m import DecodeConfig
from t2m.bench import demo
from t2m.decoding.policies import STRATEGIES, StepView


def test_paper_grid_is_the_sweep_files_109_configurations():
    grid = demo.paper_grid()
    assert len(grid) == 109
    by_strategy = {s: sum(g["strategy"] == s for g in grid) for s in ("t2t", "lowprob", "t2t_remask", "logitdiff")}
    assert by_strategy == {"t2t": 1, "lowprob": 45, "t2t_remask": 27, "logitdiff": 36}
    assert grid[0] == {"strategy": "t2t", "tau": 0.5}
    assert {"strategy": "lowprob", "tau": 0.9, "c_max": 5, "rho_max": 1.0} in grid
    DecodeConfig(**grid[-1])  # every entry is a valid configuration


def _view(rows=64, block=32, tau=0.2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    p_old = torch.rand(rows, block, generator=gen)
    old = torch.randint(5, 400, (rows, block), generator=gen)
    ones = torch.ones(rows, block, dtype=torch.bool)
    return StepView(old, old, p_old, p_old, p_old, ones, torch.full((rows, 1), tau))


def test_random_remask_flags_about_tau_of_the_tokens_at_random():
    assert STRATEGIES["random_remask"].remasks
    for tau in (0.05, 0.3):
        flags, score = demo.random_remask(_view(tau=tau))
        assert abs(flags.float().mean().item() - tau) < 0.03
        assert ((score >= 0) & (score < 1)).all()
    v = _view(tau=0.3)
    flags, score = demo.random_remask(v)
    # Not a detector: flagged and unflagged tokens have the same probabilities on average.
    assert abs(v.p_old[flags].mean() - v.p_old[~flags].mean()) < 0.05
    # Reproducible and row-local: a row's draws do not depend on the other rows of its batch.
    again, _ = demo.random_remask(StepView(*(t[:5] for t in (v.old, v.x0, v.p0, v.p_old, v.p_prev_old, v.editable, v.tau))))
    assert torch.equal(again, flags[:5])


def test_mcnemar_counts_discordant_pairs_against_the_baseline():
    base = demo.Outcome(DecodeConfig(), [True, True, False, False, False], None, 0.0, 1.0)
    other = demo.Outcome(DecodeConfig(strategy="lowprob"), [True, False, True, True, False], None, 0.0, 1.0)
    fixed, broken, p = other.versus(base)
    assert (fixed, broken) == (2, 1)
    assert p == pytest.approx(1.0)  # 3 discordant pairs, 2 vs 1: exact two-sided binomial p = 1
    assert base.versus(base) == (0, 0, 1.0)


@pytest.mark.slow
def test_demo_prints_every_figure(capsys):
    demo.main(["--split", "arith100", "--limit", "4", "--controls", "0.1,0.3"])
    out = capsys.readouterr().out
    assert "T2T accuracy:" in out and "last_mile" in out and "reasoning" in out
    assert out.count("fixed") >= 109 + 3  # every configuration, the best one again, two controls
    assert "random_remask" in out and "matched remask count" in out
    assert "109 configurations x 4 problems" in out


@pytest.mark.parametrize("argv, named", [
    (["--controls", "0.1,x"], "--controls"),
    (["--controls", "0,0.1"], "--controls"),
    (["--limit", "0"], "--limit"),
    (["--model", "/nonexistent/ckpt"], "--model"),
])
def test_bad_input_is_one_line_and_exit_2_before_decoding(argv, named, capsys):
    with pytest.raises(SystemExit) as e:
        demo.main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert named in err[-1] and "Traceback" not in "\n".join(err)
