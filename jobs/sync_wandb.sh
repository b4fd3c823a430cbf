#!/usr/bin/env bash
# Upload the W&B runs that compute nodes without internet wrote offline (tracker=wandb_offline, the
# default) into a sweep directory: one run per configuration and one for the sweep. Older copies of a
# run that was logged again sit in wandb/superseded/ and are left out; runs already uploaded are
# skipped (wandb marks them synced), so running this again uploads only what is new.
#
# Needs: a machine with internet that sees the sweep directory (the login node), `wandb login` done
#   there (or WANDB_API_KEY set). `--dry-run` lists what would be uploaded without a network.
#
#   bash jobs/sync_wandb.sh SWEEP_DIR [--dry-run] [-p PROJECT] [-e ENTITY]
set -euo pipefail
sweep_dir="${1:?usage: bash jobs/sync_wandb.sh SWEEP_DIR [wandb sync options]}"
shift
shopt -s nullglob
runs=("$sweep_dir"/wandb/offline-run-*)
if [ ${#runs[@]} -eq 0 ]; then
    echo "sync_wandb.sh: no offline runs in $sweep_dir/wandb (was it run with tracker=none?)" >&2
    exit 1
fi
exec wandb sync --no-include-synced "$@" "${runs[@]}"
