"""Time limits a SLURM job can work in, checked before anything is submitted, and the attempts of a
pack that keeps being requeued without storing anything.

A job gets USR2 `signal_delay_s` before its time limit and is requeued; what it does before that
signal must include starting Python, importing torch and loading the model. A 1-minute limit with
USR2 20 s before spends every requeue starting up and stores nothing, so the limit is checked against
a start-up margin on the submitting host (`check_time_limit`), and a pack requeued twice without
storing a sample stops in the job with one line (`Attempts`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from t2m.pipeline.checks.validate import ConfigError, Rejected

STARTUP_MARGIN_S = 120  # Python, torch, the model and the first batch on a loaded node; hydra.launcher.startup_margin_s
MAX_IDLE_ATTEMPTS = 3  # the first run and two requeues, none of which stored a sample


def check_time_limit(timeout_min, signal_delay_s, margin_s) -> None:
    """One line (exit 2) when the time before USR2 is shorter than the start-up margin."""
    if timeout_min is None or signal_delay_s is None:
        return
    left = timeout_min * 60 - signal_delay_s
    if left >= margin_s:
        return
    need = -(-(signal_delay_s + margin_s) // 60)
    raise Rejected(ConfigError(
        f"hydra.launcher.timeout_min={timeout_min} with hydra.launcher.signal_delay_s={signal_delay_s} leaves {left} s of work "
        f"before each requeue, less than the {margin_s} s a job needs to start (hydra.launcher.startup_margin_s); "
        f"set hydra.launcher.timeout_min={need} or more, or lower hydra.launcher.signal_delay_s"))  # fmt: skip


class Attempts:
    """The runs of one SLURM job (its first run and each requeue), in its submitit folder: when each
    started and how many samples the pack's configurations had stored by then."""

    def __init__(self, folder: Path, rank: int = 0):
        self.path = Path(folder) / (f"t2m_attempts.{rank}.jsonl" if rank else "t2m_attempts.jsonl")  # one per task of the job

    def read(self) -> list[dict]:
        try:
            return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
        except (OSError, ValueError):
            return []

    def start(self, stored: int) -> list[dict]:
        """Record this run; returns every run so far, this one last."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            f.write(json.dumps({"started": time.time(), "stored": stored}) + "\n")
        return self.read()


def idle_requeues(attempts: list[dict]) -> int:
    """How many requeues in a row (ending with this run) found nothing new stored since the run before."""
    idle = 0
    for before, after in zip(attempts[-2::-1], attempts[::-1]):
        if after["stored"] != before["stored"]:
            break
        idle += 1
    return idle


def stuck_message(attempts: list[dict], timeout_min, signal_delay_s) -> str | None:
    """The one line for a pack requeued twice without storing a sample, or None."""
    if idle_requeues(attempts) < MAX_IDLE_ATTEMPTS - 1:
        return None
    return (f"this job was requeued {len(attempts) - 1} times without storing a sample: each run reached its signal "
            f"(hydra.launcher.timeout_min={timeout_min}, hydra.launcher.signal_delay_s={signal_delay_s}) before decoding "
            f"anything; raise hydra.launcher.timeout_min or lower hydra.launcher.signal_delay_s")  # fmt: skip


def stored_samples(job_dirs: list[Path]) -> int:
    """Samples the configurations' entries hold now (their job directories link to the entries)."""
    total = 0
    for d in job_dirs:
        try:
            with open(Path(d) / "samples.jsonl", "rb") as f:
                total += sum(1 for _ in f)
        except OSError:
            continue
    return total
