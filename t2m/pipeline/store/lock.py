"""An exclusive lock per configuration (and per job directory) that names its holder.

    with FileLock(entry / ".lock", what="configuration 3f2a...").hold(if_busy="wait"):
        ...  # only this process appends to the entry

The lock is a POSIX record lock (`fcntl.lockf`) on a small file. The operating system releases it
when its process ends, however it ends (kill -9 included), so a lock can never outlive a dead process
on the same machine; NFS (v3 with lockd, v4 natively), Lustre (mounted with `flock`) and GPFS carry
the same locks across nodes, and a crashed node's locks expire with the file server's lease. While
held, the file says who holds it (host, pid, since, command) so a second writer can name the holder;
on a clean release the file is emptied, so a lock file that still names a holder when it is next
acquired was left by a process that died, and the new holder says it took over.

POSIX locks belong to a process, not to a file descriptor: closing any descriptor of the file releases
them. So a process opens each lock file once (`_HELD`) and re-entering a lock it holds is a no-op.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import socket
import sys
import time
from pathlib import Path

log = logging.getLogger(__name__)

IF_BUSY = ("wait", "stop")
POLL_S = 0.5

_HELD: dict[str, "FileLock"] = {}  # lock files this process holds, by path


class Busy(RuntimeError):
    """Another live process holds the lock (if_busy=stop)."""


class LockUnsupported(OSError):
    """The filesystem cannot lock files (e.g. Lustre mounted without `flock`)."""


class FileLock:
    def __init__(self, path: Path, what: str):
        self.path = Path(path)
        self.what = what  # how messages name the locked thing
        self._fd: int | None = None
        self._depth = 0  # nested holds by this process
        self._borrowed: FileLock | None = None  # the FileLock of this process that really holds the file
        self.took_over: dict | None = None  # the holder this lock was taken over from, if any

    @property
    def held(self) -> bool:
        """Whether this process holds the lock through this object."""
        return self._fd is not None or self._borrowed is not None

    # ---- acquiring -------------------------------------------------------------------------------

    def try_acquire(self) -> bool:
        """Take the lock if it is free; never waits."""
        owner = _HELD.get(str(self.path))
        if owner is not None:  # this process holds it already (a packed job, a nested call): re-enter
            owner._depth += 1
            if owner is not self:
                self._borrowed = owner
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            import fcntl

            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EACCES, errno.EAGAIN):
                return False
            if e.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                raise LockUnsupported(e.errno, f"{self.path.parent} cannot hold file locks ({e.strerror}); put the store on a "
                                      f"filesystem that supports fcntl locks (local disk, NFS, Lustre with -o flock)") from None  # fmt: skip
            raise
        self._fd, self._depth = fd, 1
        left = _read_holder(fd)
        if left:  # the last holder never released it: it died (kill -9, node crash, OOM kill)
            self.took_over = left
            log.warning("Took over the lock of %s from %s, which stopped without releasing it", self.what, describe(left))
        _write_holder(fd, {"host": socket.gethostname(), "pid": os.getpid(), "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                           "command": " ".join(sys.argv)[:500]})  # fmt: skip
        _HELD[str(self.path)] = self
        return True

    def acquire(self, if_busy: str = "wait") -> "FileLock":
        """Take the lock; when another process holds it, wait for it (`wait`) or raise Busy (`stop`)."""
        if if_busy not in IF_BUSY:
            raise ValueError(f"if_busy={if_busy!r} is unknown; allowed: {', '.join(IF_BUSY)}")
        if self.try_acquire():
            return self
        holder = self.holder()
        if if_busy == "stop":
            raise Busy(f"{self.what} is in use by {describe(holder)}; wait for it to finish, or run with store.if_busy=wait")
        log.warning("Waiting for %s, in use by %s (store.if_busy=stop stops instead)", self.what, describe(holder))
        while not self.try_acquire():
            time.sleep(POLL_S)
        return self

    @contextlib.contextmanager
    def hold(self, if_busy: str = "wait"):
        self.acquire(if_busy)
        try:
            yield self
        finally:
            self.release()

    def release(self) -> None:
        if self._borrowed is not None:
            owner, self._borrowed = self._borrowed, None
            owner.release()
            return
        if self._fd is None:
            return
        self._depth -= 1
        if self._depth > 0:
            return
        fd, self._fd = self._fd, None
        _HELD.pop(str(self.path), None)
        with contextlib.suppress(OSError):  # a full disk must not keep the lock: closing releases it anyway
            os.ftruncate(fd, 0)  # a clean release leaves an empty file: nobody to take over from
        os.close(fd)  # closing the descriptor releases the lock

    # ---- who holds it ----------------------------------------------------------------------------

    def holder(self) -> dict | None:
        """The holder's record as written in the lock file (None when empty or unreadable)."""
        owner = _HELD.get(str(self.path))
        if owner is not None:
            return _read_holder(owner._fd)
        try:
            # Safe: this process holds no lock on the file, so closing this descriptor releases nothing.
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return None
        try:
            return _read_holder(fd)
        finally:
            os.close(fd)


def describe(holder: dict | None) -> str:
    """`host gpu17, pid 4242 (since ...)`, and whether that process still runs when it is on this host."""
    if not holder:
        return "another process (its lock file names no holder)"
    host, pid = holder.get("host", "?"), holder.get("pid", "?")
    text = f"host {host}, pid {pid}"
    if holder.get("since"):
        text += f" (since {holder['since']})"
    if host == socket.gethostname() and isinstance(pid, int) and not _alive(pid):
        text += ", which is no longer running"
    return text


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_holder(fd: int) -> dict | None:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        data = os.read(fd, 4096)
    except OSError:
        return None
    try:
        return json.loads(data) if data.strip() else None
    except ValueError:
        return {"host": "?", "pid": "?"}  # a torn write by a holder that died mid-write


def _write_holder(fd: int, holder: dict) -> None:
    with contextlib.suppress(OSError):  # naming the holder is a courtesy; the lock itself is held
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        os.fsync(fd)
