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
# # Cost versus accuracy, with the paper's published points
#
# Every configuration of a sweep directory as one point: accuracy (95% Wilson interval) against
# modifications per sample and against forward passes per sample, marked by its paired comparison
# with the baseline (exact McNemar test, its p adjusted over every configuration compared with that
# baseline: Holm by default, the sweep's `stats.correction`). Published points, such as the paper's Table 1 ablation on
# CMATH (a CSV with `accuracy_pct`, `avg_modifications_per_sample`, `avg_forwards_per_sample`,
# `strategy`), are drawn as hollow markers when `OVERLAY_CSV` names one.
#
# Parameters: set them in the next cell, or in the environment (`T2M_RESULTS_DIR`, `T2M_OVERLAY_CSV`,
# `T2M_OUT_DIR`) to run the notebook headless, e.g. with `jupytext --execute`.

# %% tags=["parameters"]
import os

RESULTS_DIR = os.environ.get("T2M_RESULTS_DIR")  # a sweep directory; None: the newest under ../results
OVERLAY_CSV = os.environ.get("T2M_OVERLAY_CSV")  # e.g. ../shared/reference/paper_ablation_cmath100.csv; None: no overlay
OUT_DIR = os.environ.get("T2M_OUT_DIR", ".")  # where the figure is written

# %%
from pathlib import Path

import pandas as pd
from IPython.display import Image, display

from t2m.pipeline import report
from t2m.pipeline.report.plot import png


results_dir = Path(RESULTS_DIR) if RESULTS_DIR else report.newest_sweep(Path("../results"))
table, baseline, warnings = report.table(results_dir, report.sweep_baseline(results_dir), report.sweep_correction(results_dir))
print(f"{results_dir}: {len(table)} configurations, baseline {baseline}")
for line in warnings:
    print("warning:", line)

# %% [markdown]
# ## The table
# One row per configuration; `vs_baseline` is the verdict at adjusted p < 0.05 (`p_adjusted`: the exact
# McNemar p `mcnemar_p` adjusted over the family by `correction`), so that a sweep of 108 comparisons
# does not mark about five configurations by chance.

# %%
columns = ["job", "strategy", "tau", "c_max", "rho_max", "accuracy", "vs_baseline", "delta_accuracy", "mcnemar_p", "p_adjusted",
           "fixed", "broken", "mean_modifications", "mean_forwards"]  # fmt: skip
table[[c for c in columns if c in table]]

# %% [markdown]
# ## The figure, with the published points

# %%
overlay = report.read_overlay(OVERLAY_CSV) if OVERLAY_CSV else None
if overlay is not None:
    print(f"{len(overlay)} published points from {OVERLAY_CSV}:")
    print(overlay.groupby("strategy")["accuracy_pct"].agg(["count", "min", "max"]))
figure = png(table, Path(OUT_DIR) / "cost_vs_accuracy.png", overlay, title=report.title(table))
display(Image(filename=str(figure)))

# %% [markdown]
# ## Our points next to the published ones
# The best accuracy per strategy here and in the published table (the two may use different models
# and datasets: the comparison is of shapes, not of levels).

# %%
ours = table.groupby("strategy")["accuracy"].max().mul(100).rename("ours_best_pct")
theirs = overlay.groupby("strategy")["accuracy_pct"].max().rename("published_best_pct") if overlay is not None else None
pd.concat([ours, theirs], axis=1) if theirs is not None else ours.to_frame()
