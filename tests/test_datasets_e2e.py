"""A dataset of your own, the way the README shows it: a module outside t2m registers it, one YAML
in your own config directory names it, and `python -m t2m.sweep` checks, runs, stores and reports it
like the built-ins; duplicate problems and truncated answers end in one warning line each. The module,
its data file and the YAML are the README's (docs/examples/), copied into a fresh project directory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import cli_env
from t2m.pipeline.store.jobdir import job_records

pytestmark = pytest.mark.slow


def test_own_dataset_runs_like_a_builtin(t2m_cli, project):
    run = project / "run"
    p = t2m_cli("--config-dir", "myconf", "dataset=lab_shop", "tracker=none", f"hydra.run.dir={run}", check=True)
    summary = json.loads((run / "summary.json").read_text())
    rows = [json.loads(line) for line in (project / "mylab" / "lab_shop.jsonl").read_text().splitlines() if line]
    assert (summary["dataset"], summary["gen_length"], summary["n"], summary["n_duplicates"]) == ("lab_shop", 64, len(rows), 0)
    samples = job_records(run)
    assert [s["gold"] for s in samples] == [str(r["a"]) for r in rows]
    assert samples[0]["prompt"].startswith("<|bos|>Question: " + rows[0]["q"])  # the registered template
    assert summary["n_truncated"] == sum(s["truncated"] for s in samples)
    # The store key names the dataset by its registered facts, the template included.
    pointer = json.loads((run / "store.json").read_text())
    key = json.loads((Path(pointer["entry_abs"]) / "key.json").read_text())["key"]["dataset"]
    assert (key["name"], key["template"], key["answer"]) == ("lab_shop", "Question: {question}\nAnswer:", "number")
    assert "duplicate" not in p.stderr + p.stdout


def test_duplicates_are_left_out_with_one_warning_at_start_and_in_the_report(t2m_cli, project):
    """A file with a twin (the same problem under other names): n counts distinct problems."""
    lines = (project / "mylab" / "lab_shop.jsonl").read_text().splitlines()
    twin = lines[4].replace("Sam", "Tim")  # "Sam had 35 stamps. He gave away 12 ...": Tim, the same numbers
    assert twin != lines[4]
    (project / "twins.jsonl").write_text("\n".join(lines + [twin]) + "\n")
    sweep = project / "sweep"
    p = t2m_cli("--config-dir", "myconf", "-m", "dataset=lab_shop", "dataset.path=twins.jsonl", "strategy=lowprob", "tracker=none",
                f"hydra.sweep.dir={sweep}", check=True)  # fmt: skip
    line = "dataset lab_shop: 1 problem duplicates others (the same question once names and spacing are ignored) and is left out: n counts distinct problems"
    out = p.stdout + p.stderr
    assert out.count(line) == 2, out[-3000:]  # once when the sweep starts, once with its table
    assert out.index(line) < out.index("Sweep:")
    table = pd.read_csv(sweep / "sweep_results.csv")
    assert list(table["n"]) == [len(lines)] * 2 and list(table["n_duplicates"]) == [1, 1]  # lowprob and its T2T baseline


def test_truncated_answers_are_counted_and_warned_of(t2m_cli, project):
    """gen_length=12 cuts the tiny model's answers off (an equation and the answer line take more)."""
    sweep = project / "sweep"
    p = t2m_cli("--config-dir", "myconf", "-m", "dataset=lab_shop", "gen_length=12", "tracker=none", f"hydra.sweep.dir={sweep}", check=True)
    (job,) = [d for d in sweep.iterdir() if d.is_dir() and d.name[0].isdigit()]
    samples, summary = job_records(job), json.loads((job / "summary.json").read_text())
    cut = [s for s in samples if s["truncated"]]
    assert all(len(s["tokens"]) == 12 for s in cut) and len(cut) > 0.01 * len(samples)  # filled gen_length, no EOS
    assert summary["n_truncated"] == len(cut)
    out = p.stdout + p.stderr
    assert f"t2t tau=0.5 c_max=- rho_max=-: {len(cut)} of {len(samples)} answers ({100 * len(cut) / len(samples):.1f}%) are truncated " \
           f"(filled gen_length=12 without EOS); raise gen_length" in out  # fmt: skip
    assert f"1 configuration with more than 1% of answers truncated (filled gen_length without EOS; column n_truncated): #0 t2t ({len(cut)}/{len(samples)})" in out
    assert pd.read_csv(sweep / "sweep_results.csv")["n_truncated"].tolist() == [len(cut)]


@pytest.mark.parametrize("args,message", [
    (["dataset.name=lab_shop"], "dataset.name='lab_shop' is unknown; allowed: arith100, arith1000, carry_dev, carry_test, cmath, cmath100, gsm8k (a module of your own"),
    (["dataset=lab_shop", "dataset.path=nope.jsonl"], "dataset.path='nope.jsonl' does not exist"),
    (["dataset=arith100", "dataset.path=mylab/lab_shop.jsonl"], "dataset.path is not allowed for arith100 (generated, bundled); allowed: null"),
])  # fmt: skip
def test_mistakes_with_own_datasets_are_one_line_errors(project, args, message):
    p = subprocess.run([sys.executable, "-m", "t2m.sweep", "--config-dir", "myconf", *args, f"hydra.run.dir={project / 'x'}"],
                       cwd=project, env=cli_env(project), capture_output=True, text=True, timeout=600)  # fmt: skip
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and message in p.stderr, p.stderr
