"""The result store: atomic files, durable appends, torn lines, fingerprints, summaries."""

from __future__ import annotations

import json

import pytest

from t2m.analysis.metrics import summarize, wilson_interval
from t2m.pipeline.store import SAMPLES, RunStore, atomic_write_json, read_jsonl

KEY = {"decode": {"strategy": "lowprob", "tau": 0.3}, "model": "tiny", "dataset": "arith100", "code": "abc"}


def rec(i, correct=True, **kw):
    r = {"id": f"p{i}", "correct": correct, "strict_correct": correct, "modifications": 2, "t2t_edits": 0, "remasks": 2,
         "forwards": 10, "output_tokens": 20, "decode_share_s": 0.5}  # fmt: skip
    r.update(kw)
    return r


def test_append_and_resume(tmp_path):
    s = RunStore(tmp_path, KEY)
    s.append([rec(0), rec(1)])
    s.append([rec(2)])
    again = RunStore(tmp_path, KEY)  # a later process with the same fingerprint keeps everything
    assert again.done_ids() == {"p0", "p1", "p2"}
    assert [r["id"] for r in again.records()] == ["p0", "p1", "p2"]


def test_torn_last_line_is_ignored_then_cut_off(tmp_path):
    s = RunStore(tmp_path, KEY)
    s.append([rec(0), rec(1)])
    with open(tmp_path / SAMPLES, "a") as f:
        f.write('{"id": "p2", "correct": tr')  # a kill in the middle of a write
    assert [r["id"] for r in read_jsonl(tmp_path / SAMPLES)] == ["p0", "p1"]
    s = RunStore(tmp_path, KEY)  # reopening repairs the tail, so the next append is not glued onto it
    s.append([rec(2)])
    assert [r["id"] for r in s.records()] == ["p0", "p1", "p2"]


def test_a_duplicate_record_counts_once(tmp_path):
    s = RunStore(tmp_path, KEY)
    s.append([rec(0, correct=True), rec(0, correct=False)])
    assert len(s.records()) == 1 and s.records()[0]["correct"] is True


def test_other_fingerprint_moves_old_results_aside(tmp_path):
    s = RunStore(tmp_path, KEY)
    s.append([rec(0)])
    s.write_summary({"accuracy": 1.0})
    other = RunStore(tmp_path, {**KEY, "code": "def"})
    assert other.done_ids() == set() and not (tmp_path / "summary.json").exists()
    stale = list((tmp_path / "stale").iterdir())
    assert len(stale) == 1 and [r["id"] for r in read_jsonl(stale[0] / SAMPLES)] == ["p0"]
    assert json.loads((stale[0] / "summary.json").read_text()) == {"accuracy": 1.0}


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    atomic_write_json(tmp_path / "summary.json", {"a": 1})
    atomic_write_json(tmp_path / "summary.json", {"a": 2})
    assert json.loads((tmp_path / "summary.json").read_text()) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


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
