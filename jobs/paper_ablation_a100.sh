#!/usr/bin/env bash
# The paper's 109-configuration ablation (LLaDA2.1-mini on CMATH-100) on A100s, packed into a few
# SLURM jobs: JOBS jobs (default 4), each loading the model once and decoding its ~28 configurations
# together; every configuration still gets its own job directory, summary and W&B run.
#
# Needs: SLURM with A100s as GRES gpu:a100 (other clusters: see conf/hydra/launcher/slurm_a100.yaml);
#   t2m installed where the nodes see it; SWEEP_DIR and the store on a filesystem every node shares;
#   LLaDA2.1-mini in the Hugging Face cache (or MODEL_PATH=/path/to/checkpoint); the CMATH test split
#   as JSONL (CMATH=/path/to/cmath_test.jsonl). Submit from the login node, in tmux or screen: the
#   command waits for the jobs, then writes the table and plot.
# Resume (pre-emption, time-outs past max_num_timeout, a failed or cancelled job): run the same command
#   again. Finished configurations are kept and not logged again; the others go on where they stopped.
#
# Nodes with 1 A100 (the default): JOBS jobs of one GPU each. Nodes with 8 A100s: one job per node, one
#   task per GPU, each task decoding its share of the job's pack with its own copy of the model:
#   JOBS=1 bash jobs/paper_ablation_a100.sh hydra.launcher.gres=gpu:a100:8 hydra.launcher.tasks_per_node=8 \
#       hydra.launcher.cpus_per_task=8 hydra.launcher.mem_gb=512
#   (gpus_per_node=8 instead of gres sets tasks_per_node=8 by itself.)
#
#   CMATH=/data/cmath_test.jsonl bash jobs/paper_ablation_a100.sh [overrides, e.g. hydra.launcher.partition=gpu]
# The recipe's own settings change through its variables (MODEL, DATASET, CMATH, MODEL_PATH, JOBS,
# SWEEP_DIR): an override of a key it already sets is refused as a key set twice.
set -euo pipefail
dataset="${DATASET:-cmath100}"
path=()
case "$dataset" in cmath*) path=(dataset.path="${CMATH:?set CMATH=/path/to/cmath_test.jsonl}") ;; esac
exec python -m t2m.sweep -m sweep=paper_ablation \
    model="${MODEL:-llada2_1_mini}" ${MODEL_PATH:+model.name_or_path="$MODEL_PATH"} \
    dataset="$dataset" "${path[@]}" \
    hydra/launcher=slurm_a100 hydra.launcher.jobs="${JOBS:-4}" \
    hydra.sweep.dir="${SWEEP_DIR:-results/paper_ablation_a100}" "$@"
