"""The launcher's arithmetic about time limits and requeues (t2m.pipeline.launchers.limits); the same
behaviours run on a real SLURM in tests/test_cluster.py."""

import pytest

from t2m.pipeline.checks.validate import Rejected
from t2m.pipeline.launchers import limits


def test_a_time_limit_that_leaves_less_than_the_startup_margin_is_one_line_naming_the_values():
    with pytest.raises(Rejected) as e:
        limits.check_time_limit(1, 20, 120)
    line = str(e.value.error)
    assert "\n" not in line
    assert "hydra.launcher.timeout_min=1 with hydra.launcher.signal_delay_s=20 leaves 40 s" in line
    assert "set hydra.launcher.timeout_min=3 or more" in line  # 20 + 120 s rounded up to minutes
    limits.check_time_limit(3, 20, 120)  # 160 s left: enough
    limits.check_time_limit(None, 20, 120)  # no limit (the local launcher has no signal)


def test_a_pack_stops_after_two_requeues_that_stored_nothing():
    runs = lambda *stored: [{"started": 0, "stored": n} for n in stored]
    assert limits.stuck_message(runs(0), 1, 20) is None
    assert limits.stuck_message(runs(0, 0), 1, 20) is None  # one requeue: perhaps a pre-emption
    assert "requeued 2 times without storing a sample" in limits.stuck_message(runs(0, 0, 0), 1, 20)
    assert limits.stuck_message(runs(0, 4, 4), 1, 20) is None  # the first run stored some
    assert "requeued 3 times" in limits.stuck_message(runs(0, 4, 4, 4), 1, 20)


def test_attempts_are_kept_in_the_job_folder(tmp_path):
    a = limits.Attempts(tmp_path / "42_0")
    assert [r["stored"] for r in a.start(0)] == [0]
    assert [r["stored"] for r in a.start(3)] == [0, 3]
    (tmp_path / "job").mkdir()
    (tmp_path / "job" / "samples.jsonl").write_text("{}\n{}\n")
    assert limits.stored_samples([tmp_path / "job", tmp_path / "missing"]) == 2


def test_the_live_view_says_each_change_of_a_job_in_one_line():
    from t2m.pipeline.launchers.watch import _tasks, describe

    pending = {"state": "PENDING", "reason": "Resources", "node": "", "restarts": 0}
    running = {"state": "RUNNING", "reason": "None", "node": "gpu7", "restarts": 0}
    assert describe("12_0", None, pending) == "job 12_0: pending (Resources)"
    assert describe("12_0", pending, pending) is None
    assert describe("12_0", pending, running) == "job 12_0: running on gpu7"
    assert describe("12_0", running, running) is None
    requeued = {**pending, "reason": "BeginTime", "restarts": 1}
    assert describe("12_0", running, requeued) == "job 12_0: requeued (BeginTime), restart 1"
    assert describe("12_0", running, {**running, "state": "FAILED", "reason": "NonZeroExitCode"}) == "job 12_0: failed (NonZeroExitCode)"
    assert _tasks("2-4%2") == [2, 3, 4] and _tasks("1,3") == [1, 3] and _tasks(None) == [None]
