"""Search benchmark: the paper's grid against Optuna searches of the same space, from one run.

    python -m t2m.bench.search                                   # bundled model, arith100: grid, then 3 searches of 30 trials
    python -m t2m.bench.search --seeds 0 --grid results/paper_ablation/2026-11-25_07-37-12   # reuse a grid already run

Everything runs through the real command line, each in its own results directory and store, so that
each decodes every sample it uses (the search borrows nothing from the grid):

    1. the grid     python -m t2m.sweep -m sweep=paper_ablation                  (109 configurations)
    2. a search     python -m t2m.sweep search=paper_ablation hydra.sweeper.n_trials=30 hydra.sweeper.sampler.seed=S
                    (the same space: the grid's values as categorical choices; 30 proposals, pruning on)

and prints, for each: forward passes decoded (the sum of `forwards` over every sample in its store),
samples decoded and wall time; for each search, the hypervolume of its front relative to the grid's,
in accuracy (up) and mean forward passes per sample (down), both against the same reference point (the
grid's worst accuracy and forwards, widened by a tenth of their span). Two hypervolumes per search:
with the study's own front (which holds the T2T baseline: it is a point of the space and every search
decodes it) and with the trials the sampler proposed only. Goal: >= 90% of the grid's hypervolume for
<= 30% of its forward passes. The bundled model decides what the figures are: re-run after retraining it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from t2m.analysis.front import hypervolume_2d, non_dominated, reference_point

GOAL_HV, GOAL_WORK = 0.90, 0.30


def run(args: list[str], cwd: Path, log: Path) -> float:
    """`python -m t2m.sweep ARGS` in `cwd`, its output in `log`; returns the wall time."""
    start = time.perf_counter()
    with open(log, "w") as out:
        p = subprocess.run([sys.executable, "-m", "t2m.sweep", *args], cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    if p.returncode != 0:
        raise SystemExit(f"t2m.bench.search: {' '.join(args)} failed (exit {p.returncode}); see {log}")
    return time.perf_counter() - start


def decoded(store: Path) -> tuple[int, int]:
    """(samples, forward passes) in a store: what the runs that own it decoded."""
    samples = forwards = 0
    for path in Path(store).glob("*/samples.jsonl"):
        for line in path.read_text().splitlines():
            if line.strip():
                samples += 1
                forwards += json.loads(line)["forwards"]
    return samples, forwards


def losses(df: pd.DataFrame) -> np.ndarray:
    return np.column_stack([df["mean_forwards"].astype(float), -df["accuracy"].astype(float)])


def front_text(df: pd.DataFrame, label=lambda r: "") -> str:
    pts = losses(df)
    rows = df[non_dominated(pts)].sort_values("mean_forwards")
    return "; ".join(f"{label(r)}{r['strategy']} tau={r['tau']:g} {100 * r['accuracy']:.0f}% {r['mean_forwards']:.2f} fwd" for _, r in rows.iterrows())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m t2m.bench.search", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("results") / "bench_search" / time.strftime("%Y-%m-%d_%H-%M-%S"))
    ap.add_argument("--grid", type=Path, default=None, help="a paper_ablation sweep directory already run (its store must be <results_dir>/store beside it)")
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--dataset", default="arith100")
    ap.add_argument("overrides", nargs="*", help="more overrides for both, e.g. model.name_or_path=...")
    a = ap.parse_args(argv)
    out = a.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    common = [f"dataset={a.dataset}", "tracker=none", *a.overrides]
    load = os.getloadavg()

    if a.grid is None:
        grid_dir, grid_store = out / "grid" / "sweep", out / "grid" / "store"
        grid_wall = run(["-m", "sweep=paper_ablation", *common, f"results_dir={out / 'grid'}", f"hydra.sweep.dir={grid_dir}"], out, out / "grid.log")
    else:
        grid_dir, grid_wall = a.grid.resolve(), float("nan")
        grid_store = Path(json.loads(next(grid_dir.glob("*/store.json")).read_text())["entry_abs"]).parent
    grid = pd.read_csv(grid_dir / "sweep_results.csv")
    grid_samples, grid_forwards = decoded(grid_store)
    reference = reference_point(losses(grid))
    hv_grid = hypervolume_2d(losses(grid), reference)

    results = []
    for seed in a.seeds:
        root = out / f"search_seed{seed}"
        wall = run(["search=paper_ablation", *common, f"hydra.sweeper.n_trials={a.trials}", f"hydra.sweeper.sampler.seed={seed}",
                    f"results_dir={root}", f"hydra.sweeper.grid={grid_dir}"], out, out / f"search_seed{seed}.log")  # fmt: skip
        (trials_csv,) = root.glob("*/*/trials.csv")
        trials = pd.read_csv(trials_csv)
        done = trials[trials["trial_state"].isin(["complete", "baseline"])]
        own = trials[trials["trial_state"] == "complete"]
        samples, forwards = decoded(root / "store")
        states = trials["trial_state"].value_counts()
        results.append({
            "seed": seed, "wall": wall, "samples": samples, "forwards": forwards, "work": forwards / grid_forwards,
            "hv": hypervolume_2d(losses(done), reference) / hv_grid, "hv_own": hypervolume_2d(losses(own), reference) / hv_grid if len(own) else 0.0,
            "states": {k: int(states.get(k, 0)) for k in ("complete", "pruned", "repeat", "fail")}, "front": front_text(done, lambda r: f"#{int(r['trial'])} "),
            "dir": trials_csv.parent,
        })  # fmt: skip

    digest = _checkpoint_digest()
    print(f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, at end {' '.join(f'{v:.2f}' for v in os.getloadavg())}")  # fmt: skip
    print(f"model: {' '.join(a.overrides) or 'bundled tiny dLLM'} (checkpoint {digest}); dataset {a.dataset}; results under {out}")
    print(f"reference point: accuracy {100 * -reference[1]:.2f}%, {reference[0]:.3f} forwards per sample (the grid's worst, widened by 10% of the span)")
    print(f"grid    {len(grid)} configurations: {grid_samples} samples, {grid_forwards} forward passes decoded, wall {grid_wall:.0f} s; "
          f"front: {front_text(grid)}")  # fmt: skip
    for r in results:
        s = r["states"]
        print(f"search  seed {r['seed']}: {a.trials} trials ({s['complete']} complete, {s['pruned']} pruned, {s['repeat']} repeats not run, {s['fail']} failed): "
              f"{r['samples']} samples, {r['forwards']} forward passes decoded = {100 * r['work']:.1f}% of the grid's, wall {r['wall']:.0f} s; "
              f"hypervolume {100 * r['hv']:.1f}% of the grid's ({100 * r['hv_own']:.1f}% from the sampler's trials alone); front: {r['front']}")  # fmt: skip
    work, hv, hv_own = (statistics.median(r[k] for r in results) for k in ("work", "hv", "hv_own"))
    met = hv >= GOAL_HV and work <= GOAL_WORK
    print(f"median over {len(results)} searches: {100 * hv:.1f}% of the grid's hypervolume ({100 * hv_own:.1f}% without the baseline) for "
          f"{100 * work:.1f}% of its forward passes; goal >= {100 * GOAL_HV:.0f}% for <= {100 * GOAL_WORK:.0f}%: {'met' if met else 'NOT met'}")  # fmt: skip
    if len(non_dominated(losses(grid)).nonzero()[0]) == 1:
        print("note: the grid's front is a single configuration on this model (every configuration ties or loses to it), so the hypervolume "
              "ratio mostly says whether a search found that one point")  # fmt: skip
    return 0


def _checkpoint_digest() -> str:
    from t2m.pipeline.store.provenance import checkpoint_digest
    from t2m.tiny import CHECKPOINT

    return checkpoint_digest(str(CHECKPOINT)) or "?"


if __name__ == "__main__":
    sys.exit(main())
