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

A lock file deleted by hand must never let a second writer in. A writer checks, after taking the lock,
that the file it locked is still the one at the path (else it takes it again). A holder's watcher
thread checks every CHECK_S that its file is still at the path and, when it is not, puts a locked file
back; a newcomer that had to create a store entry's lock file (`expected`: entries create theirs, so a
missing one was deleted) holds it GRACE_S before it decodes, and gives it up when a holder wrote itself
into it in that time. A holder that finds its path taken for good stops appending (`LockLost`).

A holder also refreshes a heartbeat in its file every HEARTBEAT_S, so that a waiter can tell a holder
that makes no progress (stopped with SIGSTOP / Ctrl-Z on this host, or silent for STALE_S on another)
and say so; `wait_timeout_s` bounds the wait.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import socket
import sys
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)

IF_BUSY = ("wait", "stop")
POLL_S = 0.5
CHECK_S = 0.5  # how often a holder checks that its lock file is still at its path
GRACE_S = 3.0  # how long a newcomer that re-created a deleted lock file waits for its holder to claim it back
HEARTBEAT_S = 10.0  # how often a holder refreshes its heartbeat
STALE_S = 60.0  # a holder whose heartbeat is older than this makes no progress

_HELD: dict[str, "FileLock"] = {}  # lock files this process holds, by path
_MUTEX = threading.RLock()  # the watcher thread and the main thread share the descriptors


class Busy(RuntimeError):
    """Another live process holds the lock (if_busy=stop)."""


class WaitedTooLong(Busy):
    """The holder did not let go within store.wait_timeout_s."""


class LockLost(Busy):
    """This process's lock file was deleted by hand and another process holds the path now."""


class LockUnsupported(OSError):
    """The filesystem cannot lock files (e.g. Lustre mounted without `flock`)."""


class FileLock:
    def __init__(self, path: Path, what: str, expected: bool = False):
        self.path = Path(path)
        self.what = what  # how messages name the locked thing
        self.expected = expected  # the file exists unless deleted by hand (a store entry creates its own)
        self.lost: str | None = None  # why this process no longer holds the path (LockLost)
        self._contest: tuple | None = None  # (file, since when) another process holds the file at this lock's path
        self._contest_fd: int | None = None
        self._beat = 0.0  # when the heartbeat was last written
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
        with _MUTEX:
            owner = _HELD.get(str(self.path))
            if owner is not None:  # this process holds it already (a packed job, a nested call): re-enter
                owner._depth += 1
                if owner is not self:
                    self._borrowed = owner
                return True
            taken = _lock_path(self.path)
        if taken is None:
            return False
        fd, created = taken
        left = _read_holder(fd)
        if left and _live(left):  # a holder whose file was deleted wrote itself back into it: it comes to take it
            os.close(fd)
            return False
        if created and self.expected and not self._unclaimed_after_grace(fd):
            return False
        with _MUTEX:
            self._fd, self._depth, self.lost = fd, 1, None
            if left:  # the last holder never released it: it died (kill -9, node crash, OOM kill)
                self.took_over = left
                log.warning("Took over the lock of %s from %s, which stopped without releasing it", self.what, describe(left))
            self._record = {**_me(), "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
            self._write_holder()
            _HELD[str(self.path)] = self
        _watch()
        return True

    def _unclaimed_after_grace(self, fd: int) -> bool:
        """A store entry's lock file was missing: deleted by hand, perhaps under a live holder. Hold
        the new, empty file GRACE_S first; a holder that finds its file gone writes its name into it,
        and then this process lets go (leaving the name for that holder to lock the file again)."""
        time.sleep(GRACE_S)
        claimed = _read_holder(fd)
        if not claimed and _same_file(fd, self.path):
            return True
        os.close(fd)  # closing releases the lock; the file keeps the holder's name
        log.warning("The lock file of %s was deleted by hand while %s held it; left it to that holder", self.what, describe(claimed))
        return False

    def _write_holder(self) -> None:
        self._beat = time.time()
        _write_holder(self._fd, {**self._record, "beat": self._beat})

    def acquire(self, if_busy: str = "wait", timeout_s: float | None = None) -> "FileLock":
        """Take the lock; when another process holds it, wait for it (`wait`, at most `timeout_s`
        seconds when set) or raise Busy (`stop`). A waiter says once when the holder makes no progress."""
        if if_busy not in IF_BUSY:
            raise ValueError(f"if_busy={if_busy!r} is unknown; allowed: {', '.join(IF_BUSY)}")
        if self.try_acquire():
            return self
        holder = self.holder()
        if if_busy == "stop":
            raise Busy(f"{self.what} is in use by {describe(holder)}; wait for it to finish, or run with store.if_busy=wait")
        log.warning("Waiting for %s, in use by %s (store.if_busy=stop stops instead)", self.what, describe(holder))
        start, said = time.monotonic(), False
        while not self.try_acquire():
            holder = self.holder()
            why = stalled(holder)
            if why and not said:
                said = True
                log.warning("%s is held by %s, which %s", self.what, describe(holder), why)
            if timeout_s is not None and time.monotonic() - start > timeout_s:
                raise WaitedTooLong(f"{self.what} is still in use by {describe(holder)}{', which ' + why if why else ''}; "
                                    f"gave up after {timeout_s:g} s (store.wait_timeout_s)")  # fmt: skip
            time.sleep(POLL_S)
        return self

    def check(self) -> None:
        """Raise LockLost unless this process still holds the file at the path (called before every
        append: a holder that was stopped while its lock file was deleted and re-taken must not write)."""
        owner = self._borrowed or self
        with _MUTEX:
            if owner._fd is not None and owner.lost is None:
                owner._keep(wait=True)
            if owner.lost:
                raise LockLost(owner.lost)

    @contextlib.contextmanager
    def hold(self, if_busy: str = "wait", timeout_s: float | None = None):
        self.acquire(if_busy, timeout_s)
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
        with _MUTEX:
            fd, self._fd = self._fd, None
            _HELD.pop(str(self.path), None)
            if self.lost is None:  # a lost lock's file at the path is another process's now
                with contextlib.suppress(OSError):  # a full disk must not keep the lock: closing releases it anyway
                    os.ftruncate(fd, 0)  # a clean release leaves an empty file: nobody to take over from
                    if not _same_file(fd, self.path) and (self._read_at_path() or {}).get("pid") == os.getpid():
                        os.truncate(self.path, 0)  # this process's name, written back into a re-created file, goes too
            os.close(fd)  # closing the descriptor releases the lock
            self._drop_contest()

    # ---- keeping it ------------------------------------------------------------------------------

    def _keep(self, wait: bool = False) -> None:
        """The watcher's round (under _MUTEX): put the file back at the path if it was deleted, and
        refresh the heartbeat. With `wait`, wait out a newcomer's grace instead of coming back later."""
        while not _same_file(self._fd, self.path) and self.lost is None:
            if self._reclaim() or not wait:
                return
            _MUTEX.release()  # let the newcomer's grace run out without holding up other locks' rounds
            try:
                time.sleep(CHECK_S)
            finally:
                _MUTEX.acquire()
        if self.lost is None and (time.time() - self._beat >= HEARTBEAT_S or not _names(_read_holder(self._fd), self._record)):
            self._write_holder()  # the heartbeat, or this holder's name again where a lost one wrote itself in

    def _reclaim(self) -> bool:
        """Lock the file now at the path (creating it if none) and hold it instead of the deleted one.
        When a newcomer holds it, write this holder's name into it, so that the newcomer lets go after
        its grace; when the same file stays taken past that, the lock is lost."""
        self._drop_contest()  # before locking: closing a descriptor of a file this process locks would unlock it
        taken = _lock_path(self.path)
        if taken is not None:
            fd, _ = taken
            old, self._fd, self._contest = self._fd, fd, None
            self._write_holder()
            os.close(old)
            log.warning("The lock file of %s was deleted while this process held it; put it back", self.what)
            return True
        try:
            fd = os.open(self.path, os.O_RDWR)  # this process holds no lock on that file: closing it later releases nothing
        except OSError:
            return False
        st, now = os.fstat(fd), time.time()
        if self._contest is None or self._contest[0] != (st.st_dev, st.st_ino):
            self._contest = ((st.st_dev, st.st_ino), now)  # a new file at the path: its holder's grace starts now
        self._contest_fd = fd  # kept open until the next round, so that its inode number is not reused meanwhile
        if not _names(_read_holder(fd), self._record):
            _write_holder(fd, {**self._record, "beat": now})
        if now - self._contest[1] > GRACE_S + 4 * CHECK_S:
            self.lost = (f"lost the lock of {self.what}: its lock file was deleted by hand and {describe(self._read_at_path())} "
                         f"holds it now; this process stops writing there")  # fmt: skip
        return False

    def _drop_contest(self) -> None:
        fd, self._contest_fd = self._contest_fd, None
        if fd is not None:
            os.close(fd)

    # ---- who holds it ----------------------------------------------------------------------------

    def holder(self) -> dict | None:
        """The holder's record as written in the lock file at the path (None when empty or unreadable)."""
        with _MUTEX:
            owner = _HELD.get(str(self.path))
            if owner is not None and _same_file(owner._fd, self.path):  # read through the holding descriptor:
                return _read_holder(owner._fd)  # closing another one would release this process's lock
            return self._read_at_path()

    def _read_at_path(self) -> dict | None:
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
    if host == socket.gethostname() and isinstance(pid, int) and not alive(pid):
        text += ", which is no longer running"
    return text


def stalled(holder: dict | None) -> str | None:
    """Why a holder makes no progress, or None: stopped (SIGSTOP, Ctrl-Z) on this host, or (on
    another host, where its state cannot be seen) no heartbeat for STALE_S."""
    if not holder or not isinstance(holder.get("pid"), int):
        return None
    if holder.get("host") == socket.gethostname():
        if _state(holder["pid"]) in ("T", "t"):
            return f"is stopped (SIGSTOP or Ctrl-Z) and makes no progress; resume it with kill -CONT {holder['pid']}, or end it"
        return None
    beat = holder.get("beat")
    if isinstance(beat, (int, float)) and time.time() - beat > STALE_S:
        return f"has not refreshed its heartbeat for {time.time() - beat:.0f} s (stopped or hung)"
    return None


def _state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[0]  # the field after the command name, which may hold spaces


def _live(holder: dict) -> bool:
    """Whether the process a lock file names still holds it somewhere: running (this host) and a
    heartbeat within STALE_S. A holder whose file was deleted writes itself into the new one."""
    beat = holder.get("beat")
    if not isinstance(beat, (int, float)) or time.time() - beat > STALE_S:
        return False
    if holder.get("host") == socket.gethostname():
        return isinstance(holder.get("pid"), int) and alive(holder["pid"]) and holder["pid"] != os.getpid()
    return True


def _names(holder: dict | None, record: dict) -> bool:
    return bool(holder) and (holder.get("host"), holder.get("pid")) == (record["host"], record["pid"])


def _me() -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid(), "command": " ".join(sys.argv)[:500]}


def _lock_path(path: Path) -> tuple[int, bool] | None:
    """(descriptor, whether this call created the file) of the file at `path`, locked; None when
    another process holds it. Checks that the locked file is still the one at the path: a file
    deleted between open and lock would be a lock on nothing."""
    import fcntl

    while True:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd, created = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644), True
        except FileExistsError:
            try:
                fd, created = os.open(path, os.O_RDWR), False
            except FileNotFoundError:
                continue  # deleted in between: create it
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EACCES, errno.EAGAIN):
                return None
            if e.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                raise LockUnsupported(e.errno, f"{path.parent} cannot hold file locks ({e.strerror}); put the store on a "
                                      f"filesystem that supports fcntl locks (local disk, NFS, Lustre with -o flock)") from None  # fmt: skip
            raise
        if _same_file(fd, path):
            return fd, created
        os.close(fd)


def _same_file(fd: int | None, path: Path) -> bool:
    if fd is None:
        return False
    try:
        a, b = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


_watcher: threading.Thread | None = None


def _watch() -> None:
    """Start this process's watcher thread (once): every CHECK_S it keeps every lock it holds."""
    global _watcher
    if _watcher is not None and _watcher.is_alive():
        return
    _watcher = threading.Thread(target=_watch_loop, name="t2m-lock-watcher", daemon=True)
    _watcher.start()


def _watch_loop() -> None:
    while True:
        time.sleep(CHECK_S)
        with _MUTEX:
            for lock in list(_HELD.values()):
                with contextlib.suppress(OSError):  # a full or vanished disk: the next round, or check(), says so
                    lock._keep()


def alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (one we may not signal counts as alive)."""
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
