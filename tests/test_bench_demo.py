"""The demo benchmark: the paper's grid as the sweep file defines it, the random-remask control, and a
short end-to-end run that prints every figure."""

import math

import pytest

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


def _decode(model, problems, tau):
    from t2m.data import build_prompt
    from t2m.data.arith import TEMPLATE

    prompts = [build_prompt(p, TEMPLATE, model.tokenizer) for p in problems]
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


def outcome(correct, strategy="lowprob", remasks=None):
    return demo.Outcome(DecodeConfig(strategy=strategy), correct, None, remasks or [0] * len(correct), 1.0)


def test_mcnemar_counts_discordant_pairs_against_the_baseline():
    base = outcome([True, True, False, False, False], "t2t")
    other = outcome([True, False, True, True, False])
    fixed, broken, p = other.versus(base)
    assert (fixed, broken) == (2, 1)
    assert p == pytest.approx(1.0)  # 3 discordant pairs, 2 vs 1: exact two-sided binomial p = 1
    assert base.versus(base) == (0, 0, 1.0)


def test_a_family_is_marked_by_holms_p_at_the_target_level():
    base = outcome([False] * 12, "t2t")
    strong = outcome([True] * 10 + [False] * 2)  # 10 fixed, 0 broken: p = 2 / 1024
    weak = outcome([True] * 8 + [False] * 4)  # 8 fixed: p = 2 / 256 = 0.0078, below 0.01 alone
    tests = demo.family([(strong, base), (weak, base), (base, base)])
    assert [t.p for t in tests] == pytest.approx([2 / 1024, 2 / 256, 1.0])
    # by hand: 2/1024 * 3, then max(that, 2/256 * 2) = 0.0156, then 1
    assert [t.p_holm for t in tests] == pytest.approx([6 / 1024, 4 / 256, 1.0])
    assert [t.verdict for t in tests] == ["better", "n.s.", "n.s."]  # the weak one loses its mark
    assert demo._tally(tests, "T2T").startswith("significantly better than T2T: 1 of 3 after Holm; worse: 0 (α = 0.01; m·α = 0.03 "
                                                "false marks expected without correction; 2 at raw p < 0.01)")  # fmt: skip


def test_matched_tau_interpolates_the_calibration_curve():
    curve = [(0.0, 0.0), (0.01, 2.0), (0.001, 0.5), (0.1, 1.5)]  # unsorted; the last point dips (noise): held at 2.0
    assert demo.matched_tau(curve, 0.25) == pytest.approx(0.0005)  # halfway from (0, 0) to (0.001, 0.5)
    # between positive counts log-log: log τ goes the share log(1.25 / 0.5) / log(2.0 / 0.5) of the way from 0.001 to 0.01
    assert demo.matched_tau(curve, 1.25) == pytest.approx(float(f"{0.001 * 10 ** (math.log(2.5) / math.log(4)):.3g}"))
    assert demo.matched_tau(curve, 2.0) == pytest.approx(0.01) and demo.matched_tau(curve, 0.5) == pytest.approx(0.001)
    assert demo.matched_tau(curve, 0.0) == 0.0  # a detector that never remasks: a control that never does
    assert demo.matched_tau(curve, 9.0) == pytest.approx(0.1)  # beyond reach: the ladder's largest tau
    assert demo.matched_tau(curve, 1.0 / 3) == 0.000667  # three significant digits


def test_calibration_brings_the_control_to_a_detectors_remask_count(bundled):
    from t2m.data import load_problems

    problems = load_problems("arith100")[:6]
    detector = DecodeConfig(strategy="lowprob", tau=0.9, c_max=5, rho_max=1.0, gen_length=64)
    curves = demo.calibrate(bundled, problems, [detector], [0.003, 0.01, 0.03], batch_size=64)
    curve = curves[(5, 1.0)]
    assert [t for t, _ in curve] == [0.0, 0.003, 0.01, 0.03] and curve[0][1] == 0.0 and curve[1][1] < curve[3][1]
    target = (curve[1][1] + curve[2][1]) / 2
    tau = demo.matched_tau(curve, target)
    (control,) = demo.run(bundled, problems, [detector.replace(strategy=demo.CONTROL, tau=tau)], batch_size=64)
    assert 0.003 < tau < 0.01 and curve[1][1] <= control.remasks <= curve[2][1]  # between its neighbours on the ladder


@pytest.mark.slow
def test_demo_prints_every_figure(capsys):
    demo.main(["--split", "arith100", "--limit", "4", "--calibrate", "3", "--controls", "0.1,0.3"])
    out = capsys.readouterr().out
    assert "T2T accuracy:" in out and "last_mile" in out and "reasoning" in out
    assert out.count("fixed") == 108 + 108  # every configuration vs T2T, every detector vs its matched control
    assert "Calibration of the random control on the first 3 problems" in out and out.count("C_max=5 rho_max=1: tau 0 -> 0.00, tau 0.1 -> ") == 1
    assert out.count("significantly better than") == 2 and "of 108 after Holm" in out and "its matched random control" in out
    assert "109 configurations x 4 problems" in out


@pytest.mark.parametrize("argv, named", [
    (["--controls", "0.1,x"], "--controls"),
    (["--controls", "0,0.1"], "--controls"),
    (["--limit", "0"], "--limit"),
    (["--calibrate", "0"], "--calibrate"),
    (["--model", "/nonexistent/ckpt"], "--model"),
])
def test_bad_input_is_one_line_and_exit_2_before_decoding(argv, named, capsys):
    with pytest.raises(SystemExit) as e:
        demo.main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert named in err[-1] and "Traceback" not in "\n".join(err)
