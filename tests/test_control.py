"""Matched random-remask controls (t2m/pipeline/control.py): the target a control job matches, the
calibration of its tau on the bundled model, and how the report pairs a detector with its control."""

import json

import pytest

import t2m
from t2m import DecodeConfig
from t2m.pipeline import control
from t2m.pipeline.report.paired import matched_controls

JOB = DecodeConfig(strategy="random_remask", c_max=3, rho_max=0.5, threshold=0.3, gen_length=64)


def test_target_is_the_jobs_settings_with_the_detectors_values():
    target = control.target_config(JOB, {"strategy": "lowprob", "tau": 0.7, "c_max": 3})
    assert (target.strategy, target.tau, target.c_max, target.rho_max, target.threshold) == ("lowprob", 0.7, 3, 0.5, 0.3)


@pytest.mark.parametrize("job, control_of, message", [
    (JOB.replace(strategy="lowprob"), {"strategy": "lowprob"}, "allowed: strategy=random_remask"),
    (JOB, {"strategy": "lowprob", "rho_max": 1.0}, "control_of.rho_max=1.0 differs from this job's rho_max=0.5"),
    (JOB, {"strategy": "t2t"}, "control_of.strategy=t2t does not remask by detection"),
    (JOB, {"strategy": "random_remask"}, "does not remask by detection"),
    (JOB, {"tau": 0.3}, "control_of has no strategy"),
    (JOB, {"strategy": "lowprob", "taus": 0.3}, "control_of.taus is unknown"),
])  # fmt: skip
def test_a_control_that_matches_nothing_is_refused(job, control_of, message):
    with pytest.raises(ValueError, match=message):
        control.target_config(job, control_of)


@pytest.fixture(scope="module")
def calibrated(bundled):
    from t2m.data import arith, build_prompt

    lm = bundled
    problems = control.calibration_problems("arith1000", [])[:12]
    prompts = [build_prompt(p, arith.TEMPLATE, lm.tokenizer) for p in problems]
    target = control.target_config(JOB, {"strategy": "lowprob", "tau": 0.9})
    return lm, prompts, target, control.calibrate(lm, JOB, target, prompts, batch_size=64)


def test_calibration_matches_the_targets_remask_count(calibrated):
    lm, prompts, target, cal = calibrated
    results = t2m.decode(lm, prompts * 2, [target] * len(prompts) + [JOB.replace(tau=cal.tau)] * len(prompts))
    n = len(prompts)
    assert cal.target_remasks == pytest.approx(sum(r.remasks for r in results[:n]) / n) and cal.target_remasks > 0
    assert cal.remasks == pytest.approx(sum(r.remasks for r in results[n:]) / n)  # what it reports is what that tau does
    # Closer than no remasking at all: on 12 problems the count moves in jumps of whole remasks, so exact matches are rare.
    assert abs(cal.remasks - cal.target_remasks) < cal.target_remasks and 0 < cal.tau < 1
    assert cal.tried > control.POINTS and cal.problems == n


def test_calibration_is_deterministic_whatever_the_batch(calibrated):
    lm, prompts, target, cal = calibrated
    assert control.calibrate(lm, JOB, target, prompts, batch_size=7) == cal  # the same tau, so the same store entry


def test_calibration_problems_are_not_evaluation_problems():
    from t2m.data import arith

    dev = control.calibration_problems("arith100", [])
    assert len(dev) == control.CALIBRATION_PROBLEMS and not {p.question for p in dev} & arith.eval_questions()


def test_the_report_pairs_each_detector_with_its_own_control():
    rows = [{"fingerprint": "a", "subset": "s"}, {"fingerprint": "b", "subset": "s"},
            {"fingerprint": "c", "subset": "s", "control_for": "a"}, {"fingerprint": "c", "subset": "s", "control_for": "b"},
            {"fingerprint": "d", "subset": "other", "control_for": "a"}]  # fmt: skip
    assert matched_controls(rows) == [(0, 2), (1, 3)]  # one configuration can control two detectors; other problems: none


def test_a_control_alone_on_the_command_line_runs_with_its_baseline_and_names_no_tau_it_did_not_use(cli, tmp_path):
    """`-m strategy=random_remask control_of=...`: the T2T baseline the sweep adds is a plain T2T run
    (not a control of anything), and the control's job directory says `control`, since its tau is
    calibrated when it runs."""
    code, out, err = cli(tmp_path, "-m", "strategy=random_remask", "control_of={strategy:lowprob,tau:0.7}", "c_max=3",
                         "rho_max=0.5", "dataset.limit=4", "tracker=none")  # fmt: skip
    assert code == 0, err[-2000:]
    (sweep,) = (tmp_path / "results" / "adhoc").iterdir()
    jobs = sorted(p.name for p in sweep.iterdir() if p.is_dir())
    assert jobs == ["0_t2t_tau0.5_c1_rho0.25", "1_random_remask_control_c3_rho0.5"]
    summary = json.loads((sweep / jobs[1] / "summary.json").read_text())
    assert summary["strategy"] == "random_remask" and summary["control_for"] and 0 < summary["tau"] < 1
