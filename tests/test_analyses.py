"""The paper's analyses as tools: repair per error class, sampling metrics, reproducible sampling,
stored trajectories and their pictures, and the notebooks, on a small real sweep of the bundled model."""

from __future__ import annotations

import itertools
import json
import math
import os

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from t2m.analysis.repair import repair_table, transitions
from t2m.analysis.sampling import distinct_n, edit_distance, majority_correct, pass_at_k, summarize_samples
from t2m.pipeline.task import sample_seeds, trajectory_ids

from conftest import REPO, SHARED


# ---- numbers on known cases ----------------------------------------------------------------------


def test_pass_at_k_known_cases_and_enumeration():
    assert pass_at_k(5, 2, 1) == pytest.approx(0.4)
    assert pass_at_k(5, 2, 2) == pytest.approx(0.7)  # 1 - C(3,2)/C(5,2) = 1 - 3/10
    assert pass_at_k(5, 0, 3) == 0.0 and pass_at_k(5, 3, 3) == 1.0 and pass_at_k(4, 1, 4) == 1.0
    for n, c, k in [(6, 2, 3), (7, 3, 2), (5, 1, 4)]:  # the estimator is the mean over all k-subsets
        outcomes = [True] * c + [False] * (n - c)
        subsets = list(itertools.combinations(outcomes, k))
        assert pass_at_k(n, c, k) == pytest.approx(sum(any(s) for s in subsets) / len(subsets))
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)


def sample(answer, correct, tokens=(1, 2, 3)):
    return {"extracted": answer, "correct": correct, "tokens": list(tokens)}


def test_majority_vote_counts_equal_values_once_and_breaks_ties_by_first_seen():
    assert majority_correct([sample("1,450", True), sample("12", False), sample("1450", True)])
    assert not majority_correct([sample("12", False), sample("1450", True)])  # tie: the first seen wins
    assert not majority_correct([sample(None, False), sample(None, False)])


def test_diversity_measures():
    assert edit_distance([1, 2, 3], [1, 3]) == 1 and edit_distance([], [4, 5]) == 2 and edit_distance([1, 2], [2, 1]) == 2
    assert distinct_n([[1, 2, 1, 2]], 2) == pytest.approx(2 / 3)
    same = summarize_samples({"a": [sample("3", True)] * 3, "b": [sample("4", False)] * 3})
    assert same["distinct_answers"] == 1 and same["edit_distance"] == 0 and same["pass@1"] == 0.5 and same["pass@k"] == 0.5
    varied = summarize_samples({"a": [sample("3", True, (1, 2)), sample("5", False, (7, 8)), sample("6", False, (1, 8))]})
    assert varied["distinct_answers"] == 3 and varied["pass@k"] == 1 and varied["pass@1"] == pytest.approx(1 / 3)
    assert varied["majority_accuracy"] == 1.0 and varied["edit_distance"] == pytest.approx((2 + 1 + 1) / 2 / 3)


def rec(pid, cls):
    return {"id": pid, "error_class": cls, "correct": cls == "correct"}


def test_repair_table_counts_repaired_and_broken_per_class():
    before = [rec("1", "last_mile"), rec("2", "last_mile"), rec("3", "reasoning"), rec("4", "correct"), rec("5", "no_answer"), rec("6", "correct")]
    after = [rec("1", "correct"), rec("2", "last_mile"), rec("3", "correct"), rec("4", "last_mile"), rec("5", "no_answer"), rec("7", "correct")]
    t = repair_table(before, after).set_index("class")
    assert t.loc["last_mile", ["baseline_errors", "repaired", "broken", "errors"]].tolist() == [2, 1, 1, 2]
    assert t.loc["last_mile", "share"] == pytest.approx(2 / 4) and t.loc["last_mile", "repair_rate"] == pytest.approx(0.5)
    assert t.loc["reasoning", ["baseline_errors", "repaired", "broken"]].tolist() == [1, 1, 0]
    assert t.loc["total", ["baseline_errors", "repaired", "broken"]].tolist() == [4, 2, 1]  # = fixed / broken of the paired test
    moves = transitions(before, after)
    assert moves.at["last_mile", "correct"] == 1 and moves.at["correct", "last_mile"] == 1 and moves.at["no_answer", "no_answer"] == 1
    assert int(moves.values.sum()) == 5  # problem 6 and 7 are not in both
    # a record from before classes were stored is classified from its generation
    old = {"id": "1", "generation": "5 + 3 = 8.\nThe answer is 9", "gold": "8", "correct": False}
    assert repair_table([old], [rec("1", "correct")]).set_index("class").loc["last_mile", "repaired"] == 1


def test_sample_seeds_and_trajectory_ids():
    seeds = sample_seeds(7, 5)
    assert seeds[0] == 7 and len(set(seeds)) == 5 and sample_seeds(7, 3) == seeds[:3]
    assert trajectory_ids(True, ["a", "b"]) == {"a", "b"} and trajectory_ids(False, ["a"]) == set()
    assert trajectory_ids(["a", 3], ["a"]) == {"a", "3"}


@pytest.mark.parametrize("overrides,message", [
    (["samples_per_prompt=3"], "samples_per_prompt=3 needs temperature > 0"),
    (["samples_per_prompt=0", "temperature=0.5"], "samples_per_prompt=0 is invalid"),
    (["trajectory=5"], "trajectory=5 is invalid"),
])  # fmt: skip
def test_bad_analysis_keys_are_one_line(overrides, message):
    from t2m.pipeline import cli
    from t2m.pipeline.checks.validate import ConfigError, check

    cli.register_named_sweeps()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(cli.CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    GlobalHydra.instance().clear()
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        check(cfg)


# ---- sampling on the bundled model: reproducible, independent of batch size ----------------------


def test_sampling_is_reproducible_and_independent_of_batch_size():
    from t2m import data
    from t2m.decoding import DecodeConfig, decode, load_model

    lm = load_model()
    problems = data.load_problems("arith100", limit=3)
    prompts = [data.build_prompt(p, data.PROMPT_TEMPLATES["arith100"], lm.tokenizer) for p in problems]
    base = DecodeConfig(strategy="lowprob", temperature=1.0, gen_length=32)
    configs = [base.replace(seed=s) for s in sample_seeds(0, 3)]
    rows = [(p, c) for p in prompts for c in configs]
    one_by_one = decode(lm, [p for p, _ in rows], [c for _, c in rows], batch_size=1)
    together = decode(lm, [p for p, _ in rows], [c for _, c in rows], batch_size=9)
    shuffled_order = list(reversed(range(len(rows))))
    shuffled = decode(lm, [rows[i][0] for i in shuffled_order], [rows[i][1] for i in shuffled_order], batch_size=4)
    tokens = [r.tokens for r in one_by_one]
    assert tokens == [r.tokens for r in together]
    assert tokens == [shuffled[shuffled_order.index(i)].tokens for i in range(len(rows))]
    per_problem = [tokens[i * 3 : i * 3 + 3] for i in range(3)]
    assert any(len({tuple(t) for t in samples}) > 1 for samples in per_problem), "distinct seeds drew identical samples everywhere"


# ---- a small sweep through the command line --------------------------------------------------------

IDS = ["arith100-0000", "arith100-0001", "arith100-0002", "arith100-0003", "arith100-0004", "arith100-0005"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """T2T and LowProb, 6 problems, 3 samples each at temperature 0.8, trajectories of all."""
    import subprocess
    import sys

    from conftest import cli_env

    root = tmp_path_factory.mktemp("analyses")
    args = ["-m", "strategy=t2t,lowprob", "tau=0.5", "dataset.limit=6", "temperature=0.8", "samples_per_prompt=3", "trajectory=true",
            "tracker=none", "experiment=an", "hydra.sweep.dir=results/an/sweep"]  # fmt: skip
    p = subprocess.run([sys.executable, "-m", "t2m.sweep", *args], cwd=root, env=cli_env(root), capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    return root, root / "results" / "an" / "sweep"


@pytest.mark.slow
def test_sweep_stores_classes_samples_and_trajectories(sweep):
    root, d = sweep
    table = pd.read_csv(d / "sweep_results.csv")
    assert set(table["strategy"]) == {"t2t", "lowprob"} and (table["samples_per_prompt"] == 3).all()
    for col in ("pass@1", "pass@k", "majority_accuracy", "distinct_answers", "edit_distance", "repaired_last_mile", "broken_reasoning", "n_last_mile"):
        assert col in table, col
    assert (table["pass@k"] >= table["pass@1"] - 1e-12).all()
    lowprob = table[table["strategy"] == "lowprob"].iloc[0]
    assert lowprob["fixed"] == sum(lowprob[f"repaired_{c}"] for c in ("last_mile", "reasoning", "no_answer"))
    assert lowprob["broken"] == sum(lowprob[f"broken_{c}"] for c in ("last_mile", "reasoning", "no_answer"))
    repair = pd.read_csv(d / "repair_table.csv")
    assert set(repair["class"]) == {"last_mile", "reasoning", "no_answer"} and set(repair["job"]) == {lowprob["job"]}

    pointer = json.loads((d / lowprob["job"] / "store.json").read_text())
    entries = [d / lowprob["job"] / e for e in pointer["sample_entries"]]
    assert len(entries) == 3 and len({e.resolve() for e in entries}) == 3
    seeds = [json.loads((e / "key.json").read_text())["key"]["decode"]["seed"] for e in entries]
    assert seeds == sample_seeds(0, 3)
    for e in entries:
        samples = [json.loads(line) for line in (e / "samples.jsonl").read_text().splitlines()]
        assert [s["id"] for s in samples] == IDS
        assert all(s["error_class"] in ("correct", "last_mile", "reasoning", "no_answer") for s in samples)
        assert all((s["error_class"] == "correct") == s["correct"] for s in samples)
        trajectories = [json.loads(line) for line in (e / "trajectories.jsonl").read_text().splitlines()]
        assert [t["id"] for t in trajectories] == IDS
        for s, t in zip(samples, trajectories):
            assert t["tokens"] == s["tokens"]
            ev = t["events"]
            assert {"block", "step", "position", "token", "prob", "event", "text"} <= set(ev[0])
            assert sum(e["event"] == "remask" for e in ev) == s["remasks"] and sum(e["event"] == "edit" for e in ev) == s["t2t_edits"]
            fills = sum(e["event"] == "fill" for e in ev)
            assert fills >= len(s["tokens"])  # every output position was filled at least once


@pytest.mark.slow
def test_sample_zero_is_the_single_run_and_is_reused(sweep, t2m_cli):
    root, d = sweep

    p = t2m_cli("strategy=lowprob", "tau=0.5", "dataset.limit=6", "temperature=0.8", "batch_size=1", "tracker=none",
                f"results_dir={root / 'results'}", check=True)  # fmt: skip
    assert "Resuming" in p.stderr + p.stdout and "6/6 samples already" in p.stderr + p.stdout
    runs = list((root / "results" / "runs").glob("*/summary.json"))
    single = json.loads(runs[0].read_text())
    table = pd.read_csv(d / "sweep_results.csv")
    lowprob = table[table["strategy"] == "lowprob"].iloc[0]
    assert single["store"] == lowprob["store"] and single["accuracy"] == lowprob["accuracy"]


@pytest.mark.slow
def test_report_repair_and_trajectory_commands(sweep, tmp_path, capsys):
    from t2m.pipeline.report import main

    _, d = sweep
    assert main(["repair", str(d)]) == 0
    out = capsys.readouterr().out
    assert "last_mile" in out and "baseline errors" in out
    assert main([str(d)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("errors   #0 (baseline)") for line in lines) and any(line.startswith("repair   ") for line in lines)
    assert sum(line.startswith("sampling #") and "k=3: pass@1" in line for line in lines) == 2
    jobs = sorted(p.parent.name for p in d.glob("*/summary.json"))
    png = tmp_path / "side_by_side.png"
    assert main(["trajectory", str(d / jobs[0]), "--id", IDS[1], "--vs", str(d / jobs[1]), "--sample", "2", "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "fills" in capsys.readouterr().out
    assert main(["trajectory", str(d / jobs[0]), "--id", "nope"]) == 2
    assert "holds no trajectory of problem 'nope'" in capsys.readouterr().err
    assert main(["trajectory", str(d / jobs[0]), "--id", IDS[0], "--sample", "3"]) == 2


@pytest.mark.slow
def test_notebooks_execute(sweep, tmp_path):
    """Every notebook runs top to bottom on the sweep (with the paper's table as overlay when the
    reference CSV is there; a hand-made one of the same format otherwise)."""
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    _, d = sweep
    overlay = SHARED / "reference" / "paper_ablation_cmath100.csv"
    if not overlay.exists():
        overlay = tmp_path / "overlay.csv"
        overlay.write_text("strategy,accuracy_pct,avg_modifications_per_sample,avg_forwards_per_sample\nt2t,80,1.0,200\nlowprob,85,2.0,210\n")
    env = {"T2M_RESULTS_DIR": str(d), "T2M_OVERLAY_CSV": str(overlay), "T2M_OUT_DIR": str(tmp_path),
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}  # fmt: skip
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
        for path in sorted((REPO / "notebooks").glob("*.py")):
            nb = jupytext.read(path)
            nbclient.NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
            errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
            assert not errors, f"{path.name}: {errors}"
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    assert (tmp_path / "cost_vs_accuracy.png").exists()
    assert len(list(tmp_path.glob("trajectory_*.png"))) == 1
    assert not math.isnan(pd.read_csv(d / "sweep_results.csv")["pass@1"].iloc[0])


def test_trajectory_ids_outside_the_run_are_one_line(t2m_cli, tmp_path):
    p = t2m_cli("dataset.limit=5", "trajectory=[arith100-0001,arith100-0042]", "tracker=none")
    assert p.returncode == 2 and p.stderr.strip().splitlines() == [
        "t2m.sweep: trajectory names problem(s) this run does not decode: arith100-0042; "
        "allowed: ids of arith100 within dataset.limit, e.g. arith100-0000, arith100-0001"]
    assert not (tmp_path / "results").exists()


def test_samples_per_prompt_is_part_of_the_baseline_context():
    from t2m.pipeline.report.baseline import assign, missing_jobs

    rows = [{"strategy": "t2t", "samples_per_prompt": 1}, {"strategy": "t2t", "samples_per_prompt": 4},
            {"strategy": "lowprob", "samples_per_prompt": 4}, {"strategy": "lowprob"}]  # the last: a row from before the key
    base_of, warnings = assign(rows, {"strategy": "t2t"})
    assert base_of == [0, 1, 1, 0] and warnings == []
    jobs = [(["strategy=lowprob", "samples_per_prompt=4"], {"strategy": "lowprob", "samples_per_prompt": 4})]
    assert missing_jobs({"strategy": "t2t"}, jobs) == [["samples_per_prompt=4", "strategy=t2t"]]
