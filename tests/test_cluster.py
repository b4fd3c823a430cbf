"""The cluster path against a real SLURM (slurmctld, slurmd, munged from Debian packages, started by
tests/slurm_cluster.py on their own ports and directories, with fake A100s as GRES; no accounting
database, so a small `sacct` stand-in answers submitit from squeue).

What runs here is what a user types: the jobs/ recipes and the cluster commands of docs/cluster.md, through
t2m's own `slurm` and `slurm_a100` launcher configs. Jobs are held mid-decode (tests/slurm_gate) and
then requeued by SLURM, pre-empted through submitit's USR2 path, or cancelled for good; afterwards
the store holds every sample exactly once, complete configurations are not decoded or logged again,
and there is one W&B run per configuration. What cannot run here: CUDA (the A100s are character
devices), so the A100 recipe is run as submitted (its jobs must stop at once with one line naming
the node) and with `model.device=cpu` appended (the packed GPU-node path, on the CPU).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO, TALLY, cli_env
from test_faults import count_samples, count_wandb, entries, one_line, survived

pytestmark = pytest.mark.slow

JOBS = REPO / "jobs"
GATE = REPO / "tests" / "slurm_gate"
TINY = ("gen_length=32",)  # appended to the recipes; the bundled model and data through their variables (TINY_ENV)
TINY_ENV = {"MODEL": "tiny", "DATASET": "arith100"}  # a recipe's own keys change through its variables, never a second override
ABLATION_SMALL = ("c_max=1", "rho_max=0.25", "dataset.limit=4")  # 1 + 12 configurations of the paper's grid, 4 problems each


@pytest.fixture(scope="module")
def slurm():
    from slurm_cluster import Cluster, Unavailable

    root = Path(tempfile.mkdtemp(prefix="t2m-slurm-", dir="/tmp"))  # munged wants every directory above its socket searchable
    root.chmod(0o755)
    cluster = Cluster(root)
    try:
        cluster.start(install_packages=False)
    except Unavailable as e:
        shutil.rmtree(root, ignore_errors=True)
        if os.environ.get("T2M_REQUIRE_SLURM"):  # .ci/run installed the packages: not running is a failure there
            pytest.fail(f"T2M_REQUIRE_SLURM is set but SLURM cannot run: {e}")
        pytest.skip(f"no SLURM here: {e}")
    yield cluster
    cluster.stop()
    shutil.rmtree(root, ignore_errors=True)


def env_for(slurm, tmp_path: Path, gate: Path | None = None) -> dict:
    env = {**cli_env(tmp_path), **slurm.env}
    if gate is not None:
        env["PYTHONPATH"] = f"{GATE}{os.pathsep}{env['PYTHONPATH']}"
        env["T2M_TEST_GATE"] = str(gate)
    return env


def recipe(name: str, *args: str, env: dict, cwd: Path, **popen) -> subprocess.Popen:
    return subprocess.Popen(["bash", str(JOBS / name), *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def finish(p: subprocess.Popen, timeout: float = 600) -> tuple[int, str, str]:
    out, err = p.communicate(timeout=timeout)
    return p.returncode, out, err


def wait_for(predicate, what: str, timeout: float = 300, proc: subprocess.Popen | None = None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the sweep ended while waiting for {what}: {proc.communicate()}")
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def resume_argv(line: str) -> list[str]:
    """The command an incomplete sweep's last line gives, with this Python."""
    argv = shlex.split(line.split("resume with: ", 1)[1])
    assert argv[:3] == ["python", "-m", "t2m.sweep"], argv
    return [sys.executable, *argv[1:]]


def test_requeue_preemption_and_a_cancelled_job_lose_and_repeat_nothing(slurm, tmp_path):
    """jobs/smoke_cpu.sh as 3 packed jobs, each held after its first stored chunk: job 0 is requeued
    by SLURM (scontrol requeue: killed, run again), job 1 gets submitit's pre-emption signal
    (scancel --signal=USR2: it requeues itself), job 2 is cancelled for good. The sweep writes its
    table from the 4 configurations of jobs 0 and 1 and ends with one line naming job 2's and the
    command that resumes; that command finishes it."""
    gate = tmp_path / "gate"
    gate.mkdir()
    sweep_dir = tmp_path / "smoke"
    env = {**env_for(slurm, tmp_path, gate), "SWEEP_DIR": str(sweep_dir), "JOBS": "3"}  # the recipe's own key: its variable, not a second override
    p = recipe("smoke_cpu.sh", "batch_size=2", env=env, cwd=tmp_path)
    try:
        ready = wait_for(lambda: sorted(gate.glob("*.ready")) if len(list(gate.glob("*.ready"))) == 3 else None, "3 held jobs", proc=p)
        held = {int(f.stem.rsplit("_", 1)[1]): f.stem for f in ready}
        store = tmp_path / "results" / "store"
        before = entries(store)
        assert sorted(before.values()) == [(2, 2)] * 3  # each job stored its first chunk of 2 rows, then was held

        slurm.run("scontrol", "requeue", held[0])
        slurm.run("scancel", "--signal=USR2", held[1])
        slurm.run("scancel", held[2])
        code, out, err = finish(p)
    finally:
        if p.poll() is None:
            p.kill()
    assert code == 1, err
    line = one_line(err).splitlines()[-1]
    # pack 2 of 3 (round-robin) holds configuration 2 only
    assert re.match(r"t2m\.sweep: 1 of 5 configurations are incomplete: 2_lowprob_tau0\.3_c1_rho0\.25 \(UncompletedJobError: job "
                    rf"{held[2]} has not produced any output \(state: CANCELLED", line), line  # fmt: skip
    assert f"hydra.sweep.dir={sweep_dir}" in line
    restarts = {j["id"]: j["restarts"] for j in slurm.jobs()}
    assert restarts[held[0]] == 1 and restarts[held[1]] == 1  # both ran twice
    # the live view: each job's start and each requeue as one line, the restarts in each job's last line
    said = one_line(err)
    for job in held.values():
        assert f"t2m.sweep: job {job}: running on {slurm.node}" in said, said[-3000:]
    for k in (0, 1):
        assert re.search(rf"t2m\.sweep: job {held[k]}: requeued \(\w+\), restart 1", said), said[-3000:]
        assert re.search(rf"Job {held[k]}: 2 of 2 configurations complete, 1 restart\(s\)", out + err), (out + err)[-3000:]
    assert "samples stored" in err
    table = pd.read_csv(sweep_dir / "sweep_results.csv")
    complete = dict(zip(table["strategy"], table["complete"]))
    assert complete == {"t2t": True, "none": True, "lowprob": False, "t2t_remask": True, "logitdiff": True}  # the cancelled one with what it kept
    after = entries(store)
    count_samples(before, after, {fp: 8 - before[fp][0] if fp in before else 8 for fp in after if after[fp][0] == 8})
    assert sorted(after.values()) == [(2, 2)] + [(8, 8)] * 4  # the cancelled job's first chunk is kept for the resume
    survived("SLURM job requeued mid-decode (scontrol requeue)")
    survived("SLURM job pre-empted mid-decode (USR2: submitit checkpoints and requeues)")

    # The printed command resumes: only the cancelled configuration decodes, from where it stopped.
    p = subprocess.run(resume_argv(line), cwd=tmp_path, env=env_for(slurm, tmp_path), capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    final = entries(store)
    count_samples(after, final, {fp: 6 for fp in final if after[fp] == (2, 2)})
    assert sorted(final.values()) == [(8, 8)] * 5
    assert len(pd.read_csv(sweep_dir / "sweep_results.csv")) == 5
    count_wandb(sweep_dir, expected_ids=5 + 1)
    # the submitting host found the 4 finished configurations in the store: only the cancelled one was submitted
    assert "Submitted 1 configurations as 1 slurm job(s) of up to 1 (4 complete in the store, not submitted)" in p.stdout + p.stderr
    survived("SLURM job cancelled for good, then resumed with the printed command")


def test_a100_recipe_readme_commands_and_wandb_sync(slurm, tmp_path):
    """The three cluster commands of docs/cluster.md on the fake-GRES SLURM: the packed A100 ablation
    (jobs/paper_ablation_a100.sh), the same command again after a pre-emption (resume), and the W&B
    sync (jobs/sync_wandb.sh, as a dry run: no network here)."""
    commands = readme_cluster_commands()
    assert commands == ["CMATH=/data/cmath_test.jsonl bash jobs/paper_ablation_a100.sh",
                        "CMATH=/data/cmath_test.jsonl bash jobs/paper_ablation_a100.sh",
                        "bash jobs/sync_wandb.sh results/paper_ablation_a100"]  # fmt: skip
    env = {**env_for(slurm, tmp_path), "CMATH": "/data/cmath_test.jsonl", "JOBS": "2", **TINY_ENV}

    # As submitted, on a node whose "A100s" have no CUDA behind them: every job stops before loading
    # the model, with one line naming the node, the job and the GPU it was given.
    code, out, err = finish(recipe("paper_ablation_a100.sh", *TINY, *ABLATION_SMALL, "model.device=cuda",
                                   env={**env, "SWEEP_DIR": str(tmp_path / "no_cuda")}, cwd=tmp_path))  # fmt: skip
    assert code == 1, err
    line = one_line(err).splitlines()[-1]
    assert line.startswith("t2m.sweep: 13 of 13 configurations are incomplete: 0_t2t_tau0.5_c1_rho0.25 (ConfigError: model.device='cuda' "
                           f"but CUDA is not available on {slurm.node} (SLURM job "), line  # fmt: skip
    assert "CUDA_VISIBLE_DEVICES=0" in line and "resume with: " in line
    job_log = "".join(f.read_text() for f in (tmp_path / "no_cuda").glob(".submitit/*/*_log.err"))
    assert "t2m.sweep: job 0 failed: ConfigError: model.device='cuda' but CUDA is not available" in job_log
    assert "Loaded " not in "".join(f.read_text() for f in (tmp_path / "no_cuda").glob(".submitit/*/*_log.out"))
    assert not (tmp_path / "results" / "store").exists() or not list((tmp_path / "results" / "store").glob("*/samples.jsonl"))
    scripts = "".join(f.read_text() for f in (tmp_path / "no_cuda").glob(".submitit/*/*_submission.sh"))
    for flag in ("#SBATCH --gres=gpu:a100:1", "#SBATCH --cpus-per-task=8", "#SBATCH --mem=64GB", "#SBATCH --time=480",
                 "#SBATCH --signal=USR2@120", "#SBATCH --requeue", "#SBATCH --array=0-1%2"):  # fmt: skip
        assert flag in scripts, flag

    # 1. The packed A100 ablation, on the CPU of the GPU node.
    argv = as_argv(commands[0], env)
    code, out, err = finish(subprocess.Popen([*argv, *TINY, *ABLATION_SMALL, "model.device=cpu"], cwd=tmp_path, env=env,
                                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))  # fmt: skip
    assert code == 0, err[-3000:]
    sweep_dir = tmp_path / "results" / "paper_ablation_a100"
    table = pd.read_csv(sweep_dir / "sweep_results.csv")
    assert len(table) == 13 and table["complete"].all() and (table["n"] == 4).all()
    logs = "".join(f.read_text() for f in sweep_dir.glob(".submitit/*/*_log.out"))
    assert logs.count("Loaded ") == 2  # two jobs, one model load each
    store = tmp_path / "results" / "store"
    first = entries(store)
    summaries = {p: p.read_text() for p in sweep_dir.glob("*/summary.json")}
    runs = count_wandb(sweep_dir, expected_ids=13 + 1)

    finished_before = sorted(f.parent.name for f in sweep_dir.glob(".submitit/*/*_log.out"))

    # 2. Resume after a pre-emption: the same command. Nothing is decoded, rewritten or logged again.
    argv = as_argv(commands[1], env)
    code, out, err = finish(subprocess.Popen([*argv, *TINY, *ABLATION_SMALL, "model.device=cpu"], cwd=tmp_path, env=env,
                                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))  # fmt: skip
    assert code == 0, err[-3000:]
    assert "All 13 configurations are complete in the store: nothing submitted" in out + err  # no job, no model load
    assert sorted(f.parent.name for f in sweep_dir.glob(".submitit/*/*_log.out")) == finished_before
    assert entries(store) == first
    assert {p: p.read_text() for p in summaries} == summaries
    assert count_wandb(sweep_dir, expected_ids=13 + 1) == runs
    count_samples(first, entries(store), {})
    survived("the same SLURM sweep run again: nothing decoded, rewritten or logged again")

    # A finished job requeued after its sweep ended (scontrol requeue of a COMPLETED job) runs its
    # pack again with nobody waiting for it: it finds every configuration complete and decodes,
    # rewrites and logs nothing.
    finished = sorted({f.parent.name for f in sweep_dir.glob(".submitit/*/*_log.out")})
    requeued = finished[-1]
    slurm.run("scontrol", "requeue", requeued)
    wait_for(lambda: next(j for j in slurm.jobs() if j["id"] == requeued)["restarts"] >= 1, "the requeue")
    wait_for(lambda: next(j for j in slurm.jobs() if j["id"] == requeued)["state"] == "COMPLETED", "the requeued job to finish")
    rerun_log = "".join(f.read_text() for f in (sweep_dir / ".submitit" / requeued).glob("*_log.out"))
    assert rerun_log.count("4/4 samples already") >= 6, rerun_log[-3000:]  # its 6 or 7 configurations, found complete
    assert entries(store) == first
    assert {p: p.read_text() for p in summaries} == summaries
    assert count_wandb(sweep_dir, expected_ids=13 + 1) == runs
    survived("a finished SLURM job requeued after its sweep ended: nothing decoded, rewritten or logged again")

    # 3. Sync the offline W&B runs: W&B's own CLI, without a network (--dry-run lists what it would upload).
    sync = as_argv(commands[2], env)
    p = subprocess.run([*sync, "--dry-run"], cwd=tmp_path, env={**env, "WANDB_BASE_URL": "http://127.0.0.1:9"}, capture_output=True,
                       text=True, timeout=300)  # fmt: skip
    assert p.returncode == 0, p.stderr
    listed = re.findall(r"offline-run-\S+-(t2m-[0-9a-f]+)/", p.stdout + p.stderr)
    assert "Would sync 14 run(s)" in p.stdout + p.stderr and sorted(listed) == sorted(runs)
    TALLY["cluster commands from docs/cluster.md run on a real slurmctld"] += len(commands)


def as_argv(command: str, env: dict) -> list[str]:
    """A documented command as a process: leading VAR=value words must be what `env` holds (the test
    sets them), and jobs/ is the repository's (the command runs in a scratch directory, not a clone)."""
    words = shlex.split(command)
    while "=" in words[0]:
        key, value = words.pop(0).split("=", 1)
        assert env.get(key) == value, (key, value)
    return [str(REPO / w) if w.startswith("jobs/") else w for w in words]


def readme_cluster_commands() -> list[str]:
    """The commands of the cluster page's "Cluster" section (docs/cluster.md, its first bash block), one
    per line, comments dropped."""
    text = (REPO / "docs" / "cluster.md").read_text()
    section = text.split("## Cluster", 1)[1].split("\n## ", 1)[0]
    block = section.split("```bash", 1)[1].split("```", 1)[0]
    lines = [line.split("#", 1)[0].strip() for line in block.strip().splitlines()]
    return [line for line in lines if line]


def test_a_job_that_reaches_its_time_limit_requeues_and_resumes(slurm, tmp_path):
    """A real SLURM time limit: 2 minutes, with submitit's USR2 asked for 60 s before it (the job has
    60 s to store its first chunk, room for a slow start on a loaded machine). The job is held after
    its first stored chunk until SLURM signals it; submitit sees a time-out, requeues the pack
    (max_num_timeout: 3 in conf/hydra/launcher/slurm.yaml) and the second run finishes it."""
    gate = tmp_path / "gate"
    gate.mkdir()
    sweep_dir = tmp_path / "timeout"
    p = subprocess.run([sys.executable, "-m", "t2m.sweep", "-m", "strategy=t2t,lowprob", "baseline=none", "dataset.limit=8", "gen_length=32",
                        "batch_size=2", "hydra/launcher=slurm", "hydra.launcher.jobs=1", "hydra.launcher.cpus_per_task=1",
                        "hydra.launcher.timeout_min=2", "hydra.launcher.signal_delay_s=60", "hydra.launcher.startup_margin_s=30",
                        f"hydra.sweep.dir={sweep_dir}"],
                       cwd=tmp_path, env=env_for(slurm, tmp_path, gate), capture_output=True, text=True, timeout=600)  # fmt: skip
    assert p.returncode == 0, p.stderr[-3000:]
    held = [f.stem for f in gate.glob("*.ready")]
    assert len(held) == 1, f"the job did not store its first chunk within 60 s: {held}"  # then the time-out came before anything was held
    held = held[0]
    log = "".join(f.read_text() for f in sorted(sweep_dir.glob(".submitit/*/*_log.*")))
    assert "this job is timed-out" in log and "Requeued job" in log and "Resuming " in log, log[-3000:]
    assert {j["id"]: j["restarts"] for j in slurm.jobs()}[held] >= 1
    after = entries(tmp_path / "results" / "store")
    assert sorted(after.values()) == [(8, 8)] * 2
    count_samples({}, after, {fp: 8 for fp in after})
    count_wandb(sweep_dir, expected_ids=2 + 1)
    survived("SLURM job reached its time limit (USR2 before the limit: requeued, resumed)")


def sweep_argv(*overrides: str) -> list[str]:
    """A small SLURM sweep: 1 job, 1 CPU, the bundled model, 32 tokens; an override of one of these
    replaces it (a key set twice on one command line is refused)."""
    defaults = ["baseline=none", "gen_length=32", "batch_size=2", "hydra/launcher=slurm", "hydra.launcher.cpus_per_task=1"]
    given = {o.split("=", 1)[0] for o in overrides}
    return [sys.executable, "-m", "t2m.sweep", "-m", *[d for d in defaults if d.split("=", 1)[0] not in given], *overrides]


def queued(slurm) -> list[str]:
    return [j["id"] for j in slurm.jobs() if j["state"] in ("PENDING", "RUNNING", "CONFIGURING", "REQUEUED")]


def state(slurm, job: str) -> str | None:
    return next((j["state"] for j in slurm.jobs() if j["id"] == job), None)


def test_a_time_limit_too_short_for_the_startup_is_refused_before_anything_is_submitted(slurm, tmp_path):
    before = len(slurm.jobs())
    p = subprocess.run(sweep_argv("strategy=t2t", "dataset.limit=2", "hydra.launcher.timeout_min=1", "hydra.launcher.signal_delay_s=20",
                                  f"hydra.sweep.dir={tmp_path / 'short'}"),
                       cwd=tmp_path, env=env_for(slurm, tmp_path), capture_output=True, text=True, timeout=300)  # fmt: skip
    assert p.returncode == 2, p.stderr[-3000:]
    line = one_line(p.stderr)
    assert "\n" not in line, line
    assert ("hydra.launcher.timeout_min=1 with hydra.launcher.signal_delay_s=20 leaves 40 s of work before each requeue, less than "
            "the 120 s a job needs to start (hydra.launcher.startup_margin_s); set hydra.launcher.timeout_min=3 or more") in line, line
    assert len(slurm.jobs()) == before and not (tmp_path / "short" / ".submitit").exists()


def test_usr1_requeues_and_a_pack_requeued_twice_without_a_sample_stops_with_one_line(slurm, tmp_path):
    """Every run of the job stalls before storing its first chunk (tests/slurm_gate, T2M_TEST_STALL):
    USR1 requeues it (as USR2 does), USR2 requeues it again, and the third run stops at once with one
    line naming the cause and the values to change, which ends the sweep too."""
    stall = tmp_path / "stall"
    stall.mkdir()
    env = {**env_for(slurm, tmp_path, None), "PYTHONPATH": f"{GATE}{os.pathsep}{cli_env(tmp_path)['PYTHONPATH']}", "T2M_TEST_STALL": str(stall)}
    sweep_dir = tmp_path / "stuck"
    p = subprocess.Popen(sweep_argv("strategy=t2t", "dataset.limit=2", "hydra.launcher.jobs=1", f"hydra.sweep.dir={sweep_dir}"),
                         cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        for restart, sig in ((0, "USR1"), (1, "USR2")):
            (f,) = wait_for(lambda r=restart: list(stall.glob(f"*.{r}.stalled")), f"run {restart} to stall", proc=p)
            slurm.run("scancel", f"--signal={sig}", f.name.split(".")[0])
        code, out, err = finish(p)
    finally:
        if p.poll() is None:
            p.kill()
    assert code == 1, err[-3000:]
    line = one_line(err).splitlines()[-1]
    assert ("this job was requeued 2 times without storing a sample: each run reached its signal (hydra.launcher.timeout_min=120, "
            "hydra.launcher.signal_delay_s=120) before decoding anything; raise hydra.launcher.timeout_min or lower "
            "hydra.launcher.signal_delay_s") in line, line  # fmt: skip
    log = "".join(f.read_text() for f in sorted(sweep_dir.glob(".submitit/*/*_log.err")))
    assert re.findall(r"submitit WARNING \S+ \S+ - Caught signal (SIGUSR\d)", log) == ["SIGUSR1", "SIGUSR2"], log[-3000:]
    out = "".join(f.read_text() for f in sorted(sweep_dir.glob(".submitit/*/*_log.out")))
    assert len(re.findall(r"submitit INFO \(\S+ \S+\) - Requeued job", out)) == 2, out[-3000:]
    assert not list(stall.glob("*.2.stalled"))  # the third run stopped before decoding
    survived("SLURM job signalled with USR1: requeued like USR2")


def test_an_interrupted_submitter_names_its_jobs_and_a_rerun_refuses_until_they_end(slurm, tmp_path):
    """SIGTERM (a closed ssh session) to the submitting command while its job is held mid-decode: it
    names the job and the scancel that stops it, and leaves it running; the same command run again
    refuses in one line; the printed scancel ends the job; run again with cancel_on_interrupt=true and
    interrupted by Ctrl-C, it cancels its job itself."""
    gate = tmp_path / "gate"
    gate.mkdir()
    sweep_dir = tmp_path / "interrupted"
    argv = sweep_argv("strategy=t2t", "dataset.limit=4", "hydra.launcher.jobs=1", f"hydra.sweep.dir={sweep_dir}")
    env = env_for(slurm, tmp_path, gate)

    def held_run(*extra: str, sig: int) -> tuple[str, int, str]:
        p = subprocess.Popen([*argv, *extra], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            seen = {f.name for f in gate.glob("*.ready")}
            (ready,) = wait_for(lambda: [f for f in gate.glob("*.ready") if f.name not in seen], "the job to be held", proc=p)
            p.send_signal(sig)
            code, _, err = finish(p, timeout=120)
        finally:
            if p.poll() is None:
                p.kill()
        return ready.stem, code, one_line(err)

    job, code, err = held_run(sig=15)
    assert code != 0 and (f"t2m.sweep: 1 SLURM job(s) are still queued or running and go on storing results: {job}; cancel them with: "
                          f"scancel {job} (or set hydra.launcher.cancel_on_interrupt=true)") in err.splitlines(), err[-3000:]  # fmt: skip
    assert job in queued(slurm)

    p = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and one_line(p.stderr) == (
        f"t2m.sweep: this sweep's SLURM jobs {job} (submitted earlier) are still queued or running; wait for them to end "
        f"(squeue -j {job}) or cancel them (scancel {job}), then run this command again"), p.stderr[-3000:]  # fmt: skip
    assert len([j for j in slurm.jobs() if j["id"].startswith(job.split("_")[0])]) == 1  # nothing submitted

    slurm.run(*shlex.split(err.split("cancel them with: ", 1)[1].split(" (or ", 1)[0]))  # the printed command, as printed
    wait_for(lambda: state(slurm, job) == "CANCELLED", "the printed scancel to end the job", timeout=120)  # COMPLETING still counts as running

    second, code, err = held_run("hydra.launcher.cancel_on_interrupt=true", sig=2)
    assert second != job and f"t2m.sweep: cancelled 1 SLURM job(s) (hydra.launcher.cancel_on_interrupt=true): scancel {second}" in err
    wait_for(lambda: state(slurm, second) == "CANCELLED", "the cancelled job to end", timeout=120)
    survived("the submitting command interrupted (SIGTERM, Ctrl-C): its SLURM jobs named, kept or cancelled, never submitted twice")


def test_a_job_with_two_tasks_decodes_two_shares_of_its_pack_at_once(slurm, tmp_path):
    """tasks_per_node=2 (as gpus_per_node=2 sets it): the job's two tasks each take a different half of
    the pack and load the model once; every sample is stored once (CPU tasks here: no GPU)."""
    sweep_dir = tmp_path / "two_tasks"
    p = subprocess.run(sweep_argv("strategy=t2t,lowprob", "dataset.limit=2", "hydra.launcher.jobs=1", "hydra.launcher.tasks_per_node=2",
                                  f"hydra.sweep.dir={sweep_dir}"),
                       cwd=tmp_path, env=env_for(slurm, tmp_path), capture_output=True, text=True, timeout=600)  # fmt: skip
    assert p.returncode == 0, p.stderr[-3000:]
    (folder,) = [d for d in (sweep_dir / ".submitit").iterdir() if d.is_dir()]  # one job, its two tasks' logs
    logs = [f.read_text() for f in sorted(folder.glob("*_log.out"))]
    assert len(logs) == 2 and [log.count("Loaded ") for log in logs] == [1, 1]
    assert [re.findall(r"\] \[(\d+)\] (\w+) tau=", log) for log in logs] == [[("0", "t2t")], [("1", "lowprob")]]  # one configuration each
    after = entries(tmp_path / "results" / "store")
    assert sorted(after.values()) == [(2, 2)] * 2
    assert pd.read_csv(sweep_dir / "sweep_results.csv")["complete"].all()
    survived("a SLURM job of two tasks: each decoded its own share of the pack")


def test_a_cancelled_baseline_pack_is_said_in_the_printout_and_kept_off_the_front(slurm, tmp_path):
    """Two packs held after their first chunk; the one holding T2T (the baseline) is cancelled, the other
    requeued (it finishes). The table, printout and plot mark the baseline incomplete, the printout says
    in one line that comparisons use the problems it has, and the Pareto lines leave it out."""
    gate = tmp_path / "gate"
    gate.mkdir()
    sweep_dir = tmp_path / "cancelled_baseline"
    p = subprocess.Popen(sweep_argv("strategy=t2t,lowprob", "baseline=null", "dataset.limit=4", "hydra.launcher.jobs=2",
                                    f"hydra.sweep.dir={sweep_dir}"),
                         cwd=tmp_path, env=env_for(slurm, tmp_path, gate), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        ready = wait_for(lambda: sorted(gate.glob("*.ready")) if len(list(gate.glob("*.ready"))) == 2 else None, "2 held jobs", proc=p)
        held = sorted(f.stem for f in ready)  # pack 0: t2t, pack 1: lowprob
        slurm.run("scancel", held[0])
        slurm.run("scontrol", "requeue", held[1])
        code, out, err = finish(p)
    finally:
        if p.poll() is None:
            p.kill()
    assert code == 1, err[-3000:]
    printed = out + err
    assert re.search(r"baseline #0 +t2t .*\(incomplete: 2/4 problems\)", printed), printed[-3000:]
    assert "baseline #0 is incomplete (2/4 problems): comparisons use the 2 problems it has" in printed
    assert not re.search(r"pareto +#0 ", printed)
    table = pd.read_csv(sweep_dir / "sweep_results.csv")
    assert table["complete"].tolist() == [False, True] and table["n_paired"].tolist() == [2, 2]
