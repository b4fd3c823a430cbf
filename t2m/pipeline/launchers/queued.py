"""A sweep's SLURM jobs outliving the command that submitted them.

The submitting command records the ids of the jobs it submitted in the sweep directory
(.submitit/t2m_jobs.json). Interrupted (Ctrl-C, or SIGTERM/SIGHUP when its ssh session closes) it
says which jobs are still queued or running and the exact `scancel` that stops them, or cancels them
itself with `hydra.launcher.cancel_on_interrupt=true`. Run again while those jobs are still queued, it
refuses in one line naming them instead of submitting a second set that would claim the same store
entries.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from t2m.pipeline.checks.validate import ConfigError, Rejected

RECORD = "t2m_jobs.json"


def record(sweep_dir: Path, job_ids: list[str], restarts: dict[str, int] | None = None) -> None:
    """The jobs this command submitted (and, once they ended, how often each was requeued)."""
    path = Path(sweep_dir) / ".submitit" / RECORD
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"jobs": job_ids, **({"restarts": restarts} if restarts is not None else {})}) + "\n")


def recorded(sweep_dir: Path) -> list[str]:
    try:
        return list(json.loads((Path(sweep_dir) / ".submitit" / RECORD).read_text())["jobs"])
    except (OSError, ValueError, KeyError, TypeError):
        return []


def active(job_ids: list[str]) -> list[str]:
    """The jobs of `job_ids` that squeue still shows queued or running (squeue's default states)."""
    if not job_ids or not shutil.which("squeue"):
        return []
    arrays = sorted({j.split("_")[0] for j in job_ids})  # a purged id makes squeue fail: ask by array, then filter
    p = subprocess.run(["squeue", "-h", "-r", "-o", "%i", "-j", ",".join(arrays)], capture_output=True, text=True, timeout=60, check=False)
    shown = set(p.stdout.split()) if p.returncode == 0 else set()
    return [j for j in job_ids if j in shown]


def refuse_if_queued(sweep_dir: Path) -> None:
    """One line (exit 2) when jobs this sweep submitted earlier are still queued or running."""
    still = active(recorded(sweep_dir))
    if still:
        raise Rejected(ConfigError(
            f"this sweep's SLURM jobs {' '.join(still)} (submitted earlier) are still queued or running; wait for them to end "
            f"(squeue -j {','.join(still)}) or cancel them (scancel {' '.join(still)}), then run this command again"))  # fmt: skip


@contextmanager
def interruptible():
    """SIGTERM and SIGHUP (a closed ssh session) end the wait as Ctrl-C does."""

    def stop(signum, frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def on_interrupt(job_ids: list[str], cancel: bool) -> None:
    """The line an interrupted submitter prints about its jobs (cancelling them first if asked)."""
    still = active(job_ids)
    if not still:
        return
    if cancel:
        subprocess.run(["scancel", *still], capture_output=True, text=True, timeout=60, check=False)
        print(f"t2m.sweep: cancelled {len(still)} SLURM job(s) (hydra.launcher.cancel_on_interrupt=true): scancel {' '.join(still)}",
              file=sys.stderr, flush=True)  # fmt: skip
        return
    print(f"t2m.sweep: {len(still)} SLURM job(s) are still queued or running and go on storing results: {' '.join(still)}; "
          f"cancel them with: scancel {' '.join(still)} (or set hydra.launcher.cancel_on_interrupt=true)", file=sys.stderr, flush=True)  # fmt: skip
