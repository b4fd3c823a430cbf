"""The result store: entries by fingerprint, durable appends, torn lines, the per-configuration lock
(two real processes), job directory views, summaries."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import REPO
from t2m.analysis.metrics import summarize, wilson_interval
from t2m.pipeline.store.jobdir import CONFIG, POINTER, SUMMARY, JobDir, pointed_records
from t2m.pipeline.store import lock as locks
from t2m.pipeline.store.lock import Busy, FileLock, WaitedTooLong
from t2m.pipeline.store.entries import SAMPLES, Entry, StoreError, atomic_write_json, fingerprint, read_jsonl, read_records, write_atomically

KEY = {"decode": {"strategy": "lowprob", "tau": 0.3}, "model": "tiny", "dataset": "arith100", "code": "abc"}


def rec(i, correct=True, **kw):
    r = {"id": f"p{i}", "correct": correct, "strict_correct": correct, "modifications": 2, "t2t_edits": 0, "remasks": 2,
         "forwards": 10, "output_tokens": 20, "decode_share_s": 0.5}  # fmt: skip
    r.update(kw)
    return r


def test_entry_is_named_by_its_fingerprint_whatever_the_key_order(tmp_path):
    reordered = {k: KEY[k] for k in reversed(KEY)}
    assert Entry(tmp_path, KEY).path == Entry(tmp_path, reordered).path == tmp_path / fingerprint(KEY)
    assert Entry(tmp_path, {**KEY, "code": "other"}).path != Entry(tmp_path, KEY).path


def test_append_and_resume(tmp_path):
    entry = Entry(tmp_path, KEY)
    with entry.claim():
        entry.append([rec(0), rec(1)])
        entry.append([rec(2)])
    again = Entry(tmp_path, KEY)  # a later process with the same fingerprint sees everything
    assert again.done_ids() == {"p0", "p1", "p2"}
    assert [r["id"] for r in again.records(["p2", "p0", "p9"])] == ["p2", "p0"]  # a job's own ids, in its order
    assert json.loads((entry.path / "key.json").read_text())["key"] == KEY


def test_append_needs_the_lock(tmp_path):
    with pytest.raises(StoreError, match="without holding"):
        Entry(tmp_path, KEY).append([rec(0)])


def test_torn_last_line_is_ignored_then_cut_off(tmp_path):
    entry = Entry(tmp_path, KEY)
    with entry.claim():
        entry.append([rec(0), rec(1)])
    with open(entry.samples_path, "a") as f:
        f.write('{"id": "p2", "correct": tr')  # a kill in the middle of a write
    assert [r["id"] for r in read_jsonl(entry.samples_path)] == ["p0", "p1"]
    with entry.claim():  # the next holder repairs the tail, so its append is not glued onto it
        entry.append([rec(2)])
    assert [r["id"] for r in entry.records()] == ["p0", "p1", "p2"]


def test_a_duplicate_record_counts_once(tmp_path):
    entry = Entry(tmp_path, KEY)
    with entry.claim():
        entry.append([rec(0, correct=True), rec(0, correct=False)])
    assert len(entry.records()) == 1 and entry.records()[0]["correct"] is True


def test_an_entry_whose_key_does_not_match_its_name_is_never_written(tmp_path):
    entry = Entry(tmp_path, KEY)
    entry.path.mkdir(parents=True)
    (entry.path / "key.json").write_text(json.dumps({"fingerprint": "somethingelse"}))
    with pytest.raises(StoreError, match="does not describe"):
        with entry.claim():
            pass
    assert not entry.samples_path.exists()


def test_atomic_write_leaves_no_temporary_files_and_a_failed_write_keeps_the_old_file(tmp_path):
    atomic_write_json(tmp_path / "summary.json", {"a": 1})
    atomic_write_json(tmp_path / "summary.json", {"a": 2})

    def half_then_fail(tmp):
        tmp.write_text('{"a": ')
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        write_atomically(tmp_path / "summary.json", half_then_fail)
    assert json.loads((tmp_path / "summary.json").read_text()) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


# ---- the lock ------------------------------------------------------------------------------------


def test_lock_names_its_holder_and_a_clean_release_leaves_nobody_to_take_over_from(tmp_path):
    lock = FileLock(tmp_path / ".lock", what="thing")
    with lock.hold():
        holder = lock.holder()
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
        with FileLock(tmp_path / ".lock", what="thing").hold():  # the same process re-enters (a packed job)
            pass
        assert lock.held and lock.holder()["pid"] == os.getpid()  # the inner release did not drop it
    assert not lock.held and (tmp_path / ".lock").read_bytes() == b""
    again = FileLock(tmp_path / ".lock", what="thing")
    with again.hold():
        assert again.took_over is None


HOLDER = textwrap.dedent("""
    import pathlib, sys, time
    sys.path.insert(0, {repo!r})
    from t2m.pipeline.store.lock import FileLock
    lock = FileLock(pathlib.Path(sys.argv[1]), what="thing")
    lock.acquire()
    pathlib.Path(sys.argv[2]).write_text("held")
    time.sleep(600)
""")


def test_lock_across_processes_busy_stop_wait_and_take_over_from_a_dead_holder(tmp_path):
    """Two real processes: the second sees the first's host and pid, stops or waits, and takes the
    lock over once the first is killed (the kernel releases it; the file still names the dead one)."""
    path, ready = tmp_path / ".lock", tmp_path / "ready"
    child = subprocess.Popen([sys.executable, "-c", HOLDER.format(repo=str(REPO)), str(path), str(ready)])
    try:
        deadline = time.time() + 60
        while not ready.exists():
            assert time.time() < deadline and child.poll() is None
            time.sleep(0.05)
        lock = FileLock(path, what="configuration X")
        assert not lock.try_acquire()
        assert lock.holder()["pid"] == child.pid
        with pytest.raises(Busy, match=rf"configuration X is in use by host {socket.gethostname()}, pid {child.pid}"):
            lock.acquire(if_busy="stop")
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        lock.acquire(if_busy="wait")  # returns once the dead holder's lock is gone
        assert lock.took_over["pid"] == child.pid
        lock.release()
    finally:
        if child.poll() is None:
            child.kill()


KEEPER = textwrap.dedent("""
    import pathlib, sys, time
    sys.path.insert(0, {repo!r})
    from t2m.pipeline.store.lock import FileLock, LockLost
    lock = FileLock(pathlib.Path(sys.argv[1]), what="thing", expected=True)
    lock.acquire()
    out = pathlib.Path(sys.argv[2])
    out.write_text("held")
    go = pathlib.Path(str(out) + ".go")
    while not go.exists():
        time.sleep(0.05)
    try:
        lock.check()  # what an append does first
        out.write_text("still held")
    except LockLost as e:
        out.write_text("lost: " + str(e))
    time.sleep(600)
""")


def _keeper(tmp_path):
    path, out = tmp_path / ".lock", tmp_path / "out"
    path.touch()  # as Entry._create does
    child = subprocess.Popen([sys.executable, "-c", KEEPER.format(repo=str(REPO)), str(path), str(out)])
    deadline = time.time() + 60
    while not out.exists():
        assert time.time() < deadline and child.poll() is None
        time.sleep(0.05)
    return child, path, out


def test_a_lock_file_deleted_under_a_live_holder_lets_nobody_in(tmp_path):
    """The holder (a real process) puts its file back, or writes itself into the newcomer's within
    the newcomer's grace; either way the newcomer stays out and the holder keeps the lock."""
    child, path, out = _keeper(tmp_path)
    try:
        for _ in range(2):
            path.unlink()  # by hand, while held
            newcomer = FileLock(path, what="thing", expected=True)
            assert not newcomer.try_acquire() and not newcomer.held
            deadline = time.time() + 10  # a holder that put a new file back writes its name into it just after
            while (newcomer.holder() or {}).get("pid") != child.pid:  # locking it (empty in between: failed under load)
                assert time.time() < deadline, newcomer.holder()
                time.sleep(0.05)
        time.sleep(2 * locks.CHECK_S)
        assert not FileLock(path, what="thing", expected=True).try_acquire()
        (tmp_path / "out.go").touch()
        deadline = time.time() + 30
        while out.read_text() == "held":
            assert time.time() < deadline
            time.sleep(0.05)
        assert out.read_text() == "still held"
    finally:
        child.kill()
        child.wait()


def test_a_stopped_holder_is_named_and_the_wait_gives_up_and_a_deleted_file_is_lost_not_shared(tmp_path, caplog):
    """A holder stopped with SIGSTOP: a waiter says so once and gives up after wait_timeout_s. Its
    file deleted while it is stopped: a newcomer takes the path after its grace, and the holder,
    continued, finds its lock lost before it would append."""
    child, path, out = _keeper(tmp_path)
    try:
        os.kill(child.pid, signal.SIGSTOP)
        waiter = FileLock(path, what="configuration X", expected=True)
        with pytest.raises(WaitedTooLong, match=rf"pid {child.pid} .*which is stopped \(SIGSTOP or Ctrl-Z\).*gave up after 1.5 s"):
            waiter.acquire("wait", timeout_s=1.5)
        assert sum("is stopped" in r.getMessage() for r in caplog.records) == 1
        path.unlink()
        newcomer = FileLock(path, what="configuration X", expected=True)
        assert newcomer.try_acquire()  # nobody wrote itself in during the grace: the stopped holder cannot
        os.kill(child.pid, signal.SIGCONT)
        (tmp_path / "out.go").touch()
        deadline = time.time() + 60
        while out.read_text() == "held":
            assert time.time() < deadline
            time.sleep(0.1)
        assert out.read_text().startswith("lost: lost the lock of thing: its lock file was deleted by hand and host")
        assert newcomer.held
        deadline = time.time() + 10  # the continued holder wrote its name in before it saw the loss; the newcomer's
        while newcomer.holder()["pid"] != os.getpid():  # watcher writes its own back within a round (CHECK_S)
            assert time.time() < deadline, newcomer.holder()
            time.sleep(0.05)
        newcomer.release()
    finally:
        os.kill(child.pid, signal.SIGCONT)
        child.kill()
        child.wait()


# ---- the job directory view ----------------------------------------------------------------------


def test_job_dir_shows_a_fresh_configuration_at_once_and_another_only_when_finished(tmp_path):
    first, second = Entry(tmp_path / "store", KEY), Entry(tmp_path / "store", {**KEY, "code": "new"})
    for entry in (first, second):
        with entry.claim():
            entry.append([rec(0), rec(1)])
    job = JobDir(tmp_path / "job")
    assert job.begin(first, ["p0", "p1"], "strategy: lowprob\n", {"overrides.yaml": "- a=1\n"})
    assert job.shows() == first.fingerprint
    assert [r["id"] for r in pointed_records(job.path, json.loads((job.path / POINTER).read_text()))] == ["p0", "p1"]
    assert os.readlink(job.path / SAMPLES) == os.path.relpath(first.samples_path, job.path)
    job.finish(first, ["p0", "p1"], "strategy: lowprob\n", {"overrides.yaml": "- a=1\n"}, {"fingerprint": first.fingerprint})

    before = {p: (job.path / p).read_bytes() for p in (CONFIG, SUMMARY, POINTER, ".hydra/overrides.yaml")}
    assert not job.begin(second, ["p0"], "strategy: none\n", {"overrides.yaml": "- a=2\n"})  # not displaced yet
    assert {p: (job.path / p).read_bytes() for p in before} == before
    job.finish(second, ["p0"], "strategy: none\n", {"overrides.yaml": "- a=2\n"}, {"fingerprint": second.fingerprint})
    assert job.shows() == second.fingerprint and (job.path / CONFIG).read_text() == "strategy: none\n"
    (stale,) = (job.path / "stale").iterdir()
    assert stale.name.startswith(first.fingerprint)
    assert {p: (stale / p).read_bytes() for p in before} == before  # the old view, moved whole
    assert first.done_ids() == {"p0", "p1"}  # its samples never moved


# ---- metrics -------------------------------------------------------------------------------------


def test_wilson_interval():
    lo, hi = wilson_interval(93, 100)
    assert lo == pytest.approx(0.8625, abs=1e-3) and hi == pytest.approx(0.9657, abs=1e-3)
    assert wilson_interval(0, 10)[0] == 0.0 and 0.25 < wilson_interval(0, 10)[1] < 0.35
    assert wilson_interval(10, 10)[1] == 1.0
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_summarize():
    records = [rec(0), rec(1, correct=False, modifications=4, forwards=30), rec(2)]
    s = summarize(records, n_expected=4)
    assert s["n"] == 3 and s["complete"] is False
    assert s["accuracy"] == pytest.approx(2 / 3) and s["n_correct"] == 2
    assert s["accuracy_ci95"][0] < 2 / 3 < s["accuracy_ci95"][1]
    assert s["mean_modifications"] == pytest.approx(8 / 3) and s["mean_forwards"] == pytest.approx(50 / 3)
    assert s["wall_time_s"] == pytest.approx(1.5) and s["tokens_per_s"] == pytest.approx(60 / 1.5)
    assert summarize([])["accuracy"] is None


# ---- integrity and identity ----------------------------------------------------------------------


def test_records_carry_checksums_old_ones_without_are_accepted_and_edits_are_not_counted(tmp_path):
    from t2m.pipeline.store.entries import CHECKSUM, check_records

    old = tmp_path / "old.jsonl"
    old.write_text("".join(json.dumps(rec(i)) + "\n" for i in range(2)))  # written before records had checksums
    assert [r["id"] for r in read_records(old)] == ["p0", "p1"]
    entry = Entry(tmp_path / "store", KEY)
    with entry.claim():
        entry.append([rec(0), rec(1, correct=False), rec(2)])
    lines = entry.samples_path.read_text().splitlines()
    assert all(CHECKSUM in json.loads(line) for line in lines) and CHECKSUM not in entry.records()[0]
    edited = json.loads(lines[1]) | {"correct": True}
    unsigned = {k: v for k, v in json.loads(lines[2]).items() if k != CHECKSUM}  # a record added by hand
    entry.samples_path.write_text("\n".join([lines[0], json.dumps(edited), json.dumps(unsigned), lines[0]]) + "\n")
    seen, problems = check_records(entry.samples_path)
    assert list(seen) == ["p0"] and problems == ["p1 fails its checksum (edited by hand?)", "p2 fails its checksum (edited by hand?)",
                                                 "p0 is stored again (a duplicate)"]  # fmt: skip
    assert entry.done_ids() == {"p0"}  # the next run decodes p1 and p2 again


def test_file_digests_are_cached_by_signature_and_a_rewritten_file_is_hashed_again(tmp_path, monkeypatch):
    from t2m.pipeline.store import digest

    cache_dir = tmp_path / "store"  # the cache lives in the store: nothing is written outside the results
    monkeypatch.setattr(digest, "_memo", {})
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    weights = ckpt / "model.safetensors"
    weights.write_bytes(b"\1" * digest.CACHE_FROM)
    first = digest.directory_digest(ckpt, cache_dir)
    cache = json.loads(digest.cache_path(cache_dir).read_text())
    (entry,) = cache.values()
    entry["digest"] = "0" * 32  # what the cache says is believed: the file is not read again
    digest.cache_path(cache_dir).write_text(json.dumps(cache))
    monkeypatch.setattr(digest, "_memo", {})
    assert digest.file_digest(weights, cache_dir) == "0" * 32
    weights.write_bytes(b"\2" * digest.CACHE_FROM)  # the same size, other bytes, a new mtime
    monkeypatch.setattr(digest, "_memo", {})
    assert digest.directory_digest(ckpt, cache_dir) not in (first, "0" * 32)


def test_a_hub_revision_is_pinned_to_the_commit_the_cache_names_offline(tmp_path, monkeypatch):
    from huggingface_hub import constants

    from t2m.pipeline.store.provenance import UnresolvedRevision, hub_commit

    from t2m.pipeline import network

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    network.hub_offline.cache_clear()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    refs = tmp_path / "models--org--model" / "refs"
    refs.mkdir(parents=True)
    (refs / "main").write_text("a" * 40)
    hub_commit.cache_clear()
    assert hub_commit("org/model", None) == "a" * 40 and hub_commit("org/model", "b" * 40) == "b" * 40
    with pytest.raises(UnresolvedRevision, match="revision 'v2' is not in the Hugging Face cache"):
        hub_commit("org/model", "v2")
    hub_commit.cache_clear()
