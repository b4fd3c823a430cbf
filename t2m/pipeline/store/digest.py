"""Content digests of files, computed once per file version and remembered.

    file_digest(path, cache_dir)        xxh3-128 of every byte of the file, streamed
    directory_digest(root, cache_dir)   one digest of every file under root (names and contents)

A checkpoint's identity must be its bytes: two checkpoints with the same config and the same weight
file sizes but other weights are other models. Hashing 32 GB takes minutes even at xxh3's speed, so
each file's digest is kept in a small cache (`file-digests.json` in `cache_dir`: the store, so that
t2m writes nothing outside the results it was pointed at) under its real path, size, mtime_ns, device and inode: a file
rewritten in place changes its mtime, a file replaced by another changes its inode, and either is
hashed again. A cache that cannot be read or written only costs the hashing.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import xxhash

CHUNK = 8 << 20
CACHE_FROM = 1 << 20  # smaller files are hashed again each time: faster than a cache entry is worth
PROGRESS_FROM = 256 << 20  # files this big show a progress bar while they are hashed
CACHE_NAME = "file-digests.json"

_memo: dict[tuple, str] = {}  # this process's digests, by the same signature as the cache file


def cache_path(cache_dir: Path) -> Path:
    return Path(cache_dir) / CACHE_NAME


def directory_digest(root: Path, cache_dir: Path | None = None) -> str:
    """Every file under `root`, by relative name and content, in one hex digest."""
    root = Path(root)
    h = xxhash.xxh3_128()
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(f.relative_to(root).as_posix().encode() + b"\0")
        h.update(file_digest(f, cache_dir).encode() + b"\n")
    return h.hexdigest()


def file_digest(path: Path, cache_dir: Path | None = None) -> str:
    """xxh3-128 of the file's bytes, from the cache when this very version of the file was hashed
    before (in this process, or in `cache_dir`'s cache file; None: this process only)."""
    real = os.path.realpath(path)
    st = os.stat(real)
    sig = (real, st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino)
    if sig in _memo:
        return _memo[sig]
    key = json.dumps(sig[1:])
    persist = cache_dir is not None and st.st_size >= CACHE_FROM
    cached = _read_cache(cache_dir).get(real, {}) if persist else {}
    digest = cached.get("digest") if cached.get("signature") == key else None
    if digest is None:
        digest = _hash(real, st.st_size)
        if persist:
            _remember(cache_dir, real, key, digest)
    _memo[sig] = digest
    return digest


def _hash(path: str, size: int) -> str:
    h = xxhash.xxh3_128()
    bar = None
    if size >= PROGRESS_FROM:  # the first run on a big checkpoint waits for this: show that it moves
        from tqdm import tqdm

        bar = tqdm(total=size, unit="B", unit_scale=True, desc=f"hashing {Path(path).name}", mininterval=1.0)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            if bar is not None:
                bar.update(len(chunk))
    if bar is not None:
        bar.close()
    return h.hexdigest()


def _read_cache(cache_dir: Path) -> dict:
    try:
        data = json.loads(cache_path(cache_dir).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _remember(cache_dir: Path, real: str, key: str, digest: str) -> None:
    # Read-modify-rename: two processes racing may drop each other's newest line, which costs only
    # a second hashing later; a reader never sees half a file.
    path = cache_path(cache_dir)
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        data = _read_cache(cache_dir)
        data[real] = {"signature": key, "digest": digest}
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=0))
        os.replace(tmp, path)
