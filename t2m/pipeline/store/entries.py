"""The result store: every configuration's samples, found by fingerprint, safe against re-runs,
concurrent runs and kills. The source of truth for every number.

    <store.dir>/                     default <results_dir>/store; point several results roots at one
      <fingerprint>/                 one entry per configuration
        key.json                     what the samples depend on (see provenance.run_key) and its hash
        samples.jsonl                one record per problem id, appended chunk by chunk
        trajectories.jsonl           with `trajectory=`: the decoding events of the problems asked for
        .lock                        the entry's lock; names its holder while held

A configuration's identity is its fingerprint (decoding config, model and checkpoint, dataset and
its digest, code), not the Hydra job that ran it: a single run, a sweep job, a re-run with the values
in another order, a packed job decoding several configurations, a requeued SLURM job or an Optuna trial
all open the same entry with `Entry(store_dir, key)` and decode only the ids it does not hold yet.
The dataset limit is not part of the identity: records are keyed by problem id, so a run over 100
problems reuses the 20 a smaller run decoded. Hydra job directories are only views (`t2m.pipeline.store.jobdir`).

Only the holder of the entry's lock appends (`with entry.claim(): ...`), so a sample is decoded and
stored once however many processes ask for it. A process that holds several entries at once (a packed
job decoding several configurations in one batch) claims them in fingerprint order, so two such jobs
never wait for each other, or with `if_busy="stop"`, leaving a busy configuration to its holder; a
requeued job simply claims again (its predecessor's lock died with it). Crash safety: whole files are written to a temporary
name and renamed over the target; samples are appended and fsync'd per finished chunk; a kill can tear
at most the last line, which readers ignore and the next holder cuts off. Nothing is ever deleted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Iterable

import xxhash

from t2m.pipeline.store.lock import FileLock

log = logging.getLogger(__name__)

SAMPLES, KEY, LOCK = "samples.jsonl", "key.json", ".lock"
CHECKSUM = "checksum"  # of every sample record, over its other fields: a record edited by hand fails it


class StoreError(RuntimeError):
    """An entry that cannot be used as it is (its key does not match its name)."""


def fingerprint(key: dict) -> str:
    blob = json.dumps(key, sort_keys=True, default=_jsonable).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


class Entry:
    """The samples of the configuration `key` in the store at `store_dir`."""

    def __init__(self, store_dir: Path, key: dict, about: dict | None = None):
        self.key = key
        self.fingerprint = fingerprint(key)
        self.path = Path(store_dir) / self.fingerprint
        self.about = about or {}  # readable context for key.json (paths, command); not part of the identity
        self.lock = FileLock(self.path / LOCK, what=f"configuration {self.fingerprint} ({self.path})", expected=True)

    @property
    def samples_path(self) -> Path:
        return self.path / SAMPLES

    def records(self, ids: Iterable[str] | None = None) -> list[dict]:
        """Finished samples, one per id (the first stored). With `ids`: only those, in that order."""
        return read_records(self.samples_path, ids)

    def done_ids(self) -> set[str]:
        return {r["id"] for r in self.records()}

    @contextlib.contextmanager
    def claim(self, if_busy: str = "wait", wait_timeout_s: float | None = None):
        """Hold the entry for writing: create it if new, take its lock (waiting for, or stopping at,
        another holder), and cut off a line torn by a holder that was killed mid-write."""
        self._create()
        with self.lock.hold(if_busy, wait_timeout_s):
            self._repair_tail()
            yield self

    def append(self, records: Iterable[dict], name: str = SAMPLES) -> int:
        """Append one finished chunk to the entry's `name` (its samples, or another per-problem file
        such as trajectories) and make it durable before returning; returns how many."""
        if not self.lock.held:
            raise StoreError(f"{self.path}: append without holding the entry's lock (use `with entry.claim():`)")
        self.lock.check()  # its lock file may have been deleted by hand and taken by another process
        if name == SAMPLES:
            records = [{**r, CHECKSUM: record_checksum(r)} for r in records]
        lines = [json.dumps(r, ensure_ascii=False, default=_jsonable) + "\n" for r in records]
        if lines:
            with open(self.path / name, "a", encoding="utf-8") as f:
                f.write("".join(lines))
                f.flush()
                os.fsync(f.fileno())
        return len(lines)

    def _create(self) -> None:
        path = self.path / KEY
        if path.exists():
            stored = read_key(self.path)
            if stored.get("fingerprint") != self.fingerprint:
                raise StoreError(key_problem(self.path, stored, self.fingerprint))
            return
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / LOCK).touch()  # from now on a missing lock file was deleted by hand (FileLock.expected)
        atomic_write_json(path, {"fingerprint": self.fingerprint, "key": self.key, "about": self.about})

    def _repair_tail(self) -> None:
        # A kill mid-append can leave a partial last line; appending after it would glue the next
        # record onto it. Cut the file back to its last complete line (that sample is decoded again).
        for path in sorted(self.path.glob("*.jsonl")):
            _cut_torn_line(path)


def _cut_torn_line(path: Path) -> None:
    with open(path, "rb+") as f:
        data = f.read()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            f.truncate(end)
            f.flush()
            os.fsync(f.fileno())
            log.warning("%s: dropped a torn last line (%d bytes) left by an interrupted run", path, len(data) - end)


class SampleSet:
    """What a job directory shows: one entry, or the k entries of a configuration sampled k times
    (`samples_per_prompt`, one seed each) under one fingerprint of them all. Its samples and path
    are entry 0's (the run's own seed)."""

    def __init__(self, entries: list[Entry]):
        self.entries = list(entries)
        first = self.entries[0]
        self.path, self.samples_path, self.key = first.path, first.samples_path, first.key
        if len(self.entries) == 1:
            self.fingerprint = first.fingerprint
        else:
            self.fingerprint = hashlib.sha256(" ".join(e.fingerprint for e in self.entries).encode()).hexdigest()[:16]

    def records(self, ids: Iterable[str] | None = None) -> list[dict]:
        return self.entries[0].records(ids)


def read_records(samples_path: Path, ids: Iterable[str] | None = None) -> list[dict]:
    """Valid records of a samples file, first per id; with `ids`, only those ids, in that order.
    Records that fail their checksum and repeated ids are not counted, and said once in one line."""
    seen, problems = check_records(samples_path)
    if problems:
        _say_once(samples_path, problems)
    if ids is None:
        return list(seen.values())
    return [seen[i] for i in ids if i in seen]


def record_checksum(record: dict) -> str:
    body = {k: v for k, v in record.items() if k != CHECKSUM}
    return xxhash.xxh3_64_hexdigest(json.dumps(body, sort_keys=True, ensure_ascii=False, default=_jsonable).encode())


def check_records(samples_path: Path) -> tuple[dict, list[str]]:
    """({id: its first valid record, checksum removed}, one line per record not counted). A record
    without a checksum is valid only before the file's first checksummed one (older runs wrote none)."""
    seen: dict = {}
    problems: list[str] = []
    checksummed = False
    for r in read_jsonl(samples_path):
        if not isinstance(r, dict) or "id" not in r:
            problems.append("a record without an id")
            continue
        stored = r.get(CHECKSUM)
        checksummed |= stored is not None
        if (stored is None and checksummed) or (stored is not None and stored != record_checksum(r)):
            problems.append(f"{r['id']} fails its checksum (edited by hand?)")
        elif r["id"] in seen:
            problems.append(f"{r['id']} is stored again (a duplicate)")
        else:
            seen[r["id"]] = {k: v for k, v in r.items() if k != CHECKSUM}
    return seen, problems


_SAID: set = set()


def _say_once(path: Path, problems: list[str]) -> None:
    """One line per samples file and set of problems, however often it is read."""
    key = (str(path), tuple(problems))
    if key in _SAID:
        return
    _SAID.add(key)
    log.warning("%s: %d record(s) not counted: %s; python -m t2m.report verify %s lists every entry's problems",
                path, len(problems), "; ".join(problems[:5]) + (" ..." if len(problems) > 5 else ""), Path(path).parent.parent)


def read_key(entry_dir: Path) -> dict:
    """An entry's key.json, or {} when it is missing, truncated or not a JSON object."""
    try:
        stored = json.loads((Path(entry_dir) / KEY).read_text())
    except (OSError, ValueError):
        return {}
    return stored if isinstance(stored, dict) else {}


def key_problem(entry_dir: Path, stored: dict, fingerprint: str) -> str:
    """One line: what is wrong with an entry's key.json and how to repair it."""
    path = Path(entry_dir) / KEY
    if not stored:
        what = f"{path} is missing, truncated or not JSON"
    else:
        what = f"{path} does not describe fingerprint {fingerprint} (it names {stored.get('fingerprint')!r}: edited or copied by hand)"
    return f"{what}; repair: move the entry away (mv {entry_dir} {entry_dir}.broken) and run again, which decodes its samples afresh"


# ---- files ---------------------------------------------------------------------------------------


def atomic_write_text(path: Path, text: str) -> None:
    write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_json(path: Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=_jsonable) + "\n")


def write_atomically(path: Path, write) -> None:
    """`write(tmp_path)` then rename over `path`: readers see the old file or the new one, never half;
    a failed write (full disk, kill) leaves the old file and no temporary behind."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp{path.suffix}")  # same suffix: writers that go by it (savefig) still can
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def read_jsonl(path: Path) -> list[dict]:
    """Every complete record of a JSONL file. A torn last line (a write cut short) is ignored; a bad
    line elsewhere is skipped with a warning rather than costing the records around it."""
    path = Path(path)
    if not path.exists():
        return []
    lines = path.read_bytes().split(b"\n")
    records = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except ValueError:
            if i != len(lines) - 1:  # the last line is allowed to be torn; anything else is worth a word
                log.warning("%s: line %d is not valid JSON; skipped", path, i + 1)
    return records


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):  # some filesystems cannot fsync a directory; the rename is still atomic
            os.fsync(fd)
    finally:
        os.close(fd)


def _jsonable(obj):
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item"):  # numpy / torch scalars
        return obj.item()
    if isinstance(obj, (set, tuple)):
        return list(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")
