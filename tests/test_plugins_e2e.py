"""Policies of your own, the way the README shows them: a module outside t2m registers a strategy
and an unmasking policy, one YAML each in your own config directory, and `python -m t2m.sweep`
checks, runs, stores, tracks and plots them like the built-ins. The module and the YAMLs are the
README's (docs/examples/), copied into a fresh project directory."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from conftest import cli_env
from t2m.pipeline.store.jobdir import job_records

pytestmark = pytest.mark.slow
SMALL = ("dataset.limit=4", "gen_length=32", "batch_size=4")


def test_own_strategy_runs_like_a_builtin(t2m_cli, project):
    sweep = project / "sweep"
    p = t2m_cli("--config-dir", "myconf", "-m", "strategy=soft_lowprob,lowprob", *SMALL, f"hydra.sweep.dir={sweep}", check=True)
    jobs = sorted(d for d in sweep.iterdir() if d.is_dir() and d.name[0].isdigit())
    # The sweep runs the T2T baseline too (its registry entry says baseline=True): the others are compared with it.
    assert [d.name for d in jobs] == ["0_t2t_tau0.5_c1_rho0.25", "1_soft_lowprob_tau0.3_c1_rho0.25", "2_lowprob_tau0.3_c1_rho0.25"]
    summary = json.loads((jobs[1] / "summary.json").read_text())
    assert (summary["strategy"], summary["tau"], summary["unmasking"], summary["attention"]) == ("soft_lowprob", 0.3, "threshold", "reference")
    samples = job_records(jobs[1])
    assert len(samples) == 4 and sum(s["remasks"] for s in samples) > 0 and all(s["t2t_edits"] == 0 for s in samples)
    assert "soft_lowprob tau=0.3 c_max=1 rho_max=0.25 | acc" in p.stdout + p.stderr
    table = pd.read_csv(sweep / "sweep_results.csv")
    assert list(table["strategy"]) == ["t2t", "soft_lowprob", "lowprob"] and (sweep / "cost_vs_accuracy.png").exists()
    assert list(table["vs_baseline"])[0] == "baseline" and table["baseline_job"].nunique() == 1  # compared with the T2T run
    assert len(list((sweep / "wandb").glob("offline-run-*"))) == 4  # three configurations and the sweep
    # The report, run on its own, imports the jobs' plugins: a strategy of your own can be the baseline.
    r = subprocess.run([sys.executable, "-m", "t2m.report", str(sweep), "--baseline", "{strategy:soft_lowprob}"],
                       cwd=project, env=cli_env(project), capture_output=True, text=True, timeout=600)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert pd.read_csv(sweep / "sweep_results.csv").set_index("strategy").at["soft_lowprob", "vs_baseline"] == "baseline"


def test_own_unmasking_policy_and_strategy_together(t2m_cli, project):
    run = project / "run"
    t2m_cli("--config-dir", "myconf", "strategy=soft_lowprob", "unmasking=margin", "plugins=[mylab.detectors,mylab.unmasking]",
            "tau=0.1", *SMALL, "tracker=none", f"hydra.run.dir={run}", check=True)  # fmt: skip
    summary = json.loads((run / "summary.json").read_text())
    assert (summary["strategy"], summary["tau"], summary["unmasking"], summary["threshold"]) == ("soft_lowprob", 0.1, "margin", 0.5)
    assert summary["n"] == 4


@pytest.mark.parametrize("args,message", [
    (["strategy=soft_lowprob", "plugins=[]"], "strategy='soft_lowprob' is unknown; allowed: logitdiff, lowprob, none, random_remask, t2t, t2t_remask, wino ("),
    (["strategy=soft_lowprob", "tau=1.5"], "tau=1.5 is out of range; allowed: a number in [0, 1]"),
    (["plugins=[nosuch.module]"], "plugins: cannot import 'nosuch.module'"),
    (["unmasking=nope"], "unmasking=nope is unknown; allowed: learned, low_confidence, margin, threshold, wino"),
])  # fmt: skip
def test_mistakes_with_own_policies_are_one_line_errors(project, args, message):
    p = subprocess.run([sys.executable, "-m", "t2m.sweep", "--config-dir", "myconf", *args, f"hydra.run.dir={project / 'x'}"],
                       cwd=project, env=cli_env(project), capture_output=True, text=True, timeout=600)  # fmt: skip
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and message in p.stderr, p.stderr


def test_job_processes_import_the_plugins_too(t2m_cli, project):
    """submitit jobs run in processes of their own: they import the plugins before their check."""
    sweep = project / "sweep"
    t2m_cli("--config-dir", "myconf", "-m", "strategy=soft_lowprob", "dataset.limit=2", "gen_length=32", "tracker=none",
            "hydra/launcher=submitit_local", f"hydra.sweep.dir={sweep}", check=True)  # fmt: skip
    summaries = [json.loads(p.read_text()) for p in sweep.glob("*/summary.json")]
    assert sorted(s["strategy"] for s in summaries) == ["soft_lowprob", "t2t"]  # and the T2T baseline it is compared with
