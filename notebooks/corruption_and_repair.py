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
# # Corruption and repair (the paper's Table 2), and diversity under sampling
#
# Every sample has an error class (`t2m/analysis/errors.py`, definitions and examples in
# `docs/scoring.md`): **correct**, **last_mile** (the paper's last-mile corruption: the gold appears
# among the reasoning chain's numbers, the stated answer is wrong; a repeated marker with no number
# counts too), **reasoning** (a wrong answer the chain never reached) and **no_answer** (no stated
# answer, or cut off by `gen_length`). **last_value** is t2m's stricter subset of last_mile (the
# chain's last computed value is the gold, by a step that holds). Against the baseline, per class: how
# many of its errors each configuration repaired (the **gross repair rate**, repaired / baseline
# errors: the paper's 92 of 155, 59.4%), how many of its correct answers it broke into that class, and
# the **net change** of the class's errors ((baseline - configuration) / baseline: the paper's
# 155 -> 91, 41.3%).
#
# Parameters: the next cell, or `T2M_RESULTS_DIR` in the environment.

# %% tags=["parameters"]
import os

RESULTS_DIR = os.environ.get("T2M_RESULTS_DIR")  # a sweep directory; None: the newest under ../results

# %%
from pathlib import Path

import pandas as pd

from t2m.analysis.repair import format_table, long_table, repair_table, table2, transitions
from t2m.pipeline import report
from t2m.pipeline.store.jobdir import job_records


results_dir = Path(RESULTS_DIR) if RESULTS_DIR else report.newest_sweep(Path("../results"))
table, baseline, _ = report.table(results_dir, report.sweep_baseline(results_dir), report.sweep_correction(results_dir))
repair = long_table(table)
print(f"{results_dir}: {len(table)} configurations, {repair['job'].nunique() if len(repair) else 0} compared with the baseline {baseline}")

# %% [markdown]
# ## The baseline's errors by class, and the forms of its corruption

# %%
forms = ["n_marker_repeated", "n_digits_appended", "n_digits_dropped", "n_digit_substituted", "n_other_corruption"]
base_rows = table[table["vs_baseline"] == "baseline"]
base_rows[[c for c in ["job", "strategy", "tau", "accuracy", "n_last_mile", "n_last_value", "n_reasoning", "n_no_answer", *forms]
           if c in base_rows]]  # fmt: skip

# %% [markdown]
# ## Table 2: per configuration against its baseline
# On the problems each shares with its baseline: errors, corruption (`last_mile`, the paper's rule),
# `last_value`, reasoning and unanswered errors, accuracy and Δ; per class the gross repair rate
# (`gross_repair_<class>`) and the net change (`net_change_<class>`).

# %%
t2 = table2(table)
t2

# %% [markdown]
# ## Repaired and broken, per configuration and class
# `share`: the class's part of the baseline's errors; `repair_rate`: the gross repair rate, repaired / the
# baseline's errors of the class; `net_change`: (the baseline's errors - the configuration's) / the baseline's.

# %%
pivot = repair.pivot_table(index=["job", "strategy", "tau", "c_max", "rho_max"], columns="class",
                           values=["repaired", "broken"], aggfunc="sum", dropna=False) if len(repair) else repair  # fmt: skip
pivot

# %% [markdown]
# ## Table 2 for the configuration that repairs most last-mile errors

# %%
if len(repair):
    best = repair[repair["class"] == "last_mile"].sort_values(["repaired", "broken"], ascending=[False, True]).iloc[0]
    before, after = job_records(results_dir / best["baseline_job"]), job_records(results_dir / best["job"])
    print(f"{best['job']} vs {best['baseline_job']}")
    print(format_table(repair_table(before, after)))
    print("\nfrom class under the baseline (rows) to class under the configuration (columns):")
    print(transitions(before, after).to_string())

# %% [markdown]
# ## Diversity under sampling
# Configurations run with `samples_per_prompt=k` and `temperature > 0`: pass@1, pass@k (unbiased
# estimator), majority-vote accuracy, distinct final answers per problem, distinct bigrams, and the
# mean pairwise token edit distance between a problem's samples. A remasking policy that repairs
# sampling errors by making the samples alike shows lower diversity here.

# %%
sampling = ["job", "strategy", "tau", "temperature", "samples_per_prompt", "pass@1", "pass@k", "majority_accuracy",
            "distinct_answers", "distinct_2", "edit_distance"]  # fmt: skip
sampled = table[table["pass@k"].notna()] if "pass@k" in table else pd.DataFrame(columns=sampling)
sampled[[c for c in sampling if c in sampled]]

# %% [markdown]
# The answers of a few problems' samples, for the first sampled configuration (sample 0 first).

# %%
from t2m.pipeline.store.jobdir import sample_groups

if len(sampled):
    groups = sample_groups(results_dir / sampled["job"].iloc[0])
    answers = pd.DataFrame([{"id": pid, "gold": samples[0]["gold"], "answers": [s["extracted"] for s in samples],
                             "right": sum(bool(s["correct"]) for s in samples)} for pid, samples in groups.items()])  # fmt: skip
    print(answers.head(8).to_string(index=False))
