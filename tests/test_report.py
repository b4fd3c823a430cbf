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
from t2m.pipeline.report import baseline as baselines
from t2m.pipeline import report
from t2m.pipeline.report import plot
from t2m.pipeline.callbacks import SweepOutputs
from t2m.pipeline.store.jobdir import JobDir
from t2m.pipeline.store.entries import Entry

CONFIGS = [("t2t", 0.5, 1, 0.25, 0.60, 3.0, 40.0), ("lowprob", 0.3, 1, 0.25, 0.70, 5.0, 48.0),
           ("lowprob", 0.5, 3, 0.5, 0.65, 9.0, 60.0), ("logitdiff", 0.2, 1, 1.0, 0.45, 2.0, 42.0),
           ("t2t_remask", 0.7, 5, 0.25, 0.72, 12.0, 70.0)]  # fmt: skip
N = 60  # problems; config k gets the first round(acc * N) right, so all discordant pairs point one way


def records_of(acc, mods=0.0, fwd=10.0, n=N):
    return [{"id": f"p{i}", "gold": str(i), "extracted": str(i if i < acc * n else -i), "generation": f"{i} + 0 = {i}. The answer is {i if i < acc * n else -i}.",
             "correct": i < acc * n, "strict_correct": i < acc * n, "modifications": mods, "t2t_edits": 0, "remasks": mods, "forwards": fwd,
             "output_tokens": 30, "decode_share_s": 0.1} for i in range(n)]  # fmt: skip


def view(job, key, records, ids, config):
    """A job directory's view of a store entry holding `records` (as the task leaves it)."""
    entry = Entry(job.parent / "store", key)
    with entry.claim():
        entry.append(records)
    JobDir(job).begin(entry, ids, OmegaConf.to_yaml(config), {})


def fake_sweep(root, partial=True, configs=CONFIGS, dataset="arith100"):
    """Job directories as t2m.sweep leaves them: a view of the store and summary.json per finished
    configuration and, for a killed one, only its view (store.json pointing at an entry with 1 of 2 samples)."""
    for num, (strategy, tau, c, rho, acc, mods, fwd) in enumerate(configs):
        job = root / f"{num}_{strategy}_tau{tau}_c{c}_rho{rho}"
        job.mkdir(parents=True)
        records = records_of(acc, mods, fwd)
        config = {"strategy": strategy, "tau": tau, "c_max": c, "rho_max": rho, "threshold": 0.7, "experiment": "unit",
                  "model": {"name_or_path": "fake"}, "dataset": {"name": dataset}}  # fmt: skip
        view(job, {"k": num, "dataset": dataset}, records, [r["id"] for r in records], config)
        summary = {"strategy": strategy, "tau": tau, "c_max": c, "rho_max": rho, "threshold": 0.7, "experiment": "unit", "model": "fake",
                   "dataset": dataset, **summarize(records, N), "repro": {"device": "cpu"}}  # fmt: skip
        (job / "summary.json").write_text(json.dumps(summary))
    killed = root / f"{len(configs)}_none_tau0.0_c1_rho0.25"
    if partial:
        config = {"strategy": "none", "tau": 0.0, "c_max": 1, "rho_max": 0.25, "threshold": 0.7, "experiment": "unit",
                  "model": {"name_or_path": "fake"}, "dataset": {"name": dataset}}  # fmt: skip
        view(killed, {"k": "killed", "dataset": dataset}, [{"id": "p0", "correct": True, "strict_correct": False, "modifications": 0,
                                                           "t2t_edits": 0, "remasks": 0, "forwards": 30, "output_tokens": 28}], ["p0", "p1"], config)  # fmt: skip
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
    assert plot.pareto_front(cost, acc) == [4, 1, 2]  # 0 ties 4 at higher cost; 3 is beaten by 1


def test_build_writes_table_and_plot(tmp_path):
    df, png = report.build(fake_sweep(tmp_path))
    csv = pd.read_csv(tmp_path / report.TABLE_CSV)
    pq = pd.read_parquet(tmp_path / report.TABLE_PARQUET)
    assert len(csv) == len(pq) == len(df) == len(CONFIGS) + 1
    assert list(pq["strategy"]) == list(df["strategy"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


def test_overlay_of_published_points(tmp_path, report_cli):
    ref = SHARED / "reference" / "paper_ablation_cmath100.csv"
    if not ref.exists():
        ref = tmp_path / "ref.csv"
        ref.write_text("strategy,accuracy_pct,avg_modifications_per_sample,avg_forwards_per_sample\nt2t,81,12.4,119.6\nlowprob,93,69.2,180.1\n")
    sweep = fake_sweep(tmp_path / "sweep")
    code, out, err = report_cli(sweep, "--overlay", ref, cwd=tmp_path)
    assert code == 0, err
    assert "baseline #0   t2t" in out and "pareto" in out
    assert (sweep / report.PLOT_PNG).exists() and (sweep / report.TABLE_PARQUET).exists()


def test_report_command_rejects_bad_input(tmp_path):
    """As a process: the one line and exit status 2 are what a user's shell sees."""
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


def correct_ids(acc, n=N):
    return {f"p{i}" for i in range(n) if i < acc * n}


# The fake sweep's family against the T2T run (#0): raw exact McNemar p of #1..#5 (6 fixed, 3 fixed,
# 9 broken, 8 fixed, no discordant problem) and, by hand, Holm's step-down p: sorted p times 5, 4, 3,
# 2, 1, each at least the one before (0.0039·5, 0.0078·4, 0.031·3, 0.25·2, 1·1); Benjamini–Hochberg's
# q: sorted p times 5/rank, each at most the one after (0.0039·5, 0.0078·5/2, 0.031·5/3, 0.25·5/4, 1).
RAW_P = [2 / 64, 2 / 8, 2 / 512, 2 / 256, 1.0]
HOLM_P = [3 * 2 / 64, 2 * 2 / 8, 5 * 2 / 512, 4 * 2 / 256, 1.0]
BH_Q = [5 / 3 * 2 / 64, 5 / 4 * 2 / 8, 5 * 2 / 512, 5 / 2 * 2 / 256, 1.0]


def test_paired_statistics_against_the_t2t_run(tmp_path):
    sweep = fake_sweep(tmp_path)
    df, _ = report.build(sweep)
    # #1 (6 fixed, raw p = 0.031) is no longer better once its p is adjusted over the five comparisons
    assert df["vs_baseline"].tolist() == ["baseline", "n.s.", "n.s.", "worse", "better", "n.s."]
    assert df["mcnemar_p"].iloc[1:].tolist() == pytest.approx(RAW_P) and df["p_adjusted"].iloc[1:].tolist() == pytest.approx(HOLM_P)
    assert df["correction"].tolist() == [None] + ["holm"] * 5 and df["family_size"].iloc[1:].tolist() == [5] * 5
    base = correct_ids(0.60)
    for i, (*_, acc, _, _) in enumerate(CONFIGS):
        mine = correct_ids(acc)
        fixed, broken = len(mine - base), len(base - mine)
        row = df.loc[i]
        assert (row["fixed"], row["broken"], row["n_paired"]) == (fixed, broken, N)
        assert row["delta_accuracy"] == pytest.approx((fixed - broken) / N)
        assert row["delta_ci95_low"] <= row["delta_accuracy"] <= row["delta_ci95_high"]
        assert row["mcnemar_p"] == pytest.approx(min(1.0, 2 * 0.5 ** (fixed + broken)) if fixed + broken else 1.0)  # one-sided counts
        assert row["baseline_job"] == "0_t2t_tau0.5_c1_rho0.25"
    assert df.loc[5, "n_paired"] == 1  # the killed configuration: only the problems both hold count
    # the same numbers in each summary.json, and in both tables
    paired = json.loads((sweep / "1_lowprob_tau0.3_c1_rho0.25" / "summary.json").read_text())["paired"]
    assert paired["fixed"] == 6 and paired["broken"] == 0 and paired["vs_baseline"] == "n.s." and paired["n"] == N
    assert paired["mcnemar_p"] == pytest.approx(2 / 64) and paired["baseline"] == "0_t2t_tau0.5_c1_rho0.25"
    assert paired["p_adjusted"] == pytest.approx(3 * 2 / 64) and paired["correction"] == "holm" and paired["family_size"] == 5
    for table in (pd.read_csv(sweep / report.TABLE_CSV), pd.read_parquet(sweep / report.TABLE_PARQUET)):
        assert table["vs_baseline"].tolist() == df["vs_baseline"].tolist() and table["fixed"].tolist() == df["fixed"].tolist()
    lines = report.describe(df).splitlines()
    assert lines[0].startswith("baseline #0   t2t")
    assert lines[1] == ("paired   vs #0 on 1-60 problems, exact McNemar: 2 of 5 significant after Holm (α = 0.05; m·α = 0.2 false marks "
                        "expected without correction; 3 at raw p < 0.05): 1 better, 1 worse, 3 not significant")  # fmt: skip
    assert [line.split()[:2] for line in lines[2:4]] == [["better", "#4"], ["worse", "#3"]]
    assert lines[2].endswith("8 fixed / 0 broken, p = 0.0078, p_Holm = 0.031")


@pytest.mark.parametrize("correction, adjusted, verdicts, after", [
    ("none", RAW_P, ["better", "n.s.", "worse", "better", "n.s."], "3 of 5 significant without correction"),
    ("holm", HOLM_P, ["n.s.", "n.s.", "worse", "better", "n.s."], "2 of 5 significant after Holm"),
    ("bh", BH_Q, ["n.s.", "n.s.", "worse", "better", "n.s."], "2 of 5 significant after Benjamini–Hochberg"),
])  # fmt: skip
def test_the_correction_decides_the_verdicts(tmp_path, correction, adjusted, verdicts, after):
    sweep = fake_sweep(tmp_path)
    df, _ = report.build(sweep, correction=correction)
    assert df["p_adjusted"].iloc[1:].tolist() == pytest.approx(adjusted)
    assert df["vs_baseline"].iloc[1:].tolist() == verdicts
    assert after in report.describe(df).splitlines()[1]
    marks = plot.paired_summary(df)
    assert f"▲ {verdicts.count('better')} better" in marks and f"● {verdicts.count('n.s.')} not significant" in marks
    from t2m.pipeline.tracking import sweep_summary

    summary = sweep_summary(df)
    assert summary["vs_baseline/better"] == verdicts.count("better") and summary["vs_baseline/raw_significant"] == 3
    assert summary["best/job"] == "4_t2t_remask_tau0.7_c5_rho0.25" and summary["best/p_adjusted"] == pytest.approx(adjusted[3])


def test_report_command_takes_the_sweeps_correction_or_the_option(tmp_path, capsys):
    sweep = fake_sweep(tmp_path)
    (sweep / "multirun.yaml").write_text("stats:\n  correction: none\nhydra: {}\n")
    assert report.main([str(sweep)]) == 0
    assert "3 of 5 significant without correction" in capsys.readouterr().out
    assert report.main([str(sweep), "--correction", "holm"]) == 0
    assert "2 of 5 significant after Holm" in capsys.readouterr().out
    assert pd.read_csv(sweep / report.TABLE_CSV)["correction"].iloc[1] == "holm"


def test_baseline_picks_another_configuration(tmp_path):
    sweep = fake_sweep(tmp_path / "sweep")
    df, _ = report.build(sweep, baseline={"strategy": "lowprob", "tau": 0.5})
    assert df.loc[2, "vs_baseline"] == "baseline" and set(df["baseline_job"]) == {"2_lowprob_tau0.5_c3_rho0.5"}
    assert df.loc[0, "vs_baseline"] == "n.s." and df.loc[0, "broken"] == 3
    df, _ = report.build(sweep, baseline="3_logitdiff_tau0.2_c1_rho1.0")  # a job directory
    assert df.loc[3, "vs_baseline"] == "baseline" and df.loc[0, "vs_baseline"] == "better"
    df, _ = report.build(sweep, baseline="none")
    assert df["vs_baseline"].isna().all() and json.loads((sweep / "1_lowprob_tau0.3_c1_rho0.25" / "summary.json").read_text())["paired"] is None
    # a job directory elsewhere (e.g. an earlier sweep's T2T run) joins the table as the baseline
    other = fake_sweep(tmp_path / "other", partial=False, configs=CONFIGS[1:])
    df, _ = report.build(other, baseline=str(sweep / "0_t2t_tau0.5_c1_rho0.25"))
    # a family of four: #0's raw p = 2/64 becomes Holm's 2 * 2/64 = 0.0625 (third smallest of four), n.s.
    assert df["vs_baseline"].tolist() == ["n.s.", "n.s.", "worse", "better", "baseline"]
    assert df.loc[0, "p_adjusted"] == pytest.approx(2 * 2 / 64) and df.loc[0, "family_size"] == 4
    assert df.iloc[-1]["job"] == str((sweep / "0_t2t_tau0.5_c1_rho0.25").resolve())


def test_a_baseline_that_names_nothing_is_an_error_before_anything_is_written(tmp_path):
    sweep = fake_sweep(tmp_path)
    for bad in ({"strategy": "lowprob", "tau": 0.4}, "7_nope", {"tua": 0.3}, {"strategy": "foo"}):
        with pytest.raises(baselines.BaselineError):
            report.build(sweep, baseline=bad)
    assert not (sweep / report.TABLE_CSV).exists()


def test_no_baseline_or_an_ambiguous_one_leaves_the_comparison_out(tmp_path, caplog):
    df, png = report.build(fake_sweep(tmp_path / "a", configs=CONFIGS[1:]))  # no T2T run: the default baseline is simply absent
    assert df["vs_baseline"].isna().all() and png.exists()
    two_t2t = CONFIGS + [("t2t", 0.7, 1, 0.25, 0.6, 3.0, 40.0)]
    df, _ = report.build(fake_sweep(tmp_path / "b", configs=two_t2t))
    assert df["vs_baseline"].isna().all()
    assert any("matches 2 configurations" in r.message for r in caplog.records)


def test_each_dataset_is_compared_with_its_own_baseline(tmp_path):
    fake_sweep(tmp_path / "a", dataset="arith100")
    fake_sweep(tmp_path / "b", partial=False, dataset="arith1000")
    df, _ = report.build(tmp_path)
    for _, row in df.iterrows():
        assert row["baseline_job"].split("/")[0] == row["job"].split("/")[0]
    assert (df["vs_baseline"] == "baseline").sum() == 2


def test_report_command_baseline_option(tmp_path, report_cli):
    sweep = fake_sweep(tmp_path / "sweep")
    code, out, err = report_cli(sweep, "--baseline", "{strategy:lowprob,tau:0.5}", cwd=tmp_path)
    assert code == 0, err
    assert out.startswith("baseline #2   lowprob")
    for bad, message in (("{strategy:foo}", "baseline.strategy='foo' is unknown"), ("9_nope", "baseline='9_nope' is neither"),
                         ("{strategy:lowprob,tau:0.4}", "matches none of the 6 configurations")):  # fmt: skip
        code, out, err = report_cli(sweep, "--baseline", bad, cwd=tmp_path)
        assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, err


def test_diff_command(tmp_path, report_cli):
    sweep = fake_sweep(tmp_path / "sweep")
    before, after = sweep / "0_t2t_tau0.5_c1_rho0.25", sweep / "3_logitdiff_tau0.2_c1_rho1.0"
    code, out, err = report_cli("diff", before, after, "--out", "d.csv", cwd=tmp_path)
    assert code == 0, err
    assert "60 problems in both" in out and "0 fixed, 9 broken" in out and "p = 0.0039" in out
    table = pd.read_csv(tmp_path / "d.csv")
    assert table["change"].tolist() == ["broken"] * 9 and table["id"].tolist() == [f"p{i}" for i in range(27, 36)]
    assert table.loc[0, "before_answer"] == 27 and table.loc[0, "after_answer"] == -27 and table.loc[0, "gold"] == 27
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code, out, err = report_cli("diff", before, after, cwd=elsewhere)  # without --out: beside the runs, not where it ran
    assert code == 0, err
    assert (sweep / f"{before.name}_vs_{after.name}.csv").is_file() and not any(elsewhere.iterdir())
    code, out, err = report_cli("diff", tmp_path / "nope", after, cwd=tmp_path)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "before=" in err


def test_plot_marks_and_labels(tmp_path):
    df, png = report.build(fake_sweep(tmp_path))
    labels = plot.labelled(df)
    # the baseline, the Pareto fronts (not the killed configuration: 1 of 1 right at the lowest cost, but incomplete),
    # significant differences by p
    assert labels[:5] == [0, 3, 1, 4, 2] and 5 in labels
    assert sorted(labels) == list(df.index)  # a small sweep: every point gets its label
    assert plot.paired_summary(df) == ("vs baseline #0 (t2t τ=0.5), paired on 1-60 problems: ▲ 1 better, ▼ 1 worse, ● 3 not significant "
                                       "(p_Holm < 0.05)")  # fmt: skip
    assert plot.knobs(df.loc[2]) == "lowprob τ=0.5 C_max=3 ρ_max=0.5" and plot.knobs(df.loc[5]) == "none"
    assert plot.comparison(df.loc[3]) == "Δ -15.0 pp [-25.0, -6.7], 0 fixed / 9 broken, p = 0.0039, p_Holm = 0.020"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_uses_the_sweeps_own_baseline(tmp_path, capsys):
    sweep = fake_sweep(tmp_path)
    (sweep / "multirun.yaml").write_text("baseline:\n  strategy: lowprob\n  tau: 0.5\nhydra: {}\n")  # as Hydra saves a sweep's config
    assert report.main([str(sweep)]) == 0
    assert capsys.readouterr().out.startswith("baseline #2   lowprob")
    assert report.main([str(sweep), "--baseline", "none"]) == 0  # the command line wins
    assert pd.read_csv(sweep / report.TABLE_CSV)["vs_baseline"].isna().all()


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


def test_newest_sweep_is_the_last_written_and_an_empty_root_says_how_to_make_one(tmp_path):
    import os

    older, newer = tmp_path / "adhoc" / "a", tmp_path / "quick" / "b"
    for when, sweep in enumerate([older, newer]):
        sweep.mkdir(parents=True)
        (sweep / "multirun.yaml").write_text("{}")
        os.utime(sweep / "multirun.yaml", (1_000_000 + when, 1_000_000 + when))
    assert report.newest_sweep(tmp_path) == newer
    with pytest.raises(FileNotFoundError, match=r"no sweep under .*; run one with trajectory=true or set RESULTS_DIR"):
        report.newest_sweep(tmp_path / "empty", "run one with trajectory=true")


def test_fidelity_is_compared_like_accuracy_and_can_differ_from_it(tmp_path):
    """Answer-line fidelity gets the same paired columns as accuracy, from its own outcomes: here the
    second configuration states its chain's value on 10 more problems, while its accuracy is the same."""
    def records(unfaithful):
        return [{**r, "generation": f"{i} + 0 = {i}. The answer is {i + 1 if i < unfaithful else i}."}
                for i, r in enumerate(records_of(0.5))]  # fmt: skip

    for num, (strategy, unfaithful) in enumerate([("t2t", 20), ("lowprob", 10)]):
        job = tmp_path / f"{num}_{strategy}"
        job.mkdir()
        config = {"strategy": strategy, "tau": 0.5, "c_max": 1, "rho_max": 0.25, "threshold": 0.7, "model": {"name_or_path": "fake"},
                  "dataset": {"name": "arith100"}}  # fmt: skip
        view(job, {"k": num}, records(unfaithful), [f"p{i}" for i in range(N)], config)
    df, png = report.build(tmp_path, metric="fidelity")
    row = df.iloc[1]
    assert (row["fidelity"], df.iloc[0]["fidelity"], row["n_fidelity"]) == (pytest.approx(50 / 60), pytest.approx(40 / 60), 60)
    assert (row["fixed"], row["broken"], row["mcnemar_p"]) == (0, 0, 1.0)  # accuracy: the same answers' correctness
    assert (row["fidelity_fixed"], row["fidelity_broken"], row["delta_fidelity"]) == (10, 0, pytest.approx(10 / 60))
    assert row["fidelity_mcnemar_p"] == pytest.approx(2 * 0.5**10) and row["fidelity_vs_baseline"] == "better"
    lines = report.describe(df, metric="fidelity").splitlines()
    assert lines[0] == "metric   answer-line fidelity" and any(line.startswith("better   #1") and "fid  83.3%" in line for line in lines)
    assert lines[-1].startswith("caption  accuracy: 50.0-50.0%") and "0 better, 0 worse" in lines[-1]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_incomplete_baseline_is_said_and_incomplete_rows_stay_off_the_pareto_front(tmp_path):
    """The pack holding T2T was cancelled: its 40 of 60 problems are still the baseline, but the
    printout says so in one line, every comparison is on those 40, and no incomplete row is on the front."""
    sweep = fake_sweep(tmp_path / "sweep", configs=[(f"{c[0]}", *c[1:]) for c in CONFIGS[1:]])
    for job in sorted(sweep.glob("[0-9]_*")):  # make room for the baseline as job 0
        job.rename(job.with_name(f"{int(job.name.split('_')[0]) + 1}_{job.name.split('_', 1)[1]}"))
    t2t = sweep / "0_t2t_tau0.5_c1_rho0.25"
    config = {"strategy": "t2t", "tau": 0.5, "c_max": 1, "rho_max": 0.25, "threshold": 0.7, "experiment": "unit",
              "model": {"name_or_path": "fake"}, "dataset": {"name": "arith100"}}  # fmt: skip
    view(t2t, {"k": "cancelled"}, records_of(0.9, fwd=1.0)[:40], [f"p{i}" for i in range(N)], config)  # fastest, best: would lead the front
    df, png = report.build(sweep)
    assert df.loc[0, "vs_baseline"] == "baseline" and not df.loc[0, "complete"] and df.loc[0, "n"] == 40
    assert (df.loc[1:4, "n_paired"] == 40).all()  # every comparison on the problems the baseline has
    assert pd.read_csv(sweep / report.TABLE_CSV)["complete"].tolist() == [False, True, True, True, True, False]
    lines = report.describe(df).splitlines()
    assert lines[0].startswith("baseline #0   t2t") and lines[0].endswith("(incomplete: 40/60 problems)")
    assert lines[1] == "baseline #0 is incomplete (40/60 problems): comparisons use the 40 problems it has"
    front = [line.split()[1] for line in lines if line.startswith("pareto")]
    assert front and "#0" not in front and "#5" not in front  # neither the cancelled baseline nor the killed row
    assert "(baseline incomplete: 40 problems)" in plot.paired_summary(df)
    assert png.exists()
