"""The local result store: one directory per configuration, the source of truth for every number.

    <job dir>/
      config.yaml        the resolved Hydra config of this configuration
      fingerprint.json   what the samples depend on (decode config, model, dataset, code) and its hash
      samples.jsonl      one record per finished sample, appended chunk by chunk
      summary.json       accuracy with its 95% interval and the cost means, written when all are done

Crash safety: whole files are written to a temporary name and renamed over the target, so a reader
sees the old file or the new one, never half of one. Samples are appended and fsync'd per finished
chunk; a kill can tear at most the last line, which readers ignore and the next writer cuts off.
Resume: opening a store whose fingerprint matches keeps its samples, and the caller decodes only the
missing ones. A different fingerprint never deletes anything: the old files move to `stale/<hash>/`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Iterable

log = logging.getLogger(__name__)

SAMPLES, SUMMARY, CONFIG, FINGERPRINT = "samples.jsonl", "summary.json", "config.yaml", "fingerprint.json"


def atomic_write_text(path: Path, text: str) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def atomic_write_json(path: Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=_jsonable) + "\n")


def read_jsonl(path: Path) -> list[dict]:
    """Every complete record of a JSONL file. A torn last line (a write cut short) is ignored; a bad
    line elsewhere is skipped with a warning rather than costing the records around it."""
    path = Path(path)
    if not path.exists():
        return []
    data = path.read_bytes()
    lines = data.split(b"\n")
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


def fingerprint(key: dict) -> str:
    blob = json.dumps(key, sort_keys=True, default=_jsonable).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


class RunStore:
    """The store of one configuration in `root`, keyed by `key` (everything the samples depend on)."""

    def __init__(self, root: Path, key: dict):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.key = key
        self.fingerprint = fingerprint(key)
        self._retire_if_stale()
        if not (self.root / FINGERPRINT).exists():
            atomic_write_json(self.root / FINGERPRINT, {"fingerprint": self.fingerprint, "key": key})
        self._repair_tail()

    @property
    def samples_path(self) -> Path:
        return self.root / SAMPLES

    def records(self) -> list[dict]:
        """Finished samples, first record per id (a sample is never counted twice)."""
        seen, out = set(), []
        for r in read_jsonl(self.samples_path):
            if r.get("id") not in seen:
                seen.add(r.get("id"))
                out.append(r)
        return out

    def done_ids(self) -> set[str]:
        return {r["id"] for r in self.records()}

    def append(self, records: Iterable[dict]) -> None:
        """Append one finished chunk and make it durable before returning."""
        blob = "".join(json.dumps(r, ensure_ascii=False, default=_jsonable) + "\n" for r in records)
        if not blob:
            return
        with open(self.samples_path, "a", encoding="utf-8") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())

    def write_config(self, yaml_text: str) -> None:
        atomic_write_text(self.root / CONFIG, yaml_text)

    def write_summary(self, summary: dict) -> None:
        atomic_write_json(self.root / SUMMARY, summary)

    def _retire_if_stale(self) -> None:
        # Samples made under another decode config, model, dataset or code are not this run's, but
        # they are somebody's results: move them aside instead of deleting them.
        path = self.root / FINGERPRINT
        if not path.exists():
            return
        try:
            old = json.loads(path.read_text()).get("fingerprint")
        except ValueError:
            old = None
        if old == self.fingerprint:
            return
        dest = self.root / "stale" / f"{old or 'unknown'}-{time.strftime('%Y%m%d-%H%M%S')}"
        dest.mkdir(parents=True, exist_ok=True)
        for name in (SAMPLES, SUMMARY, CONFIG, FINGERPRINT):
            if (self.root / name).exists():
                shutil.move(str(self.root / name), str(dest / name))
        log.warning("%s holds results of another configuration (fingerprint %s); moved them to %s", self.root, old, dest)

    def _repair_tail(self) -> None:
        # A kill mid-append can leave a partial last line; appending after it would glue the next
        # record onto it. Cut the file back to its last complete line (that sample is decoded again).
        path = self.samples_path
        if not path.exists():
            return
        with open(path, "rb+") as f:
            data = f.read()
            end = data.rfind(b"\n") + 1
            if end < len(data):
                f.truncate(end)
                f.flush()
                os.fsync(f.fileno())
                log.warning("%s: dropped a torn last line (%d bytes) left by an interrupted run", path, len(data) - end)


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
