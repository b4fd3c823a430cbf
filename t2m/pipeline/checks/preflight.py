"""Checks that read files or the network, run before Hydra creates a directory or a model loads.

    preflight(cfg, out_dir)    raise ConfigError (one line) on the first problem:
      results, store and W&B directories   exist as directories or can be created, are writable, have
                                           store.min_free_mb free
      the dataset                          the file is there, not empty, valid JSONL with the fields the
                                           benchmark needs (line N named); hub datasets load from the
                                           cache when the hub cannot be reached
      the model                            a checkpoint directory (config.json), no unrequested remote
                                           code, a mask and an EOS id, a tokenizer; hub ids are
                                           reachable or cached
      lengths                              the longest prompt plus gen_length fits the model's positions

A single run is checked by the Preflight callback (before Hydra's run directory exists), a sweep by
the union sweeper for every job before its directory exists. Results are cached per process, so a
109-configuration sweep reads its dataset and tokenizer once. When the Hugging Face hub cannot be
reached within a few seconds the process switches to offline mode (HF_HUB_OFFLINE) instead of letting
every download retry for half a minute.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from t2m.pipeline.network import hub_offline
from t2m.pipeline.checks.validate import ConfigError
from t2m.pipeline.paths import absolute, looks_local

log = logging.getLogger(__name__)

_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json", "vocab.txt")


def preflight(cfg: DictConfig, out_dir: Path) -> None:
    """Everything a job needs from the filesystem and network, checked before anything is written."""
    check_anchored(cfg)
    check_directories(cfg, out_dir)
    problems = dataset_problems(cfg.dataset)
    spec = model_spec(cfg.model)
    limit = cfg.dataset.limit
    check_lengths(cfg, spec, problems if limit is None else problems[:limit])
    check_trajectory_ids(cfg, problems if limit is None else problems[:limit])
    from t2m.pipeline import tracking

    tracking.check_reachable(cfg.tracker)


# ---- directories ---------------------------------------------------------------------------------


def check_anchored(cfg: DictConfig) -> None:
    """A relative results_dir must not start a second results tree inside an existing one."""
    from t2m.pipeline.store.root import root_above

    if Path(str(cfg.results_dir)).expanduser().is_absolute():
        return
    here = absolute(".").resolve()
    root = root_above(here)
    if root is not None:
        raise ConfigError(f"results_dir={cfg.results_dir!r} would start a second results directory inside {root} (the current "
                          f"directory, {here}, is in it); run from {root.parent}, or set results_dir={root}")  # fmt: skip


def check_directories(cfg: DictConfig, out_dir: Path) -> None:
    results = absolute(cfg.results_dir)
    min_free = float(cfg.store.min_free_mb)
    targets = [(absolute(out_dir), _key_for(cfg, out_dir, results)), (absolute(cfg.store.dir), "store.dir")]
    if cfg.tracker.mode != "disabled" and cfg.tracker.dir:
        targets.append((absolute(cfg.tracker.dir), "tracker.dir"))
    for path, key in targets:
        if _inside(path, results):
            _check_writable(results, "results_dir", min_free)  # name the root the user set, if that is the problem
        if key != "results_dir":
            _check_writable(path, key, min_free)


@lru_cache(maxsize=64)  # a sweep's jobs share their directories: check each once per command
def _check_writable(path: Path, key: str, min_free_mb: float) -> None:
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{key}={str(path)!r} is a file; allowed: a directory, or a path that does not exist yet")
    ancestor = path
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ConfigError(f"{key}={str(path)!r} cannot be created: {ancestor} is a file; allowed: a directory")
    try:  # the only honest test of writability (permissions, read-only mounts, quotas): try it, leave nothing
        fd, probe = tempfile.mkstemp(dir=ancestor, prefix=".t2m-write-check-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ConfigError(f"{key}={str(path)!r} is not writable ({ancestor}: {e.strerror}); allowed: a directory you can write to") from None
    free_mb = shutil.disk_usage(ancestor).free / 2**20
    if free_mb < min_free_mb:
        raise ConfigError(f"{key}={str(path)!r} has only {free_mb:.1f} MB free ({ancestor}); allowed: a directory with at least "
                          f"{min_free_mb:g} MB free (store.min_free_mb)")  # fmt: skip


def _key_for(cfg: DictConfig, out_dir: Path, results: Path) -> str:
    """Name the output directory as the user set it: results_dir, or hydra.run.dir / hydra.sweep.dir."""
    overridden = [o.split("=", 1)[0] for o in OmegaConf.select(cfg, "hydra.overrides.hydra", default=[]) or []]
    for key in ("hydra.sweep.dir", "hydra.run.dir"):
        if key in overridden:
            return key
    return "results_dir" if _inside(absolute(out_dir), results) else "hydra.run.dir"


def _inside(path: Path, root: Path) -> bool:
    path, root = Path(os.path.abspath(path)), Path(os.path.abspath(root))
    return path == root or root in path.parents


# ---- the dataset ---------------------------------------------------------------------------------


_DATASETS: dict = {}


def dataset_problems(ds: DictConfig) -> list:
    """Every problem of the dataset config (before `limit`), read and checked once per process."""
    problems, _ = dataset_with_digest(ds)
    return problems


def dataset_with_digest(ds: DictConfig) -> tuple[list, str]:
    """(its distinct problems, a digest of their ids, questions and golds): the content is the
    dataset's identity, wherever its file lives."""
    problems, digest, _ = _dataset(ds)
    return problems, digest


def dataset_duplicates(ds: DictConfig) -> int:
    """How many problems of the dataset were left out as duplicates of others (t2m.data.registry.distinct)."""
    return _dataset(ds)[2]


def _dataset(ds: DictConfig) -> tuple[list, str, int]:
    from t2m import data

    path = os.path.abspath(absolute(ds.path)) if ds.path else None  # one key in the sweeper and its jobs
    stamp = _stamp(path)
    cache_key = (ds.name, path, stamp)
    if cache_key not in _DATASETS:
        from t2m.data.benchmarks import DatasetFileError

        entry = data.dataset(ds.name)
        from_hub = path is None and entry.hub is not None
        offline = hub_offline() if from_hub else None  # a hub dataset: do not let `datasets` retry for half a minute
        try:
            problems, duplicates = entry.problems(path)
        except DatasetFileError as e:
            where = "" if e.line is None else f"line {e.line} "
            raise ConfigError(f"dataset.path={str(ds.path)!r}: {where}{e.reason}") from None
        except (ValueError, OSError) as e:
            if from_hub:
                why = f"is not available here ({offline})" if offline else f"failed ({_first_line(e)})"
                raise ConfigError(f"dataset={ds.name} comes from the Hugging Face hub, which {why}; "
                                  f"allowed: a local copy with dataset.path=FILE.jsonl") from None  # fmt: skip
            raise ConfigError(f"{_dataset_key(ds)}: {_first_line(e)}") from None
        if not problems:
            raise ConfigError(f"{_dataset_key(ds)}: no problems; allowed: a JSONL file with one problem per line")
        if duplicates:  # once per process: the run or sweep starts with it
            from t2m.pipeline.report.notes import duplicates_line

            log.warning(duplicates_line(ds.name, duplicates))
        digest = hashlib.sha256(json.dumps([(p.id, p.question, p.gold) for p in problems]).encode()).hexdigest()[:16]
        _DATASETS[cache_key] = (problems, digest, duplicates)
    return _DATASETS[cache_key]


def _stamp(path: str | None):
    if path is None:
        return None
    st = os.stat(path)
    return (st.st_size, st.st_mtime_ns)  # a file edited between two runs of one process is read again


def _dataset_key(ds: DictConfig) -> str:
    return f"dataset.path={str(ds.path)!r}" if ds.path else f"dataset={ds.name}"


# ---- the model -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSpec:
    """What the pre-flight learns of a checkpoint without loading its weights."""

    name: str
    tokenizer: object | None  # None: not inspected (a hub id)
    max_positions: int | None


def model_spec(m: DictConfig) -> ModelSpec:
    return _model_spec(m.name_or_path, m.revision, bool(m.trust_remote_code), m.mask_id, m.eos_id)


@lru_cache(maxsize=8)
def _model_spec(name_or_path, revision, trust_remote_code, mask_id, eos_id) -> ModelSpec:
    from t2m.decoding.models import first_id  # here: importing the decoder imports torch

    key = f"model.name_or_path={name_or_path!r}"
    if name_or_path is None:
        from t2m.tiny import CHECKPOINT

        path = Path(CHECKPOINT)
    elif looks_local(str(name_or_path)):
        path = absolute(name_or_path)
    else:
        _check_hub_model(key, str(name_or_path), revision)
        return ModelSpec(str(name_or_path), None, None)
    try:
        config = json.loads((path / "config.json").read_text())
    except FileNotFoundError:
        raise ConfigError(f"{key} is not a checkpoint directory (no config.json); allowed: a directory written by "
                          f"save_pretrained, or a hub id") from None  # fmt: skip
    except (OSError, ValueError) as e:
        raise ConfigError(f"{key}: config.json cannot be read ({_first_line(e)})") from None
    for name, meta in (("config.json", config), ("tokenizer_config.json", _json_or_empty(path / "tokenizer_config.json"))):
        if meta.get("auto_map") and not trust_remote_code:  # loading its tokenizer or config would run that code
            raise ConfigError(f"{key} ships its own modeling code (auto_map in {name}) and model.trust_remote_code is false; "
                              f"allowed: model.trust_remote_code=true if you trust that code")  # fmt: skip
    tokenizer = _tokenizer(path, trust_remote_code)
    if tokenizer is None:
        raise ConfigError(f"{key} has no tokenizer (none of {', '.join(_TOKENIZER_FILES)} loads); allowed: a checkpoint saved with its tokenizer")
    vocab = config.get("vocab_size")
    for what, given, from_tok, from_cfg in (("mask", mask_id, "mask_token_id", "mask_token_id"), ("EOS", eos_id, "eos_token_id", "eos_token_id")):
        found = first_id(given, getattr(tokenizer, from_tok, None), config.get(from_cfg))
        if found is None:
            raise ConfigError(f"{key} has no {what} token (tokenizer.{from_tok} and config.{from_cfg} are unset); "
                              f"allowed: set model.{what.lower()}_id=<token id>")  # fmt: skip
        if vocab is not None and not 0 <= found < vocab:
            raise ConfigError(f"model.{what.lower()}_id={found} is outside the vocabulary of {key} ({vocab} tokens); allowed: 0..{vocab - 1}")
    max_positions = config.get("max_position_embeddings")
    return ModelSpec(str(path), tokenizer, max_positions if isinstance(max_positions, int) else None)


def _json_or_empty(path: Path) -> dict:
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def _check_hub_model(key: str, repo_id: str, revision: str | None) -> None:
    offline = hub_offline()
    if offline is None:
        return
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(repo_id, "config.json", revision=revision)
    except Exception:  # noqa: BLE001 - an id the hub library rejects is simply not cached
        cached = None
    if not isinstance(cached, str):
        raise ConfigError(f"{key} is not a local directory, not in the Hugging Face cache, and the hub is not available ({offline}); "
                          f"allowed: a checkpoint directory, or a hub id already downloaded")  # fmt: skip


def _tokenizer(path: Path, trust_remote_code: bool):
    if not any((path / f).exists() for f in _TOKENIZER_FILES):
        return None
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(path), trust_remote_code=trust_remote_code)
    except (OSError, ValueError, TypeError, AttributeError):
        return None


# ---- lengths -------------------------------------------------------------------------------------


def check_trajectory_ids(cfg: DictConfig, problems: list) -> None:
    """`trajectory=[id, ...]` names problems this run decodes (a typo would record nothing)."""
    wanted = cfg.get("trajectory")
    if not OmegaConf.is_list(wanted) and not isinstance(wanted, list):
        return
    have = {p.id for p in problems}
    unknown = [str(i) for i in wanted if str(i) not in have]
    if unknown:
        examples = ", ".join(p.id for p in problems[:2])
        raise ConfigError(f"trajectory names problem(s) this run does not decode: {', '.join(unknown[:5])}; "
                          f"allowed: ids of {cfg.dataset.name} within dataset.limit, e.g. {examples}")  # fmt: skip


def check_lengths(cfg: DictConfig, spec: ModelSpec, problems: list) -> None:
    """The decoder's canvas is the prompt plus gen_length rounded up to whole blocks; it must fit
    the model's positions (a longer one runs with positions the model never saw)."""
    if spec.tokenizer is None or spec.max_positions is None or not problems:
        return
    from t2m import data

    template = cfg.dataset.template or data.dataset(cfg.dataset.name).template
    longest = max(len(data.build_prompt(p, template, spec.tokenizer)) for p in problems)
    block, gen = int(cfg.block_length), int(cfg.gen_length)
    need = math.ceil((longest + gen) / block) * block
    if need <= spec.max_positions:
        return
    room = spec.max_positions // block * block - longest
    allowed = f"gen_length <= {room}" if room > 0 else "shorter prompts (dataset.template) or a model with more positions"
    raise ConfigError(f"gen_length={gen} does not fit the model: the longest prompt ({longest} tokens) plus {gen} new tokens "
                      f"take {need} positions (blocks of {block}) and the model has {spec.max_positions}; allowed: {allowed}")  # fmt: skip


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
