"""Where a study lives, and which processes work on it.

    storage: null                        <study dir>/study.journal, Optuna's journal file (the default)
    storage: /shared/searches/a.journal  a journal file elsewhere
    storage: sqlite:///study.db          an RDB URL (sqlite, postgresql, mysql through SQLAlchemy)

A journal file is an append-only log that Optuna writes under a lock it takes by creating a symlink
(JournalFileSymlinkLock: atomic on NFS too), so workers on several nodes can share one study through a
shared filesystem without a database server. `optuna-dashboard <journal file>` opens it.

Several workers (`python -m t2m.sweep -m search=...` started several times, e.g. as a SLURM job
array) share one study: each asks for its trials while holding `<study dir>/.ask.lock` (so together
they never ask for more than the budget) and holds `<study dir>/.workers/<id>.lock` for as long as it
runs; they write the study's table and plots one at a time (`<study dir>/.finish.lock`), so the last
to end writes last. A trial records the worker running it; a trial left RUNNING by a worker whose
lock is free (the worker was killed) is taken over by the next worker and continues from the stage it
had reached, its samples already in the store.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from pathlib import Path

import optuna

from t2m.pipeline.store.lock import FileLock
from t2m.pipeline.checks.validate import ConfigError

JOURNAL = "study.journal"
RDB_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "mariadb", "oracle", "mssql")
ALLOWED = "null (a journal file in the study directory), a journal file path, or an RDB URL such as sqlite:///study.db"


def describe(url: str | None, study_dir: Path) -> str:
    """The storage as a user would name it (what optuna-dashboard takes)."""
    return str(journal_path(url, study_dir)) if is_journal(url) else str(url)


def is_journal(url: str | None) -> bool:
    return url is None or "://" not in str(url)


def journal_path(url: str | None, study_dir: Path) -> Path:
    return Path(study_dir) / JOURNAL if url is None else Path(str(url)).expanduser().resolve()


def check(url: str | None, study_dir: Path) -> None:
    """A storage URL that cannot work, as one line, before anything is created."""
    if url is not None and (not isinstance(url, str) or not url.strip()):
        raise ConfigError(f"hydra.sweeper.storage={url!r} is invalid; allowed: {ALLOWED}")
    if is_journal(url):
        path = journal_path(url, study_dir)
        if path.is_dir():
            raise ConfigError(f"hydra.sweeper.storage={str(path)!r} is a directory; allowed: {ALLOWED}")
        return
    scheme = url.split("://", 1)[0].split("+", 1)[0].lower()
    if scheme not in RDB_SCHEMES:
        raise ConfigError(f"hydra.sweeper.storage={url!r} has an unknown scheme {scheme!r}; allowed: {ALLOWED}")


def open_storage(url: str | None, study_dir: Path) -> optuna.storages.BaseStorage:
    """The study's storage; a database that cannot be reached is a ConfigError (one line)."""
    check(url, study_dir)
    if is_journal(url):
        path = journal_path(url, study_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock

        return optuna.storages.JournalStorage(JournalFileBackend(str(path), lock_obj=JournalFileSymlinkLock(str(path))))
    try:
        return optuna.storages.RDBStorage(url)
    except Exception as e:  # noqa: BLE001 - SQLAlchemy, a driver or the server: all mean "this URL does not work"
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ConfigError(f"hydra.sweeper.storage={url!r} cannot be opened ({type(e).__name__}: {first[:200]}); allowed: {ALLOWED}") from None


# ---- workers -------------------------------------------------------------------------------------


def worker_id() -> str:
    """This process as a worker of a study: host, pid and start time (pids are reused)."""
    return f"{socket.gethostname()}-{os.getpid()}-{int(time.time())}"


class Workers:
    """The workers of one study directory and their liveness locks."""

    def __init__(self, study_dir: Path):
        self.dir = Path(study_dir) / ".workers"
        self.me = worker_id()
        self.lock = FileLock(self.dir / f"{self.me}.lock", what=f"search worker {self.me}")
        self.ask_lock = FileLock(Path(study_dir) / ".ask.lock", what=f"the study in {study_dir} (asking for trials)")
        self.finish_lock = FileLock(Path(study_dir) / ".finish.lock", what=f"the study in {study_dir} (writing its table and plots)")

    def __enter__(self) -> "Workers":
        self.lock.acquire("stop")
        return self

    def __exit__(self, *exc) -> None:
        self.lock.release()
        with contextlib.suppress(OSError):  # already gone: nothing to clean up
            (self.dir / f"{self.me}.lock").unlink()

    def alive(self, worker: str | None) -> bool:
        """Whether `worker` still runs: it holds its lock. A worker that never wrote one is gone."""
        if worker is None:
            return False
        if worker == self.me:
            return True
        path = self.dir / f"{worker}.lock"
        if not path.exists():
            return False
        probe = FileLock(path, what=f"search worker {worker}")
        if probe.try_acquire():  # free: its process ended, however it ended
            probe.release()
            return False
        return True
