"""A Hydra job directory: the human-readable view of one configuration's results.

    <job dir>/
      config.yaml      the resolved config
      store.json       where the samples are: the store entry (fingerprint, path) and this job's problem ids;
                       with samples_per_prompt = k, every sample's entry (`sample_entries`, sample 0 first)
      samples.jsonl    a link to the entry's samples (the entry may hold more problems than this job's)
      summary.json     metrics and the reproducibility record; written last, once the job is done
      .hydra/          Hydra's record of the invocation (unresolved config, overrides, Hydra's config)
      .t2m.lock        held by the job that uses the directory

Nothing good is displaced by something that failed: a directory that shows another configuration
keeps showing it until this job has finished and has its summary; only then does the old view move to
`stale/<fingerprint>-<time>/` (its samples never move: they live in the store) and the new one take
its place. A fresh directory, or one that shows this same configuration, gets its view at once, so a
running or killed job appears in the sweep table as incomplete.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from pathlib import Path

from omegaconf import OmegaConf

from t2m.analysis.metrics import summarize
from t2m.decoding.config import DECODE_KEYS
from t2m.pipeline.store.entries import SAMPLES, Entry, _jsonable, atomic_write_json, atomic_write_text, read_jsonl, read_records
from t2m.pipeline.store.lock import FileLock

log = logging.getLogger(__name__)

CONFIG, SUMMARY, POINTER, HYDRA_RECORD, LOCK = "config.yaml", "summary.json", "store.json", ".hydra", ".t2m.lock"
LEGACY_FINGERPRINT = "fingerprint.json"  # job directories written before the store kept samples by fingerprint
VIEW = (CONFIG, SUMMARY, POINTER, SAMPLES, HYDRA_RECORD, LEGACY_FINGERPRINT)
SKIP_DIRS = {"stale", "wandb", ".hydra", ".submitit"}  # never job directories, wherever they sit


def subset_digest(ids: list[str]) -> str:
    """Which problems a job evaluates (the dataset limit picks them), as a short hash."""
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()[:12]


class JobDir:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.lock = FileLock(self.path / LOCK, what=f"job directory {self.path}")

    def shows(self) -> str | None:
        """The fingerprint of the configuration the directory shows; None if it shows nothing yet,
        "unknown" for results whose fingerprint cannot be read."""
        for name in (POINTER, LEGACY_FINGERPRINT):
            try:
                return json.loads((self.path / name).read_text())["fingerprint"]
            except FileNotFoundError:
                continue
            except (ValueError, KeyError, TypeError):
                return "unknown"
        return "unknown" if any((self.path / name).exists() for name in (CONFIG, SUMMARY, SAMPLES)) else None

    def begin(self, entry: Entry, ids: list[str], config_yaml: str, hydra_record: dict[str, str]) -> bool:
        """Show this job's configuration now if the directory is fresh or shows it already; returns
        False when the directory shows another configuration (the view then waits for `finish`)."""
        if self.shows() not in (None, entry.fingerprint):
            log.warning("%s shows another configuration (%s); it stays until this one (%s) has finished",
                        self.path, self.shows(), entry.fingerprint)  # fmt: skip
            return False
        self._put_view(entry, ids, config_yaml, hydra_record)
        return True

    def finish(self, entry: Entry, ids: list[str], config_yaml: str, hydra_record: dict[str, str], summary: dict) -> None:
        """Write the summary; first move another configuration's view aside, now that there is a
        valid replacement for it. A summary that says the same already (a re-run, a requeued job of a
        complete configuration, perhaps after the sweep ended) stays as it is, with its paired
        comparison and the record of the run that wrote it."""
        shown = self.shows()
        if shown not in (None, entry.fingerprint):
            self._move_aside(shown)
        self._put_view(entry, ids, config_yaml, hydra_record)
        if not self._shows_summary(summary):
            atomic_write_json(self.path / SUMMARY, summary)

    def _shows_summary(self, summary: dict) -> bool:
        try:
            old = json.loads((self.path / SUMMARY).read_text())
        except (OSError, ValueError):
            return False
        new = json.loads(json.dumps(summary, default=_jsonable))
        return isinstance(old, dict) and _lasting(old) == _lasting(new)

    def _put_view(self, entry: Entry, ids: list[str], config_yaml: str, hydra_record: dict[str, str]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        record = self.path / HYDRA_RECORD
        record.mkdir(exist_ok=True)
        for name, text in hydra_record.items():
            _write_if_changed(record / name, text)
        _write_if_changed(self.path / CONFIG, config_yaml)
        _link(self.path / SAMPLES, entry.samples_path)
        pointer = {
            "fingerprint": entry.fingerprint,
            "entry": os.path.relpath(entry.path, self.path),
            "entry_abs": str(entry.path.resolve()),
            "subset": subset_digest(ids),
            "problems": ids,
        }
        if len(getattr(entry, "entries", ())) > 1:  # samples_per_prompt = k: every sample's entry, sample 0 first
            pointer["sample_entries"] = [os.path.relpath(e.path, self.path) for e in entry.entries]
            pointer["sample_entries_abs"] = [str(e.path.resolve()) for e in entry.entries]
        _write_if_changed(self.path / POINTER, json.dumps(pointer, indent=2) + "\n")

    def _move_aside(self, shown: str) -> None:
        dest = self.path / "stale" / f"{shown}-{time.strftime('%Y%m%d-%H%M%S')}"
        dest.mkdir(parents=True, exist_ok=True)
        for name in VIEW:
            src = self.path / name
            if src.exists() or src.is_symlink():
                shutil.move(str(src), str(dest / name))
        log.warning("%s showed another configuration (%s); moved its files to %s (its samples stay in the store)",
                    self.path, shown, dest)  # fmt: skip


def _lasting(summary: dict) -> dict:
    """A summary without what differs between two runs of the same results: when and by which command
    it was written (`repro`), and the sweep's comparison that the report adds later (`paired`)."""
    return {k: v for k, v in summary.items() if k not in ("repro", "paired")}


def read_pointer(job_dir: Path) -> dict | None:
    try:
        return json.loads((Path(job_dir) / POINTER).read_text())
    except (OSError, ValueError):
        return None


def pointed_records(job_dir: Path, pointer: dict) -> list[dict]:
    """This job's samples, from the store entry its pointer names (relative path first, so a moved
    results root still works)."""
    for candidate in (Path(job_dir) / pointer.get("entry", ""), Path(pointer.get("entry_abs", ""))):
        if (candidate / SAMPLES).exists():
            return read_records(candidate / SAMPLES, pointer.get("problems"))
    return []


def job_records(job_dir: Path) -> list[dict]:
    """The samples a job directory shows: its own problems from the store entry it points at, or (a
    directory from before the store, or a bare samples file) the samples.jsonl it holds."""
    pointer = read_pointer(job_dir)
    if pointer is not None:
        return pointed_records(job_dir, pointer)
    return read_records(Path(job_dir) / SAMPLES, None)


def entry_dirs(job_dir: Path) -> list[Path]:
    """The store entries a job directory shows: one, or (samples_per_prompt = k) k, sample 0 first."""
    pointer = read_pointer(job_dir)
    if pointer is None:
        return []
    rel = pointer.get("sample_entries") or [pointer.get("entry", "")]
    absolute = pointer.get("sample_entries_abs") or [pointer.get("entry_abs", "")]
    out = []
    for r, a in zip(rel, absolute):
        candidate = Path(job_dir) / r
        out.append(candidate if (candidate / SAMPLES).exists() else Path(a))
    return out


def sample_groups(job_dir: Path) -> dict[str, list[dict]]:
    """{problem id: its samples, sample 0 first} of a job directory (one each unless samples_per_prompt > 1)."""
    pointer = read_pointer(job_dir)
    if pointer is None:
        return {str(r["id"]): [r] for r in job_records(job_dir)}
    ids = pointer.get("problems")
    groups: dict[str, list[dict]] = {str(i): [] for i in ids or []}
    for path in entry_dirs(job_dir):
        for r in read_records(path / SAMPLES, ids):
            groups.setdefault(str(r["id"]), []).append(r)
    return groups


def _write_if_changed(path: Path, text: str) -> None:
    """Atomic write, skipped when the file already says exactly this (re-runs rewrite nothing)."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return
    except (OSError, ValueError):
        pass
    atomic_write_text(path, text)


def _link(link: Path, target: Path) -> None:
    """A relative symlink to the entry's samples, replaced atomically; skipped where the filesystem
    has no symlinks (store.json says where the samples are)."""
    relative = os.path.relpath(target, link.parent)
    if link.is_symlink() and os.readlink(link) == relative:
        return
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    try:
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(relative, tmp)
        os.replace(tmp, link)
    except OSError as e:
        log.debug("no samples link in %s (%s)", link.parent, e)


# ---- reading a job directory as a table row ------------------------------------------------------


def job_dirs(root: Path):
    """Every job directory under `root` (any depth): those holding a summary, a store pointer or samples."""
    seen = set()
    for name in (SUMMARY, POINTER, SAMPLES):
        for f in root.rglob(name):
            if not SKIP_DIRS.intersection(f.relative_to(root).parts[:-1]):
                seen.add(f.parent)
    return seen


def job_row(job: Path) -> dict | None:
    """The table row of one job directory: its summary, or (running, killed) its samples so far."""
    pointer = read_pointer(job)
    summary_path = job / SUMMARY
    if summary_path.exists():
        try:
            summary = json.loads(summary_path.read_text())
        except ValueError:
            log.warning("%s: unreadable %s; using its samples", job, SUMMARY)
        else:
            # A summary written before the directory was given another configuration's view is stale.
            if pointer is None or summary.get("fingerprint") in (None, pointer.get("fingerprint")):
                return {**_flatten(summary), "_written": summary_path.stat().st_mtime}
    # No summary yet (running, killed): the samples so far, marked incomplete.
    if not (job / CONFIG).exists():
        return None  # not a job directory (a store entry, say)
    if pointer is not None:
        records, expected = pointed_records(job, pointer), len(pointer.get("problems") or [])
    else:  # a job directory from before the store: its own samples file
        records, expected = read_jsonl(job / SAMPLES), None
    if not records:
        return None
    cfg = OmegaConf.to_container(OmegaConf.load(job / CONFIG))
    row = {k: cfg.get(k) for k in DECODE_KEYS if k in cfg}
    model = (cfg.get("model") or {}).get("name_or_path") or "bundled:tiny-dllm"  # as the task writes it into summary.json
    row.update(experiment=cfg.get("experiment"), model=model, dataset=(cfg.get("dataset") or {}).get("name"),
               samples_per_prompt=cfg.get("samples_per_prompt", 1))  # fmt: skip
    row.update(_flatten(summarize(records, expected)))
    if pointer is not None:
        row.update(fingerprint=pointer.get("fingerprint"), subset=pointer.get("subset"))
    row["complete"] = False if expected is None else row["complete"]
    row["n_expected"] = expected  # for "68/100 problems" wherever the row is marked incomplete
    row["_written"] = (job / CONFIG).stat().st_mtime
    return row


def _flatten(summary: dict) -> dict:
    row = {k: v for k, v in summary.items() if not isinstance(v, (dict, list))}
    for key in ("accuracy_ci95", "strict_accuracy_ci95", "fidelity_ci95"):
        if isinstance(summary.get(key), list):
            row[f"{key}_low"], row[f"{key}_high"] = summary[key]
    repro = summary.get("repro") or {}
    for key in ("model", "model_revision", "dataset", "device", "dtype"):
        if key in repro and key not in row:
            row[key] = repro[key]
    return row
