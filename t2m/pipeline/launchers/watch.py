"""What a sweep's SLURM jobs are doing, shown by the command that waits for them.

Every few seconds the submitting command asks `scontrol show job` about its jobs and prints one line
per change: pending (with SLURM's reason), running (on which node), requeued or pre-empted (SLURM's
restart count went up), failed. A tqdm bar counts the samples stored of those the submitted
configurations need, read from the store through each configuration's job directory (store.json).
The restarts per job go into the job's last line and .submitit/t2m_jobs.json.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from t2m.pipeline.store.entries import SAMPLES, read_records
from t2m.pipeline.store.jobdir import read_pointer

POLL_S = 5.0
ENDED = ("COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED", "BOOT_FAIL", "DEADLINE")


def show(job_ids: list[str]) -> dict[str, dict]:
    """{job id: {state, reason, node, restarts}} for the jobs SLURM still knows."""
    if not job_ids or not shutil.which("scontrol"):
        return {}
    out = {}
    for array in sorted({j.split("_")[0] for j in job_ids}):
        p = subprocess.run(["scontrol", "show", "job", "-o", array], capture_output=True, text=True, timeout=60, check=False)
        for line in p.stdout.splitlines() if p.returncode == 0 else []:
            f = dict(w.split("=", 1) for w in line.split() if "=" in w)
            info = {"state": f.get("JobState", "?"), "reason": f.get("Reason", "None"), "node": f.get("NodeList", ""),
                    "restarts": int(f.get("Restarts", "0") or 0)}  # fmt: skip
            for task in _tasks(f.get("ArrayTaskId")):
                out[f"{f.get('ArrayJobId', array)}_{task}" if task is not None else f.get("JobId", array)] = info
    return out


def _tasks(spec: str | None) -> list:
    """Array task ids of one scontrol line: pending tasks are shown together, e.g. 2-5%4 or 1,3."""
    if spec is None:
        return [None]
    tasks = []
    for part in spec.split("%")[0].split(","):
        m = re.fullmatch(r"(\d+)-(\d+)", part)
        tasks += list(range(int(m.group(1)), int(m.group(2)) + 1)) if m else [int(part)] if part.isdigit() else []
    return tasks


def describe(job: str, before: dict | None, now: dict) -> str | None:
    """One line for a change of a job, or None."""
    if before is not None and now["restarts"] > before["restarts"]:
        return f"job {job}: requeued ({now['reason']}), restart {now['restarts']}"
    if before is not None and (before["state"], before["reason"]) == (now["state"], now["reason"]):
        return None
    if now["state"] == "PENDING":
        return f"job {job}: pending ({now['reason']})"
    if now["state"] == "RUNNING":
        return None if before is not None and before["state"] == "RUNNING" else f"job {job}: running on {now['node']}"
    if now["state"] in ("FAILED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "CANCELLED", "PREEMPTED"):
        return f"job {job}: {now['state'].lower()} ({now['reason']})"
    return None


def stored(job_dirs: list[Path]) -> int:
    """Samples stored so far for these configurations (their problems, in every sample entry)."""
    total = 0
    for d in job_dirs:
        pointer = read_pointer(d)
        if pointer is None:
            continue
        ids = set(pointer.get("problems") or [])
        for entry in pointer.get("sample_entries_abs") or [pointer.get("entry_abs")]:
            if entry:
                total += len({r["id"] for r in read_records(Path(entry) / SAMPLES)} & ids)
    return total


class Watch:
    """The live view: job lines and the samples bar, refreshed by `poll`."""

    def __init__(self, job_ids: list[str], job_dirs: list[Path], total: int):
        from tqdm import tqdm

        self.job_ids, self.job_dirs, self.last = job_ids, job_dirs, {}
        self.bar = tqdm(total=total, desc="samples stored", unit="sample", dynamic_ncols=True, mininterval=1.0)

    def poll(self) -> None:
        now = show(self.job_ids)
        for job in self.job_ids:
            if job in now:
                line = describe(job, self.last.get(job), now[job])
                if line:
                    self.bar.write(f"t2m.sweep: {line}", file=sys.stderr)  # above the bar, on stderr like it
                self.last[job] = now[job]
        self.bar.n = stored(self.job_dirs)
        self.bar.refresh()

    def restarts(self, job: str) -> int:
        return self.last.get(job, {}).get("restarts", 0)

    def close(self) -> None:
        self.poll()
        self.bar.close()
