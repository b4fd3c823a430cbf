"""`python -m t2m.sweep -m search=cheaper` as a user runs it: the bundled model, the real decoder, a real
Optuna journal; resumed after a real kill, shared by two worker processes, checked before anything
runs, opened by optuna-dashboard.

Runs that need processes of their own (a kill, two workers, SLURM) are `python -m t2m.sweep`
processes; the others call the same command line (`cli.main`) in this process, which saves a Python
and torch start-up per run and keeps the model loaded between runs, as a sweep does.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import optuna
import pandas as pd
import pytest

from conftest import REPO, cli_env
from test_sweep_e2e import wandb_run

pytestmark = pytest.mark.slow

SMALL = ("dataset.limit=10", "gen_length=32")  # stages of 2, 5 and 10 problems, short answers: seconds per trial
STUDY = Path("results/search_cheaper/arith100")


@pytest.fixture
def search(cli, tmp_path):
    """`python -m t2m.sweep ARGS` in tmp_path through `cli.main` in this process (conftest's `cli`);
    returns (exit status, stdout, stderr), or with check=True stdout (failing the test on a non-zero exit)."""

    def run(*args: str, check: bool = False):
        code, out, err = cli(tmp_path, *args)
        if check:
            assert code == 0, f"{' '.join(args)} exited {code}\n{out[-3000:]}\n{err[-3000:]}"
            return out
        return code, out, err

    return run


def search_args(*extra, n_trials=4, n_jobs=2):
    return ("search=cheaper", *SMALL, f"hydra.sweeper.n_trials={n_trials}", f"hydra.sweeper.n_jobs={n_jobs}", *extra)


def load(tmp_path, name="search_cheaper/arith100"):
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(tmp_path / STUDY / "study.journal")))
    return optuna.load_study(study_name=name, storage=storage)


def launched(output: str, stage: str = "1") -> list[int]:
    """Trial numbers of which this process launched a stage (the first; "\\d": any)."""
    return [int(n) for n in re.findall(rf"Trial #(\d+) .*: stage {stage}/\d", output)]


def store_ids(tmp_path) -> dict[str, list[str]]:
    out = {}
    for path in (tmp_path / "results" / "store").glob("*/samples.jsonl"):
        out[path.parent.name] = [json.loads(line)["id"] for line in path.read_text().splitlines() if line.strip()]
    return out


def assert_no_duplicate_samples(tmp_path):
    for entry, ids in store_ids(tmp_path).items():
        assert len(ids) == len(set(ids)), f"duplicated samples in {entry}"


def test_search_runs_trials_as_ordinary_jobs_and_continues(search, tmp_path):
    out = search(*search_args(), check=True)  # hydra.mode is MULTIRUN in the search file: no -m needed
    study = load(tmp_path)
    trials = study.get_trials()
    counted = [t for t in trials if "duplicate_of" not in t.user_attrs and t.user_attrs.get("role") != "baseline"]
    assert len(counted) == 4 and all(t.state.is_finished() for t in trials)
    assert any(t.user_attrs.get("role") == "baseline" for t in trials)  # T2T at tau 0.5 is a point of the cheaper space
    table = pd.read_csv(tmp_path / STUDY / "trials.csv")
    assert {"trial", "trial_state", "on_front", "accuracy", "mean_forwards", "vs_baseline", "fingerprint"} <= set(table.columns)
    for t in counted:
        summary = json.loads((tmp_path / STUDY / t.user_attrs["job"] / "summary.json").read_text())
        state = "complete" if t.state == optuna.trial.TrialState.COMPLETE else "pruned"
        assert (summary["trial"], summary["trial_state"]) == (t.number, state)  # marked in the job's summary...
        assert summary["n"] == (10 if state == "complete" else summary["trial_stage"]) < 11
        assert table.loc[table["trial"] == t.number, "trial_state"].item() == state  # ...and the trials table
    # Optuna's states, which optuna-dashboard counts, agree with t2m's: a repeat is never one more pruned trial.
    assert sum(t.state == optuna.trial.TrialState.PRUNED for t in trials) == (table["trial_state"] == "pruned").sum()
    sweep_table = pd.read_csv(tmp_path / STUDY / "sweep_results.csv")  # the grid's table of the same job directories
    assert set(sweep_table.loc[sweep_table["trial_state"] == "pruned", "n"]) <= {2, 5}
    assert "front    #" in out and "dashboard: optuna-dashboard" in out
    compared = [line for line in out.splitlines() if "front    #" in line and "vs baseline:" in line]
    assert compared and all(re.search(r"vs baseline: (better|worse|n\.s\.), Δ .*, p = [^,]+, p_Holm = ", line) for line in compared)
    assert (tmp_path / STUDY / "search_front.png").stat().st_size > 10_000
    # One W&B run per trial (pruned ones too, logged once their verdict was known), the baseline's, the study's, the sweep's.
    runs = list((tmp_path / STUDY / "wandb").glob("offline-run-*"))
    assert len(runs) == len({r.name.rsplit("-", 1)[-1] for r in runs}) == len(counted) + 3
    # Every run has its .wandb log (whichever directory this process's W&B service was started in), and
    # one W&B group per study.
    assert not [r.name for r in runs if not list(r.glob("*.wandb"))]
    assert {wandb_run(r)[0].run_group for r in runs} == {"search_cheaper/arith100"}
    assert_no_duplicate_samples(tmp_path)
    dashboard_lists(tmp_path / STUDY / "study.journal", n_trials=len(trials))

    # The same command with a larger budget continues the study: one more trial, nothing finished run again.
    finished = {t.number: (t.state, t.values) for t in trials}
    samples = store_ids(tmp_path)
    out = search(*search_args("tracker=none", n_trials=5), check=True)
    assert f"continuing, {len(trials)} trials finished" in out
    after = load(tmp_path).get_trials()
    assert all((after[n].state, after[n].values) == v for n, v in finished.items())
    assert not set(launched(out, stage=r"\d")) & set(finished)
    assert len([t for t in after if "role" not in t.user_attrs and "duplicate_of" not in t.user_attrs]) == 5
    assert all(store_ids(tmp_path)[entry] == ids for entry, ids in samples.items())  # nothing decoded twice
    # ...but only with its own space.
    code, _, err = search(*search_args("tracker=none", "strategy=lowprob,logitdiff", n_trials=6))
    assert code == 2 and "was started with another space" in err and len(err.strip().splitlines()) == 1


def dashboard_lists(journal: Path, n_trials: int) -> None:
    """optuna-dashboard, started on the journal as the README says, serves the study and its trials."""
    pytest.importorskip("optuna_dashboard")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).with_name("optuna-dashboard")
    server = subprocess.Popen([str(exe) if exe.exists() else "optuna-dashboard", str(journal), "--port", str(port), "--host", "127.0.0.1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        studies = None
        for _ in range(150):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=2) as r:
                    studies = json.loads(r.read())
                break
            except OSError:
                time.sleep(0.2)
        assert studies is not None, "optuna-dashboard did not answer"
        (entry,) = studies["study_summaries"]
        assert entry["study_name"] == "search_cheaper/arith100" and entry["directions"] == ["maximize", "minimize"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies/{entry['study_id']}?after=0", timeout=10) as r:
            detail = json.loads(r.read())
        assert len(detail["trials"]) == n_trials and detail["best_trials"]
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_trials_reuse_grid_samples_in_an_rdb_study_with_a_constraint(search, tmp_path):
    grid = ("strategy=lowprob", "tau=0.1,0.3", "c_max=1", "rho_max=0.25", *SMALL, "tracker=none")
    search("-m", *grid, "hydra.sweep.dir=results/grid", check=True)
    before = store_ids(tmp_path)
    fingerprints = {json.loads(p.read_text())["fingerprint"] for p in (tmp_path / "results/grid").glob("*/summary.json")}
    db = f"sqlite:///{tmp_path / 'study.db'}"
    search(*search_args("strategy=lowprob", "tau=0.1,0.3", "c_max=1", "rho_max=0.25", "threshold=0.7", "tracker=none",
                        f"hydra.sweeper.storage={db}", "hydra.sweeper.max_accuracy_drop=0.0", "hydra.sweeper.stages=[]", n_trials=2), check=True)  # fmt: skip
    assert store_ids(tmp_path) == before  # nothing decoded: every trial (and the baseline) found its grid point's samples
    for summary in (tmp_path / STUDY).glob("*/summary.json"):
        assert json.loads(summary.read_text())["fingerprint"] in fingerprints
    assert not (tmp_path / STUDY / "study.journal").exists()
    study = optuna.load_study(study_name="search_cheaper/arith100", storage=db)
    base = json.loads(next((tmp_path / STUDY).glob("baseline_*/summary.json")).read_text())["accuracy"]
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 2 and len({t.params["tau[lowprob]"] for t in complete}) == 2  # two configurations, each once
    assert not any(t.user_attrs.get("role") == "baseline" for t in study.trials)  # T2T is not a point of this lowprob space
    for t in complete:  # Optuna's constraint: feasible means at least the baseline's accuracy on the same problems
        assert t.constraints["accuracy_drop"] == pytest.approx(base - t.values[0], abs=1e-9)
    assert all(t.constraints["accuracy_drop"] <= 0 for t in study.best_trials)


def test_killed_search_resumes_without_losing_or_rerunning_finished_trials(tmp_path):
    args = search_args("tracker=none", n_trials=6, n_jobs=3)
    killed = subprocess.run([sys.executable, str(REPO / "tests" / "inject.py"), "t2m.pipeline.search.outputs:mark_trial", "after:2", "kill",
                             "--", *args], cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=600)  # fmt: skip
    assert killed.returncode == -9, killed.stderr[-2000:]
    before = {t.number: (t.state, t.values, t.user_attrs.get("job")) for t in load(tmp_path).get_trials() if t.state.is_finished()}
    assert sum("role" not in t.user_attrs for t in load(tmp_path).get_trials() if t.state.is_finished()) == 2  # killed after the 2nd verdict
    left_running = [t.number for t in load(tmp_path).get_trials() if not t.state.is_finished()]
    assert left_running, "the kill should leave trials mid-evaluation"
    samples = store_ids(tmp_path)

    resumed = subprocess.run([sys.executable, "-m", "t2m.sweep", *args], cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    trials = load(tmp_path).get_trials()
    after = {t.number: (t.state, t.values, t.user_attrs.get("job")) for t in trials}
    assert all(after[n] == v for n, v in before.items())  # 0 finished trials lost or changed
    assert not set(launched(resumed.stdout, stage=r"\d")) & set(before)  # 0 finished trials run again, at any stage
    for n, (_, _, job) in before.items():  # and none of their samples decoded again
        entry = json.loads((tmp_path / STUDY / job / "store.json").read_text())["fingerprint"]
        assert store_ids(tmp_path)[entry] == samples[entry]
    for n in left_running:  # the dead worker's trials were taken over, not started afresh as new trials
        assert f"trial #{n} was left running" in resumed.stdout
    counted = [t for t in trials if "duplicate_of" not in t.user_attrs and t.user_attrs.get("role") != "baseline"]
    assert len(counted) == 6 and all(t.state.is_finished() for t in trials)
    assert_no_duplicate_samples(tmp_path)
    taken_over = re.findall(r"taken over \(([^)]*)\)", resumed.stdout)
    print(f"\nkill -9 after the 2nd verdict: {len(before)} finished trials (baseline included) kept, 0 lost, 0 re-run; "
          f"{len(left_running)} trials left running, taken over {taken_over}")


def test_two_workers_share_one_study(tmp_path):
    # Two tasks of the job-array recipe, run here without SLURM (each is `python -m t2m.sweep ...`).
    args = ["bash", str(REPO / "jobs" / "search_workers.sh"), *search_args("tracker=none", n_trials=6, n_jobs=2)]
    env = [{**cli_env(tmp_path), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "SLURM_ARRAY_TASK_ID": str(i)} for i in range(2)]
    workers = [subprocess.Popen(args, cwd=tmp_path, env=env[i], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    outputs = [w.communicate(timeout=600) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], [o[1][-2000:] for o in outputs]
    trials = load(tmp_path).get_trials()
    counted = [t for t in trials if "duplicate_of" not in t.user_attrs and t.user_attrs.get("role") != "baseline"]
    assert len(counted) == 6 and all(t.state.is_finished() for t in trials)  # the budget, shared: no trial lost, none too many
    first, second = (set(launched(out)) for out, _ in outputs)
    assert first and second and not first & second  # both worked, on different trials
    assert first | second == {t.number for t in counted}
    assert len({t.user_attrs["worker"] for t in counted}) == 2
    assert_no_duplicate_samples(tmp_path)


def verdicts(root: Path) -> tuple[dict[int, tuple[str, int]], float]:
    """Each trial's verdict in the study under `root` (complete or pruned, after how many problems) and
    the forward passes its trials took: problems x mean forwards per sample at the last stage each
    reached, summed (from the journal: what each stage found is on its trial)."""
    out, forwards = {}, 0.0
    for t in load(root).get_trials():
        if "duplicate_of" in t.user_attrs or t.user_attrs.get("role") == "baseline":
            continue
        n = t.user_attrs["stage"]
        out[t.number] = (t.state.name.lower(), n)
        forwards += n * t.user_attrs["stages"][str(n)]["values"][1]  # objectives: [accuracy, forwards]
    return out, forwards


@pytest.mark.parametrize("first_worker", ["held", "killed"])
def test_two_workers_take_the_verdicts_one_worker_takes(search, tmp_path, first_worker):
    # The same study (8 trials, batches of 4, stages of 2, 5 and 10 problems, sampler seed 0) run by one worker,
    # then by two worker processes. The first worker is held after asking for trials #1-#4 and before running
    # them, until the second (trials #5-#8) has run its first stage: the second worker's verdicts come first, as
    # when the first worker is on a slower node. Judged on whatever the storage held, #5-#8 were compared without
    # #1-#4 (and #3, #4 later with #5-#8's points): more promoted, more forwards. Now each verdict waits for the
    # lower-numbered trials' points at its stage, as one worker has them. Then the first worker goes on ("held"),
    # or is killed while the second waits for its trials ("killed": the second takes them over and runs them).
    args = search_args("tracker=none", n_trials=8, n_jobs=4)
    start = time.monotonic()
    search(*args, check=True)
    one, one_forwards = verdicts(tmp_path)
    one_s = time.monotonic() - start

    two = tmp_path / "two"
    two.mkdir()
    gate, env = two / "gate", {**cli_env(two), "PYTHONUNBUFFERED": "1"}
    logs = [two / "first.log", two / "second.log"]
    start = time.monotonic()
    first = subprocess.Popen([sys.executable, str(REPO / "tests" / "inject.py"), "t2m.pipeline.sweepers.optuna:_Run.run", "before:1", f"pause:{gate}",
                              "--", *args], cwd=two, env=env, stdout=logs[0].open("w"), stderr=subprocess.STDOUT)  # fmt: skip
    second = None
    try:
        while not Path(f"{gate}.ready").exists():  # the first worker has the baseline and trials #1-#4
            assert first.poll() is None and time.monotonic() - start < 300, logs[0].read_text()[-3000:]
            time.sleep(0.2)
        second = subprocess.Popen([sys.executable, "-m", "t2m.sweep", *args], cwd=two, env=env, stdout=logs[1].open("w"), stderr=subprocess.STDOUT)
        # until the second worker's first verdict waits for the first worker's trials (or, judged without them, it ended)
        while second.poll() is None and "its verdict waits for" not in logs[1].read_text():
            assert time.monotonic() - start < 600, logs[1].read_text()[-3000:]
            time.sleep(0.2)
        if first_worker == "killed":
            first.kill()
        gate.touch()
        codes = [first.wait(timeout=600), second.wait(timeout=600)]
    finally:
        gate.touch()
        for process in (first, second):
            if process is not None and process.poll() is None:  # left running only by a failure above
                process.kill()
    assert codes == ([0, 0] if first_worker == "held" else [-9, 0]), [log.read_text()[-3000:] for log in logs]
    two_s = time.monotonic() - start
    out = [log.read_text() for log in logs]
    if first_worker == "held":
        assert (launched(out[0]), launched(out[1])) == ([1, 2, 3, 4], [5, 6, 7, 8])  # each worker ran its own trials
    else:
        assert (launched(out[0]), sorted(launched(out[1]))) == ([], [1, 2, 3, 4, 5, 6, 7, 8])
        assert all(f"trial #{n} was left running" in out[1] for n in (1, 2, 3, 4))  # taken over while waiting for them
    both, two_forwards = verdicts(two)
    print(f"\n8 trials, one worker: {one_forwards:.0f} forwards ({sum(v[0] == 'pruned' for v in one.values())} pruned), {one_s:.0f} s; "
          f"two workers, the first {first_worker}: {two_forwards:.0f} forwards ({sum(v[0] == 'pruned' for v in both.values())} pruned), "
          f"{two_s:.0f} s\none: {one}\ntwo: {both}")  # fmt: skip
    assert both == one  # the same verdict, after the same stage, for every trial...
    assert two_forwards == pytest.approx(one_forwards)  # ...hence the same work
    assert re.search(r"Trial #5 on 2 problems: its verdict waits for trials #1, #2, #3, #4", out[1])
    assert_no_duplicate_samples(two)


@pytest.mark.parametrize("args,message", [
    (("hydra.sweeper.space.c_max=[]",), "hydra.sweeper.space.c_max is an empty list"),
    (("strategy=lowprob,foo",), "strategy='foo' in the search space is unknown"),
    (("rho_max=interval(0.9,0.2)",), "rho_max=interval(0.9, 0.2) is empty"),
    (("strategy=lowprob", "tau=0.3", "c_max=1", "rho_max=0.25", "threshold=0.7"), "the search space is empty"),
    (("strategy=t2t", "c_max=1,3"), "c_max=1,3 changes nothing"),
    (("strategy=lowprob,logitdiff", "tau=interval(1.2,1.5)"), "tau=interval(1.2, 1.5)"),
    (("hydra.sweeper.objectives=[accuracy,speed]",), "hydra.sweeper.objectives: 'speed' is unknown"),
    (("hydra.sweeper.objectives=[]",), "hydra.sweeper.objectives is empty"),
    (("hydra.sweeper.storage=mongodb://localhost/x",), "unknown scheme 'mongodb'"),
    (("hydra.sweeper.storage=sqlite:////nonexistent/dir/study.db",), "cannot be opened"),
    (("hydra.sweeper.storage=.",), "is a directory"),
    (("baseline=none", "hydra.sweeper.max_accuracy_drop=0.02"), "max_accuracy_drop needs a baseline"),
    (("hydra.sweeper.max_accuracy_drop=2",), "hydra.sweeper.max_accuracy_drop=2 is invalid"),
    (("hydra.sweeper.n_trials=0",), "hydra.sweeper.n_trials=0 is invalid"),
    (("hydra.sweeper.max_wait=-1",), "hydra.sweeper.max_wait=-1 is invalid"),
    (("dataset=arith100,arith1000",), "cannot be searched"),
    (("hydra.sweeper.stages=[0.5,0.2]",), "is not increasing"),
    (("hydra.sweeper.sampler._target_=optuna.samplers.NoSuchSampler",), "hydra.sweeper.sampler cannot be built"),
    (("+hydra.sweeper.params={rho_max: [0.2, 0.4]}",), "hydra.sweeper.space and hydra.sweeper.params are both given"),
    (("~hydra.sweeper.space", "+hydra.sweeper.params={strategy: [lowprob], c_max: []}"), "hydra.sweeper.params.c_max is an empty list"),  # params is read
])  # fmt: skip
def test_bad_search_is_one_line_before_anything_is_written(search, monkeypatch, tmp_path, args, message):
    from t2m.pipeline import task

    monkeypatch.setattr(task, "get_model", lambda **kw: pytest.fail("the model was loaded for a bad search"))
    code, out, err = search("search=cheaper", *args)
    assert code == 2, (out[-2000:], err[-2000:])
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("t2m.sweep: ") and message in lines[0], err
    assert not (tmp_path / "results").exists()  # no study, no job directory, no sample


def test_trials_through_the_submitit_launcher(search, tmp_path):
    # Every trial a submitit job (a process of its own): the search only knows Hydra's launcher interface.
    args = ("tracker=none", "hydra/launcher=submitit_local", "hydra.sweeper.stages=[]", "baseline=none")
    search(*search_args(*args, n_trials=2, n_jobs=2), check=True)
    trials = load(tmp_path).get_trials()
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 2
    assert len(list((tmp_path / STUDY).glob(".submitit/*/*_result.pkl"))) == 2  # one batch of two jobs
    assert_no_duplicate_samples(tmp_path)


def test_job_array_recipe_on_a_real_slurm(tmp_path):
    # The recipe as written, submitted to a private single-node SLURM (tests/slurm_cluster.py, the cluster
    # tests' daemons and fake A100s): two array tasks share one study. Skipped where SLURM cannot run.
    slurm_cluster = pytest.importorskip("slurm_cluster", reason="tests/slurm_cluster.py (the cluster tests' SLURM) is not here")
    root = Path(tempfile.mkdtemp(prefix="t2m-slurm-", dir="/tmp"))  # munged wants every directory above its socket searchable
    root.chmod(0o755)
    cluster = slurm_cluster.Cluster(root)
    try:
        cluster.start()
    except slurm_cluster.Unavailable as e:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"no SLURM here: {e}")
    try:
        env = {**cli_env(tmp_path), **cluster.env}
        env["PATH"] = f"{env['PATH']}{os.pathsep}{Path(sys.executable).parent}"
        p = subprocess.run(["sbatch", "--array=0-1", "--wait", f"--chdir={tmp_path}", str(REPO / "jobs" / "search_workers.sh"),
                            *search_args("tracker=none", n_trials=4, n_jobs=2)], env=env, capture_output=True, text=True, timeout=900)  # fmt: skip
        logs = "".join(f.read_text() for f in sorted(tmp_path.glob("t2m-search-*.out")))
        assert p.returncode == 0, p.stderr + logs[-3000:]
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
    assert len(list(tmp_path.glob("t2m-search-*_[01].out"))) == 2
    trials = load(tmp_path).get_trials()
    counted = [t for t in trials if "duplicate_of" not in t.user_attrs and t.user_attrs.get("role") != "baseline"]
    assert len(counted) == 4 and all(t.state.is_finished() for t in trials)
    assert_no_duplicate_samples(tmp_path)
