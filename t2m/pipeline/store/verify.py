"""Checking a whole store: `python -m t2m.report verify RESULTS_DIR|STORE_DIR`.

For every entry: key.json parses and describes the entry's fingerprint (the hash of the key it holds
is the entry's name), every line of samples.jsonl parses, every record passes its checksum, and no
problem id is stored twice. Every problem is one line naming the entry; readers already leave such
records uncounted (entries.read_records), this says where they are.
"""

from __future__ import annotations

import json
from pathlib import Path

from t2m.pipeline.store.entries import KEY, SAMPLES, check_records, fingerprint, key_problem, read_key


def store_of(path: Path) -> Path | None:
    """The store a path names: a results root (its store/), or a store itself; None if neither."""
    path = Path(path)
    for candidate in (path / "store", path):
        if candidate.is_dir() and any((d / KEY).exists() for d in candidate.iterdir() if d.is_dir()):
            return candidate
    return None


def verify(store: Path) -> tuple[list[str], int, int]:
    """(one line per problem, entries checked, valid samples) of every entry in `store`."""
    problems, n_entries, n_samples = [], 0, 0
    for entry in sorted(d for d in Path(store).iterdir() if d.is_dir() and not d.name.startswith(".")):
        n_entries += 1
        problems += [f"{entry}: {p}" for p in entry_problems(entry)]
        n_samples += len(check_records(entry / SAMPLES)[0])
    return problems, n_entries, n_samples


def entry_problems(entry: Path) -> list[str]:
    stored = read_key(entry)
    if not stored or stored.get("fingerprint") != entry.name:
        return [key_problem(entry, stored, entry.name)] + _sample_problems(entry)
    if fingerprint(stored.get("key")) != entry.name:
        return [f"{entry / KEY}: its key does not hash to {entry.name} (edited by hand); repair: move the entry away "
                f"(mv {entry} {entry}.broken) and run again"] + _sample_problems(entry)  # fmt: skip
    return _sample_problems(entry)


def _sample_problems(entry: Path) -> list[str]:
    path = entry / SAMPLES
    if not path.exists():
        return []
    out = []
    data = path.read_bytes()
    lines = data.split(b"\n")
    for i, line in enumerate(lines[:-1]):
        if line.strip():
            try:
                json.loads(line)
            except ValueError:
                out.append(f"{SAMPLES} line {i + 1} is not valid JSON (not counted)")
    if lines[-1].strip():
        out.append(f"{SAMPLES} ends in a torn line (a run killed mid-write; the next run of this configuration cuts it off)")
    out += [f"{SAMPLES}: {p}; not counted" for p in check_records(path)[1]]
    return out
