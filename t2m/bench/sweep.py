"""Sweep benchmark: one named sweep run with and without packing, side by side in one run.

    python -m t2m.bench sweep                          # the paper ablation: Hydra's basic launcher, t2m's
                                                       # in-process one configuration per job and packed, and
                                                       # 2 packed local processes (both cores)
    python -m t2m.bench sweep --slurm --jobs 2         # and through SLURM: one job per configuration vs 2 jobs

Each variant is the real command (`python -m t2m.sweep -m sweep=NAME ...`) in a directory of its own,
with a fresh store, so every variant decodes everything. Printed per variant: wall time, CPU time of
the command and its children (not of SLURM jobs, which are not its children), jobs, model loads
(the job logs' "Loaded ..." lines), samples decoded; and whether every variant's table holds the same
results (packing must not change them). `--slurm` needs `sbatch` on PATH (a cluster's login node, or
the private test cluster: `python tests/slurm_cluster.py up DIR --cpus $(nproc)` prints its exports).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# name -> overrides, in the order they run; the SLURM ones get --slurm-args too
LOCAL = {
    "basic (Hydra's launcher, 1 config/job)": ["hydra/launcher=basic"],
    "inprocess, 1 config/job": ["hydra.launcher.configs_per_job=1"],
    "inprocess, packed (default)": [],
    "local, packed into 2 processes": ["hydra/launcher=local", "hydra.launcher.jobs=2"],
}
SLURM_RESOURCES = ["hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=2", "hydra.launcher.timeout_min=120"]


def slurm_variants(jobs: int) -> dict:
    return {
        "slurm, 1 config/job": ["hydra/launcher=slurm", "hydra.launcher.configs_per_job=1", *SLURM_RESOURCES],
        f"slurm, packed into {jobs} jobs": ["hydra/launcher=slurm", f"hydra.launcher.jobs={jobs}", *SLURM_RESOURCES],
    }


def run_variant(workdir: Path, sweep: str, overrides: list[str]) -> dict:
    """One sweep command in `workdir`; its figures."""
    workdir.mkdir(parents=True)
    sweep_dir = workdir / "sweep"
    cmd = [sys.executable, "-m", "t2m.sweep", "-m", f"sweep={sweep}", f"results_dir={workdir / 'results'}",
           f"hydra.sweep.dir={sweep_dir}", *overrides]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    p = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    (workdir / "stdout.txt").write_text(p.stdout)
    (workdir / "stderr.txt").write_text(p.stderr)
    if p.returncode != 0:
        raise SystemExit(f"t2m.bench: `{' '.join(cmd)}` exited {p.returncode}: {(p.stderr.strip().splitlines() or ['?'])[-1]} (logs in {workdir})")
    job_logs = sorted(sweep_dir.glob(".submitit/*/*_log.out"))
    logs = p.stdout + p.stderr + "".join(f.read_text() for f in job_logs)
    samples = sum(sum(1 for _ in f.open()) for f in (workdir / "results" / "store").glob("*/samples.jsonl"))
    return {
        "wall": wall,
        "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "jobs": len({f.parent for f in job_logs}) or 1,
        "loads": logs.count("] - Loaded ") or logs.count("Loaded "),
        "samples": samples,
        "table": results_table(sweep_dir),
    }


def results_table(sweep_dir: Path):
    """The sweep's results, keyed by configuration, without what may differ between runs (times, paths)."""
    import pandas as pd

    table = pd.read_csv(sweep_dir / "sweep_results.csv")
    keys = [c for c in ("strategy", "tau", "c_max", "rho_max") if c in table]
    values = [c for c in ("n", "accuracy", "strict_accuracy", "mean_modifications", "mean_forwards", "mean_output_tokens") if c in table]
    return table[keys + values].sort_values(keys).reset_index(drop=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m t2m.bench sweep", description=__doc__.splitlines()[0])
    ap.add_argument("--sweep", default="paper_ablation", help="a named sweep (sweeps/NAME.yaml)")
    ap.add_argument("--slurm", action="store_true", help="also run it through SLURM (needs sbatch on PATH)")
    ap.add_argument("--jobs", type=int, default=2, help="SLURM jobs of the packed SLURM variant")
    ap.add_argument("--no-local", action="store_true", help="only the SLURM variants")
    ap.add_argument("--only", action="append", default=None, help="run only the variants whose name contains this (repeatable)")
    ap.add_argument("--workdir", default=None, help="where the variants run (default: a temporary directory, removed after)")
    ap.add_argument("overrides", nargs="*", help="added to every variant's command, e.g. dataset.limit=20 tracker=none")
    args = ap.parse_args(argv)
    if args.slurm and not shutil.which("sbatch"):
        raise SystemExit("t2m.bench: --slurm needs sbatch on PATH (a SLURM login node, or `python tests/slurm_cluster.py up DIR`)")

    variants = {} if args.no_local else dict(LOCAL)
    if args.slurm:
        variants.update(slurm_variants(args.jobs))
    if args.only:
        variants = {name: o for name, o in variants.items() if any(word in name for word in args.only)}
    root = Path(args.workdir or tempfile.mkdtemp(prefix="t2m-bench-sweep-"))
    print(f"machine: {platform.node()} {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"sweep: {args.sweep} {' '.join(args.overrides)}; each variant in a directory of its own with a fresh store")
    figures = {}
    for i, (name, overrides) in enumerate(variants.items()):
        figures[name] = run_variant(root / f"{i}", args.sweep, [*overrides, *args.overrides])
        f = figures[name]
        print(f"{name:<40} wall {f['wall']:7.1f}s  cpu {f['cpu']:7.1f}s  jobs {f['jobs']:4d}  model loads {f['loads']:4d}  "
              f"samples {f['samples']}", flush=True)  # fmt: skip
    tables = [f["table"] for f in figures.values()]
    same = all(len(t) == len(tables[0]) and t.equals(tables[0]) for t in tables)
    print(f"configurations: {len(tables[0])}; identical results in every variant: {same}")
    for group in ("local", "slurm"):  # each variant against its group's first: one configuration per job
        names = [n for n in figures if n.startswith("slurm") == (group == "slurm")]
        for name in names[1:]:
            before, f = figures[names[0]], figures[name]
            cpu = f", cpu {before['cpu'] / f['cpu']:.2f}x less" if group == "local" else ""  # SLURM jobs are not this process's children
            print(f"{name} against {names[0]}: wall {before['wall'] / f['wall']:.2f}x faster{cpu}, "
                  f"jobs {before['jobs']} -> {f['jobs']}, model loads {before['loads']} -> {f['loads']}")
    if args.workdir is None:
        shutil.rmtree(root, ignore_errors=True)
    else:
        print(f"logs and results: {root}")
    if not same:
        raise SystemExit("t2m.bench: the variants' results differ")


if __name__ == "__main__":
    main()
