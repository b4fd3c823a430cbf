"""Sweep table and cost-vs-accuracy plot, from job directories; the multirun callback."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
from omegaconf import OmegaConf

from conftest import SHARED, cli_env
from t2m.analysis.metrics import summarize
from t2m.pipeline import report
from t2m.pipeline.callbacks import SweepOutputs
from t2m.pipeline.jobdir import JobDir
from t2m.pipeline.store import Entry

CONFIGS = [("t2t", 0.5, 1, 0.25, 0.60, 3.0, 40.0), ("lowprob", 0.3, 1, 0.25, 0.70, 5.0, 48.0),
           ("lowprob", 0.5, 3, 0.5, 0.65, 9.0, 60.0), ("logitdiff", 0.2, 1, 1.0, 0.55, 2.0, 42.0),
           ("t2t_remask", 0.7, 5, 0.25, 0.72, 12.0, 70.0)]  # fmt: skip


def fake_sweep(root, partial=True):
    """Job directories as t2m.sweep leaves them: summary.json per finished configuration and, for a
    killed one, only its view (config.yaml, store.json pointing at a store entry with 1 of 2 samples)."""
    for num, (strategy, tau, c, rho, acc, mods, fwd) in enumerate(CONFIGS):
        job = root / f"{num}_{strategy}_tau{tau}_c{c}_rho{rho}"
        job.mkdir(parents=True)
        n = 20
        records = [{"id": f"p{i}", "correct": i < acc * n, "strict_correct": i < acc * n, "modifications": mods,
                    "t2t_edits": 0, "remasks": mods, "forwards": fwd, "output_tokens": 30, "decode_share_s": 0.1}
                   for i in range(n)]  # fmt: skip
        summary = {"strategy": strategy, "tau": tau, "c_max": c, "rho_max": rho, "experiment": "unit", "model": "fake",
                   "dataset": "arith100", **summarize(records, n), "repro": {"device": "cpu"}}  # fmt: skip
        (job / "summary.json").write_text(json.dumps(summary))
    killed = root / f"{len(CONFIGS)}_none_tau0.0_c1_rho0.25"
    if partial:
        entry = Entry(root / "store", {"k": 1})
        with entry.claim():
            entry.append([{"id": "p0", "correct": True, "strict_correct": False, "modifications": 0, "t2t_edits": 0, "remasks": 0,
                           "forwards": 30, "output_tokens": 28}])  # fmt: skip
        config = {"strategy": "none", "tau": 0.0, "c_max": 1, "rho_max": 0.25, "experiment": "unit", "dataset": {"name": "arith100"}}
        JobDir(killed).begin(entry, ["p0", "p1"], OmegaConf.to_yaml(config), {})
    (root / "wandb" / "offline-run-x" / "files").mkdir(parents=True)  # never mistaken for a job
    return root


def test_collect_one_row_per_configuration(tmp_path):
    df = report.collect(fake_sweep(tmp_path))
    assert list(df["strategy"]) == [c[0] for c in CONFIGS] + ["none"]  # in Hydra's job order
    assert list(df.columns[:5]) == ["job", "strategy", "tau", "c_max", "rho_max"]
    assert df["complete"].tolist() == [True] * len(CONFIGS) + [False]
    assert df["accuracy"].iloc[1] == pytest.approx(0.70) and df["n"].iloc[-1] == 1
    assert (df["accuracy_ci95_low"] < df["accuracy"]).all()


def test_pareto_front():
    cost = pd.Series([1.0, 2.0, 3.0, 2.5, 0.5])
    acc = pd.Series([0.5, 0.7, 0.9, 0.6, 0.5])
    assert report.pareto_front(cost, acc) == [4, 1, 2]  # 0 ties 4 at higher cost; 3 is beaten by 1


def test_build_writes_table_and_plot(tmp_path):
    df, png = report.build(fake_sweep(tmp_path))
    csv = pd.read_csv(tmp_path / report.TABLE_CSV)
    pq = pd.read_parquet(tmp_path / report.TABLE_PARQUET)
    assert len(csv) == len(pq) == len(df) == len(CONFIGS) + 1
    assert list(pq["strategy"]) == list(df["strategy"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


def test_overlay_of_published_points(tmp_path):
    ref = SHARED / "reference" / "paper_ablation_cmath100.csv"
    if not ref.exists():
        ref = tmp_path / "ref.csv"
        ref.write_text("strategy,accuracy_pct,avg_modifications_per_sample,avg_forwards_per_sample\nt2t,81,12.4,119.6\nlowprob,93,69.2,180.1\n")
    sweep = fake_sweep(tmp_path / "sweep")
    p = subprocess.run([sys.executable, "-m", "t2m.report", str(sweep), "--overlay", str(ref)], cwd=tmp_path,
                       env=cli_env(tmp_path), capture_output=True, text=True, timeout=300)  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert "baseline t2t" in p.stdout and "pareto" in p.stdout
    assert (sweep / report.PLOT_PNG).exists() and (sweep / report.TABLE_PARQUET).exists()


def test_report_command_rejects_bad_input(tmp_path):
    p = subprocess.run([sys.executable, "-m", "t2m.report", str(tmp_path / "nope")], cwd=tmp_path, env=cli_env(tmp_path),
                       capture_output=True, text=True, timeout=300)  # fmt: skip
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and "results_dir" in p.stderr


def test_callback_writes_sweep_outputs(tmp_path):
    sweep = fake_sweep(tmp_path / "sweep")
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}}, "report": {"overlay": None}, "experiment": "unit",
                               "tracker": {"mode": "disabled", "dir": None}})  # fmt: skip
    SweepOutputs().on_multirun_end(config=config)
    assert len(pd.read_csv(sweep / report.TABLE_CSV)) == len(CONFIGS) + 1
    assert (sweep / report.PLOT_PNG).exists()


def test_job_dirs_of_one_configuration_are_one_row(tmp_path):
    """A re-run with the values in another order leaves two job directories for each configuration;
    the table holds one row per configuration (and problem subset): the complete one, then the newest."""
    base = {"strategy": "lowprob", "tau": 0.3, "c_max": 1, "rho_max": 0.25, "experiment": "unit", "dataset": "arith100",
            "n": 2, "complete": True, "accuracy": 0.5, "mean_modifications": 1.0, "mean_forwards": 9.0}  # fmt: skip
    jobs = {"0_lowprob": {**base, "fingerprint": "aaa", "subset": "s1"},
            "3_lowprob": {**base, "fingerprint": "aaa", "subset": "s1", "accuracy": 0.75},  # same configuration, newer
            "1_logitdiff": {**base, "strategy": "logitdiff", "fingerprint": "bbb", "subset": "s1"},
            "2_logitdiff": {**base, "strategy": "logitdiff", "fingerprint": "bbb", "subset": "s1", "complete": False, "n": 1},
            "4_lowprob_limit1": {**base, "fingerprint": "aaa", "subset": "s2", "n": 1}}  # other problems: its own row  # fmt: skip
    for i, (name, summary) in enumerate(jobs.items()):
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text(json.dumps(summary))
        os.utime(tmp_path / name / "summary.json", (1e9 + i, 1e9 + i))
    df = report.collect(tmp_path)
    assert sorted(df["job"]) == ["1_logitdiff", "3_lowprob", "4_lowprob_limit1"]
    assert df.set_index("job").loc["3_lowprob", "accuracy"] == 0.75 and df.set_index("job").loc["1_logitdiff", "complete"]
