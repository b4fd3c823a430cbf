"""The results root: the directory `results_dir` names, marked by a file so that it is known from inside.

A relative `results_dir` is resolved against the directory a command starts in. Started from inside
a finished sweep's folder, `results` would be a second results tree (and store) there: everything
decoded again, and a later report counting it as part of the sweep. The first run that writes into a
results root leaves MARKER at its top; a command started inside a marked tree (or a tree from before
the marker, known by its store) is refused in one line (t2m.pipeline.checks.preflight).
"""

from __future__ import annotations

from pathlib import Path

MARKER = ".t2m-results"


def mark(root: Path) -> None:
    marker = Path(root) / MARKER
    if not marker.exists():
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text("The top of a t2m results directory (results_dir). Commands run inside it are refused: run them from its parent.\n")


def root_above(path: Path) -> Path | None:
    """The results root that holds `path` (or is it), if any."""
    path = Path(path).resolve()
    for d in (path, *path.parents):
        if (d / MARKER).is_file() or _has_store(d):
            return d
    return None


def _has_store(d: Path) -> bool:
    store = d / "store"
    return store.is_dir() and next(store.glob("*/key.json"), None) is not None
