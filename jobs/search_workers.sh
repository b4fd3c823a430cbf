#!/usr/bin/env bash
# Several workers on one Optuna search: a SLURM job array whose tasks all run the same search command.
# They share the study through its journal file (study.journal in the study directory) and the samples
# through the store, so four tasks run the study's n_trials about four times as fast, and together
# never more than n_trials: each task asks for its trials while holding a lock in the study directory.
# Each trial gets the verdict one worker would give it: it is compared with the trials asked before it,
# and waits (logged) until those of other tasks have reached its stage (docs/search.md, "Parallel and
# resumable").
# A task that is preempted, requeued or killed leaves its running trials to whichever task looks next
# (they continue from the last stage they finished; their samples are in the store). Every task writes
# the table, plots and shortlist when it ends; the last one to end has them all.
#
# Needs: SLURM (sbatch); t2m installed where the nodes see it; RESULTS on a filesystem every node shares
#   (NFS, Lustre mounted with -o flock, GPFS: the journal, the store and the job directories live there).
#   One GPU per task for a real model; the bundled tiny model runs on CPU (then drop the --gres line, or
#   pass --gres=none to sbatch).
#
#   sbatch jobs/search_workers.sh search=cheaper model=llada2_1_mini dataset=cmath100 dataset.path=/data/cmath_test.jsonl
#   sbatch --array=0-7 jobs/search_workers.sh search=cheaper hydra.sweeper.n_trials=120   # more workers, more trials
#   RESULTS=/shared/t2m bash jobs/search_workers.sh search=cheaper                        # one worker, here, no SLURM
#
# Running the same command again (sbatch or bash) continues the same study; optuna-dashboard
# $RESULTS/search_cheaper/<dataset>/study.journal (the study folder is its experiment) shows it while it runs.
#
#SBATCH --job-name=t2m-search
#SBATCH --array=0-3
#SBATCH --cpus-per-task=4
#SBATCH --mem=32G
#SBATCH --gres=gpu:1
#SBATCH --time=04:00:00
#SBATCH --requeue
#SBATCH --output=t2m-search-%A_%a.out
set -euo pipefail
RESULTS="${RESULTS:-results}"
echo "search worker ${SLURM_ARRAY_TASK_ID:-local} on $(hostname): python -m t2m.sweep results_dir=$RESULTS $*"
exec python -m t2m.sweep results_dir="$RESULTS" "$@"
