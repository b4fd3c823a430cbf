"""The demo benchmark: the paper's grid as the sweep file defines it, the random-remask control, and a
short end-to-end run that prints every figure."""

import pytest
import torch

import t2m
from t2m import DecodeConfig
from t2m.bench import demo
from t2m.decoding.registry import strategy


def test_paper_grid_is_the_sweep_files_109_configurations():
    grid = demo.paper_grid()
    assert len(grid) == 109
    by_strategy = {s: sum(g["strategy"] == s for g in grid) for s in ("t2t", "lowprob", "t2t_remask", "logitdiff")}
    assert by_strategy == {"t2t": 1, "lowprob": 45, "t2t_remask": 27, "logitdiff": 36}
    assert grid[0] == {"strategy": "t2t", "tau": 0.5}
    assert {"strategy": "lowprob", "tau": 0.9, "c_max": 5, "rho_max": 1.0} in grid
    DecodeConfig(**grid[-1])  # every entry is a valid configuration


@pytest.fixture(scope="module")
def bundled():
    torch.set_num_threads(1)
    return t2m.load_model()


def _decode(model, problems, tau):
    from t2m.data import PROMPT_TEMPLATES, build_prompt

    prompts = [build_prompt(p, PROMPT_TEMPLATES["arith"], model.tokenizer) for p in problems]
    config = DecodeConfig(strategy=demo.CONTROL, tau=tau, c_max=5, rho_max=1.0, gen_length=64)
    return t2m.decode(model, prompts, config)


def test_random_control_remasks_more_as_tau_grows_and_ignores_the_batch(bundled):
    from t2m.data import load_problems

    assert strategy(demo.CONTROL).remasks
    problems = load_problems("arith100")[:6]
    remasks = [sum(r.remasks for r in _decode(bundled, problems, tau)) for tau in (0.001, 0.1, 0.5)]
    assert remasks[0] < remasks[1] < remasks[2]
    # Reproducible and row-local: a problem decodes to the same tokens alone and inside a batch.
    together = _decode(bundled, problems, 0.1)
    alone = _decode(bundled, problems[2:3], 0.1)
    assert together[2].tokens == alone[0].tokens and together[2].remasks == alone[0].remasks


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
    assert demo.CONTROL in out and "matched remask count" in out
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
