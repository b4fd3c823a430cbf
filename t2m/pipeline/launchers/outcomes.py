"""What became of each configuration a sweep launched, for the line a sweep ends with.

t2m's launchers never raise for a configuration that failed: they return Hydra's JobReturn with
status FAILED (the exception inside), one per configuration, so that the other configurations' results
still reach the table and plot. The sweeper records every batch of returns here; when the sweep ends
(the SweepOutputs callback, after the table and plot are written) `incomplete()` names the
configurations that did not finish, and the command line ends with one line listing them and the
command that resumes them (exit status 1).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from hydra.core.utils import JobReturn, JobStatus

log = logging.getLogger(__name__)

LISTED = 5  # configurations named in the line; the rest are counted


class SweepIncomplete(RuntimeError):
    """Some configurations of a sweep failed; the message names them."""


@dataclass
class Outcome:
    job: str  # the job directory's name
    error: str | None  # one line: why it did not finish; None when it finished


_OUTCOMES: list[Outcome] = []


def reset() -> None:
    _OUTCOMES.clear()


def record(returns) -> None:
    for r in returns:
        _OUTCOMES.append(Outcome(job=_job_name(r), error=None if r.status == JobStatus.COMPLETED else reason(r._return_value)))


def incomplete() -> list[Outcome]:
    return [o for o in _OUTCOMES if o.error is not None]


def check_complete() -> None:
    """Raise SweepIncomplete naming the configurations that did not finish, if any."""
    failed = incomplete()
    if not failed:
        return
    named = "; ".join(f"{o.job} ({o.error})" for o in failed[:LISTED])
    more = f"; and {len(failed) - LISTED} more" if len(failed) > LISTED else ""
    raise SweepIncomplete(f"{len(failed)} of {len(_OUTCOMES)} configurations are incomplete: {named}{more}; "
                          f"the table and plot show the others")  # fmt: skip


def reason(error) -> str:
    """An exception (or submitit's report of a failed job) as one short line."""
    if error is None:
        return "no result"
    text = str(error).strip()
    if "failed during processing with trace" in text:  # submitit: the job's traceback; its last line says what
        trace = text.split("----------------------")[1] if text.count("----------------------") >= 2 else text
        lines = [line for line in trace.strip().splitlines() if line.strip()]
        return _short(lines[-1] if lines else text)
    lost = re.search(r"Job (\S+) .*?(has not produced any output \(state: [^)]*\))", text, re.S)
    if lost:  # submitit: the job ended without a result (cancelled, killed, out of memory or of requeues)
        return _short(f"{type(error).__name__}: job {lost.group(1)} {lost.group(2)}")
    first = text.splitlines()[0] if text else ""
    return _short(f"{type(error).__name__}: {first}" if first else type(error).__name__)


def _short(line: str, limit: int = 300) -> str:
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _job_name(r: JobReturn) -> str:
    out = r.hydra_cfg.hydra.runtime.output_dir if r.hydra_cfg is not None else None
    return Path(str(out)).name if out else "?"
