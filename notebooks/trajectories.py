# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Decoding trajectories (the paper's Figure 5)
#
# A run with `trajectory=true` (or `trajectory=[id, ...]`) stores each decoded sample's events next
# to its samples: every token committed from the mask (**fill**), overwritten (**edit**, T2T) or
# reset to the mask (**remask**, T2M), with its step, block, position and probability. Here: one
# problem under the baseline and under a remasking configuration, side by side, one row per step.
#
# Parameters: the next cell, or `T2M_RESULTS_DIR`, `T2M_PROBLEM_ID`, `T2M_OUT_DIR` in the environment.

# %% tags=["parameters"]
import os

RESULTS_DIR = os.environ.get("T2M_RESULTS_DIR")  # a sweep run with trajectory=...; None: the newest under ../results
PROBLEM_ID = os.environ.get("T2M_PROBLEM_ID")  # None: the problem with the most remasks
OUT_DIR = os.environ.get("T2M_OUT_DIR", ".")

# %%
from pathlib import Path

import pandas as pd
from IPython.display import Image, display

from t2m.pipeline import report

from t2m.pipeline.report import trajectory
from t2m.pipeline.store.jobdir import entry_dirs
from t2m.pipeline.store.entries import read_jsonl


results_dir = Path(RESULTS_DIR) if RESULTS_DIR else report.newest_sweep(Path("../results"), "run one with trajectory=true")
table, _, _ = report.table(results_dir, report.sweep_baseline(results_dir), report.sweep_correction(results_dir))
recorded = {}
for job in table["job"]:
    entries = entry_dirs(results_dir / job)
    recorded[job] = read_jsonl(entries[0] / trajectory.TRAJECTORIES) if entries else []
events = pd.DataFrame([{"job": job, "id": t["id"], **trajectory.counts(t)} for job, ts in recorded.items() for t in ts])
if events.empty:
    raise FileNotFoundError(f"no trajectories under {results_dir}; run the sweep with trajectory=true")
events.groupby("job")[["fill", "edit", "remask"]].sum()

# %% [markdown]
# ## One problem, baseline and remasking side by side

# %%
baseline_job = table.loc[table["vs_baseline"] == "baseline", "job"]
baseline_job = baseline_job.iloc[0] if len(baseline_job) else table["job"].iloc[0]
others = events[events["job"] != baseline_job]
if PROBLEM_ID is None:
    pick = (others if len(others) else events).sort_values(["remask", "edit"], ascending=False).iloc[0]
    problem_id, other_job = pick["id"], pick["job"]
else:
    problem_id = PROBLEM_ID
    other_job = others.loc[others["id"] == problem_id].sort_values("remask", ascending=False)["job"].iloc[0]
shown = [(job, trajectory.load(results_dir / job, problem_id)) for job in dict.fromkeys([baseline_job, other_job])]
figure = trajectory.picture(shown, Path(OUT_DIR) / f"trajectory_{problem_id}.png")
print(f"problem {problem_id}: " + "; ".join(f"{job}: {trajectory.counts(t)}" for job, t in shown))
display(Image(filename=str(figure)))
