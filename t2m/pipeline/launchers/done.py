"""Configurations that are already finished, found on the submitting host before anything is submitted.

A finished sweep run again would otherwise submit every pack, and each job would load the model only
to find its configurations complete. A configuration is finished when its job directory shows it
(the same resolved config.yaml, a summary.json) and the store entries it points to (store.json) still
are its entries and hold every problem: same sample code and numeric libraries, same dataset content,
same local checkpoint (the parts of the fingerprint that are not in the config), and every problem id
of the dataset as it is now. Anything that cannot be confirmed counts as work left: the job decides.
"""

from __future__ import annotations

import json
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from t2m.pipeline.store import provenance
from t2m.pipeline.store.entries import KEY, SAMPLES, read_records
from t2m.pipeline.store.jobdir import CONFIG, SUMMARY, read_pointer


def finished_summary(slot) -> dict | None:
    """The summary of `slot`'s configuration (a runner.Slot) if it is finished, else None."""
    job = Path(slot.output_dir)
    pointer = read_pointer(job)
    try:
        summary = json.loads((job / SUMMARY).read_text())
        shown = (job / CONFIG).read_text()
    except (OSError, ValueError):
        return None
    if pointer is None or summary.get("fingerprint") != pointer.get("fingerprint") or shown != _config_yaml(slot):
        return None  # a summary of the configuration the directory showed before is not this one's
    entries = pointer.get("sample_entries_abs") or [pointer.get("entry_abs")]
    digest = _problems_now(slot.cfg, pointer)
    return summary if digest and all(_holds(Path(e), pointer["problems"], digest) for e in entries) else None


def _config_yaml(slot) -> str:
    """config.yaml as the job writes it (resolved with its own Hydra context current)."""
    previous = HydraConfig.instance().cfg
    try:
        HydraConfig.instance().set_config(slot.config)
        return OmegaConf.to_yaml(slot.cfg, resolve=True)
    finally:
        HydraConfig.instance().cfg = previous


def _problems_now(cfg, pointer: dict) -> str | None:
    """The dataset's digest, if it still gives the problems the job directory lists."""
    from t2m.pipeline.checks import preflight

    try:
        everything, digest = preflight.dataset_with_digest(cfg.dataset)
    except Exception:  # noqa: BLE001 - unreadable here: let the job decide (and report it)
        return None
    problems = everything if cfg.dataset.limit is None else everything[: cfg.dataset.limit]
    return digest if [p.id for p in problems] == pointer.get("problems") else None


def _holds(entry: Path, ids: list[str], data_digest: str) -> bool:
    """The entry is still this code's and data's (its key: sample code, libraries, dataset digest,
    checkpoint) and holds `ids`."""
    try:
        stored = json.loads((entry / KEY).read_text())
    except (OSError, ValueError):
        return False
    key = stored.get("key") or {}
    if key.get("code") != provenance.code_digest() or (key.get("dataset") or {}).get("digest") != data_digest:
        return False
    if key.get("libraries") != {name: provenance._version(name) for name in provenance.NUMERIC_LIBRARIES}:
        return False
    checkpoint = (key.get("model") or {}).get("checkpoint")
    model_path = (stored.get("about") or {}).get("model_path")
    if checkpoint is not None and (model_path is None or provenance.checkpoint_digest(model_path) != checkpoint):
        return False
    done = {r["id"] for r in read_records(entry / SAMPLES)}
    return set(ids) <= done


def expected_samples(cfg) -> int:
    """Samples a configuration needs (problems x samples_per_prompt), for the live view's bar; 0 if unknown here."""
    from t2m.pipeline.checks import preflight

    try:
        everything, _ = preflight.dataset_with_digest(cfg.dataset)
    except Exception:  # noqa: BLE001 - the job reports an unreadable dataset
        return 0
    n = len(everything) if cfg.dataset.limit is None else min(len(everything), cfg.dataset.limit)
    return n * int(cfg.get("samples_per_prompt") or 1)
