"""`python -m t2m.sweep` as a user runs it, with the bundled model, the real decoder and real data:
a two-configuration multirun, resume after a kill, config errors, submitit, W&B files read back."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys

import pandas as pd
import pytest
from conftest import cli_env

from t2m.decoding.registry import (
    STRATEGIES,  # the registry is the one list of strategies
)
from t2m.pipeline.paths import SWEEPS_DIR

pytestmark = pytest.mark.slow

SMALL = ("dataset.limit=4", "gen_length=32")  # a few problems, short answers: seconds, not minutes
SAMPLE_FIELDS = {"id", "prompt", "gold", "generation", "extracted", "correct", "strict_correct", "tokens", "forwards",
                 "t2t_edits", "remasks", "modifications", "output_tokens", "wall_time_s"}  # fmt: skip


def jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def wandb_records(run_dir):
    """The records of an offline run's .wandb file (W&B's own log format: a 7-byte header, then
    32 KiB blocks of chunks with a crc32/length/type header), parsed with W&B's protobufs."""
    from wandb.proto import wandb_internal_pb2 as pb

    (path,) = run_dir.glob("*.wandb")
    data, pos, buf = path.read_bytes(), 7, b""
    assert data[:4] == b":W&B"
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:  # a block's tail too short for a header is padding
            pos += 32768 - pos % 32768
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        buf += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a full record, or the last chunk of one
            record = pb.Record()
            record.ParseFromString(buf)
            buf = b""
            yield record


def wandb_run(run_dir):
    """(run record, summary) of an offline run; nested summary values are only named, not rebuilt."""
    run, summary = None, {}
    for r in wandb_records(run_dir):
        if r.WhichOneof("record_type") == "run":
            run = r.run
        if r.WhichOneof("record_type") == "summary":
            for u in r.summary.update:  # a nested value comes as one item per leaf: keep its top-level name
                name = u.key or u.nested_key[0]
                summary[name] = json.loads(u.value_json) if u.key else summary.get(name, {})
    return run, summary


def test_multirun_of_two_configurations(t2m_cli, tmp_path):
    sweep = tmp_path / "sweep"
    p = t2m_cli("-m", "strategy=lowprob,logitdiff", "tau=0.3", *SMALL, "batch_size=3", f"hydra.sweep.dir={sweep}", check=True)
    out = p.stdout + p.stderr

    jobs = sorted(d for d in sweep.iterdir() if d.is_dir() and d.name[0].isdigit())
    # the sweep has no T2T run to compare with, so it runs one first (baseline=none would not)
    assert [d.name for d in jobs] == ["0_t2t_tau0.5_c1_rho0.25", "1_lowprob_tau0.3_c1_rho0.25", "2_logitdiff_tau0.3_c1_rho0.25"]
    base = {s["id"]: s["correct"] for s in jsonl(jobs[0] / "samples.jsonl")}
    jobs = jobs[1:]
    for job, strategy in zip(jobs, ["lowprob", "logitdiff"]):
        assert f"strategy: {strategy}" in (job / "config.yaml").read_text()
        samples = jsonl(job / "samples.jsonl")
        assert len(samples) == 4 and len({s["id"] for s in samples}) == 4
        assert all(SAMPLE_FIELDS <= set(s) for s in samples)
        assert all(s["modifications"] == s["remasks"] + s["t2t_edits"] and s["output_tokens"] == len(s["tokens"]) for s in samples)
        summary = json.loads((job / "summary.json").read_text())
        assert summary["strategy"] == strategy and summary["n"] == 4 and summary["complete"]
        assert summary["accuracy"] == sum(s["correct"] for s in samples) / 4
        assert summary["accuracy_ci95"][0] <= summary["accuracy"] <= summary["accuracy_ci95"][1]
        paired = summary["paired"]  # written when the sweep ended, the baseline being done
        assert paired["baseline"] == "0_t2t_tau0.5_c1_rho0.25" and paired["n"] == 4
        assert paired["fixed"] == sum(s["correct"] and not base[s["id"]] for s in samples)
        assert paired["broken"] == sum(base[s["id"]] and not s["correct"] for s in samples)
        assert summary["mean_forwards"] == pytest.approx(sum(s["forwards"] for s in samples) / 4)
        repro = summary["repro"]
        assert repro["model"] == "bundled:tiny-dllm" and repro["dataset"] == "arith100" and repro["dataset_limit"] == 4
        assert repro["device"] == "cpu" and repro["dtype"] == "float32" and repro["versions"]["torch"]
        assert f"{strategy} tau=0.3 c_max=1 rho_max=0.25 | acc" in out  # the per-configuration summary line
    assert out.count("Loaded ") == 1  # one model load for the whole sweep

    table = pd.read_parquet(sweep / "sweep_results.parquet")
    assert list(table["strategy"]) == ["t2t", "lowprob", "logitdiff"] and len(pd.read_csv(sweep / "sweep_results.csv")) == 3
    assert table["vs_baseline"].iloc[0] == "baseline" and set(table["vs_baseline"].iloc[1:]) <= {"better", "worse", "n.s."}
    assert "paired   vs #0 on 4 problems" in out
    assert (sweep / "cost_vs_accuracy.png").read_bytes()[:4] == b"\x89PNG"

    runs = {}
    for run_dir in sorted((sweep / "wandb").glob("offline-run-*")):
        assert (run_dir / next(run_dir.glob("*.wandb")).name).stat().st_size > 0
        run, summary = wandb_run(run_dir)
        runs[run.job_type] = (run_dir, run, summary)
    assert set(runs) == {"t2t", "lowprob", "logitdiff", "sweep"}
    for strategy in ("lowprob", "logitdiff"):
        run_dir, run, summary = runs[strategy]
        assert run.run_group == "adhoc" and run.project == "t2m"
        job_summary = json.loads((sweep / jobs[strategy == "logitdiff"].name / "summary.json").read_text())
        assert summary["accuracy"] == job_summary["accuracy"] and summary["n"] == 4
        assert list((run_dir / "files" / "media" / "table").glob("samples_*.table.json"))
        config = {item.key: json.loads(item.value_json) for item in run.config.update}
        assert config["strategy"] == strategy and config["dataset"]["limit"] == 4
    run_dir, run, summary = runs["sweep"]
    assert list((run_dir / "files" / "media" / "images").glob("cost_vs_accuracy_*.png"))
    assert {"accuracy_vs_mean_modifications", "accuracy_vs_mean_forwards", "configurations"} <= set(summary)
    assert summary["baseline"] == "0_t2t_tau0.5_c1_rho0.25" and summary["vs_baseline/n.s."] + summary["vs_baseline/better"] + summary["vs_baseline/worse"] == 2
    # the W&B charts: one series per strategy and verdict, coloured and shaped as in the PNG, with every knob on hover
    (chart,) = (run_dir / "files" / "media" / "plotly").glob("accuracy_vs_mean_forwards_*.plotly.json")
    traces = json.loads(chart.read_text())["data"]
    assert {t["name"].split(" · ")[0] for t in traces} == {"t2t", "lowprob", "logitdiff"}
    star = next(t for t in traces if t["name"] == "t2t · baseline")
    assert star["marker"]["symbol"] == "star" and star["marker"]["color"] == "rgba(0, 0, 0, 1.0)"
    assert any("lowprob τ=0.3 C_max=1 ρ_max=0.25" in h and "fixed" in h for t in traces for h in t["hovertext"])
    assert all(len(t["error_y"]["array"]) == len(t["x"]) for t in traces)  # the Wilson intervals


KILLER = """
import os, signal, sys
from t2m import sweep
from t2m.pipeline.store import entries as store
append = store.Entry.append
def append_then_die(self, records):  # a hard kill right after the first chunk is durable
    append(self, records)
    os.kill(os.getpid(), signal.SIGKILL)
store.Entry.append = append_then_die
sys.argv[0] = "t2m.sweep"
sweep.main()
"""


def test_resume_after_a_kill_loses_and_repeats_nothing(t2m_cli, tmp_path):
    run_dir = tmp_path / "run"
    args = ("strategy=lowprob", "dataset.limit=6", "gen_length=32", "batch_size=2", "tracker=none", f"hydra.run.dir={run_dir}")
    (tmp_path / "killer.py").write_text(KILLER)
    p = subprocess.run([sys.executable, "killer.py", *args], cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert p.returncode == -signal.SIGKILL, p.stderr
    first = jsonl(run_dir / "samples.jsonl")
    assert len(first) == 2 and not (run_dir / "summary.json").exists()
    with open(run_dir / "samples.jsonl", "a") as f:
        f.write('{"id": "arith100-0002", "prompt": "Quest')  # and a torn write on top

    # Same command again, now with a W&B that cannot work (online, no API key): local results must not care.
    env = {**cli_env(tmp_path), "HOME": str(tmp_path)}
    again = [a if a != "tracker=none" else "tracker=wandb_online" for a in args]
    p = subprocess.run([sys.executable, "-m", "t2m.sweep", *again], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    assert "2/6 samples already" in p.stderr + p.stdout
    assert "Took over the lock of configuration" in p.stderr + p.stdout  # the killed run's lock, released by the kernel
    assert "W&B cannot reach" in p.stderr + p.stdout and "writing offline runs instead" in p.stderr + p.stdout
    samples = jsonl(run_dir / "samples.jsonl")
    assert [s["id"] for s in samples] == [f"arith100-{i:04d}" for i in range(6)]
    assert samples[:2] == first  # finished samples were kept, not decoded again
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["n"] == 6 and summary["complete"]

    p = t2m_cli(*args, check=True)  # all done: nothing is decoded, the summary is rewritten identically
    assert "6/6 samples already" in p.stderr + p.stdout
    assert jsonl(run_dir / "samples.jsonl") == samples
    assert json.loads((run_dir / "summary.json").read_text())["accuracy"] == summary["accuracy"]


BAD = [
    (["strategy=foo"], f"strategy=foo is unknown; allowed: {', '.join(sorted(STRATEGIES))}"),
    (["tau=1.5"], "tau=1.5 is out of range; allowed: a number in [0, 1]"),
    (["rho_max=0"], "rho_max=0 is out of range; allowed: a number in (0, 1]"),
    (["c_max=0"], "c_max=0 is invalid; allowed: an integer >= 1"),
    (["block_length=0"], "block_length=0 is invalid; allowed: an integer >= 1"),
    (["dataset=foo"], "dataset=foo is unknown; allowed: arith100, arith1000, carry_dev, carry_test, cmath, cmath100, gsm8k"),
    (["dataset=cmath100", "dataset.path=missing.jsonl"], "dataset.path='missing.jsonl' does not exist"),
    (["model.dtype=float64"], "model.dtype='float64' is unknown; allowed: float32, bfloat16, float16"),
    (["-m", "tau=0.1,1.5"], "tau=1.5 is out of range"),  # a sweep stops before its first job
    (["-m", "sweep=nope"], f"sweep=nope is unknown; allowed: {', '.join(sorted(s.stem for s in SWEEPS_DIR.glob('*.yaml')))}"),
    (["nosuchkey=1"], "nosuchkey is not a config key"),
    (["+foo=1"], "foo is not a config key"),
    (["gen_length=1000"], "gen_length=1000 does not fit the model"),
    (["dataset=gsm8k", "dataset.path=empty.jsonl"], "dataset.path='empty.jsonl': holds no problems"),
]


def test_config_errors_exit_2_with_one_line_before_loading_anything(tmp_path):
    """A sample of tests/test_faults.py's matrix as separate processes, all at once."""
    env = cli_env(tmp_path)
    (tmp_path / "empty.jsonl").write_text("")
    procs = []
    for i, (args, _) in enumerate(BAD):  # all at once: each is a Python start-up, nothing more
        out = tmp_path / str(i)
        procs.append(subprocess.Popen([sys.executable, "-m", "t2m.sweep", *args, f"hydra.run.dir={out}", f"hydra.sweep.dir={out}"],
                                      cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))  # fmt: skip
    for (args, message), proc in zip(BAD, procs):
        stdout, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 2, (args, stdout, stderr)
        assert len(stderr.strip().splitlines()) == 1 and message in stderr, (args, stderr)
        assert "Loaded" not in stdout + stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.jsonl"]  # nothing written, not even a run directory


def test_submitit_local_launcher(t2m_cli, tmp_path):
    sweep = tmp_path / "sweep"
    t2m_cli("-m", "strategy=lowprob,none", "dataset.limit=2", "gen_length=32", "tracker=none", "hydra/launcher=submitit_local",
            f"hydra.sweep.dir={sweep}", check=True)  # fmt: skip
    summaries = sorted(sweep.glob("*/summary.json"))
    assert [json.loads(s.read_text())["strategy"] for s in summaries] == ["t2t", "lowprob", "none"]  # with the baseline
    assert len(pd.read_csv(sweep / "sweep_results.csv")) == 3
    assert os.path.isdir(sweep / ".submitit")
