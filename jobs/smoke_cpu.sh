#!/usr/bin/env bash
# A CPU smoke test of the cluster path: the 5-configuration quick sweep on the bundled tiny model,
# 8 problems each, as 2 packed SLURM jobs without GPUs. A few minutes of CPU; checks that jobs start,
# see t2m and the shared filesystem, write to the store, and that the table comes back.
#
# Needs: SLURM (sbatch on PATH) and t2m installed where the nodes see it; SWEEP_DIR on a filesystem
#   every node shares. No GPU, no model download, no network (W&B runs are written offline).
#
#   [JOBS=2] [SWEEP_DIR=...] bash jobs/smoke_cpu.sh [overrides, e.g. hydra.launcher.partition=debug]
#   (an override of a key the recipe sets is refused as set twice: change those through the variables)
set -euo pipefail
exec python -m t2m.sweep -m sweep=quick dataset.limit=8 gen_length=32 model=tiny \
    hydra/launcher=slurm hydra.launcher.jobs="${JOBS:-2}" hydra.launcher.cpus_per_task=1 hydra.launcher.mem_gb=4 \
    hydra.launcher.timeout_min=20 hydra.sweep.dir="${SWEEP_DIR:-results/smoke_cpu}" "$@"
