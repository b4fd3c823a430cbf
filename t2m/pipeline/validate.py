"""Checks a composed config before any model or dataset is loaded.

Every problem is a `ConfigError` whose message is one line naming the key and what it allows; the
command line prints it and exits with status 2. Decoding values are checked by `t2m.DecodeConfig`
itself, so there is one source of truth for their ranges.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from t2m.decoding.config import DecodeConfig

EXIT_CODE = 2
DTYPES = ("float32", "bfloat16", "float16")
TRACKER_MODES = ("offline", "online", "disabled")
_DEVICE = re.compile(r"^(cpu|auto|mps|cuda(:\d+)?)$")


class ConfigError(ValueError):
    """A bad value in the config, reported as one line."""


def exit_on_error(message: str) -> None:
    """End the command the way every config mistake ends: one line on stderr, status 2."""
    print(f"t2m.sweep: {message}", file=sys.stderr)
    raise SystemExit(EXIT_CODE)


def decode_config(cfg: DictConfig) -> DecodeConfig:
    """The DecodeConfig of a composed config (its top-level decoding keys)."""
    names = [f.name for f in dataclasses.fields(DecodeConfig)]
    values = {n: OmegaConf.to_object(cfg[n]) if OmegaConf.is_config(cfg[n]) else cfg[n] for n in names if n in cfg}
    try:
        return DecodeConfig(**values)
    except (ValueError, TypeError) as e:
        raise ConfigError(str(e)) from None


def check(cfg: DictConfig) -> DecodeConfig:
    """Raise ConfigError on the first bad value; return the validated DecodeConfig."""
    from t2m.data import DATASETS

    dc = decode_config(cfg)
    ds = cfg.dataset
    if ds.name not in DATASETS:
        raise ConfigError(f"dataset.name={ds.name!r} is unknown; allowed: {', '.join(DATASETS)}")
    if ds.path is not None:
        if str(ds.name).startswith("arith"):
            raise ConfigError(f"dataset.path is not allowed for {ds.name} (generated, bundled); allowed: null")
        if not absolute(ds.path).is_file():
            raise ConfigError(f"dataset.path={ds.path!r} does not exist; allowed: a JSONL file, or null for the hub dataset")
    _positive_int_or_none("dataset.limit", ds.limit)
    _positive_int("batch_size", cfg.batch_size)
    _positive_int_or_none("threads", cfg.threads)

    m = cfg.model
    if m.dtype not in DTYPES:
        raise ConfigError(f"model.dtype={m.dtype!r} is unknown; allowed: {', '.join(DTYPES)}")
    if not _DEVICE.match(str(m.device)):
        raise ConfigError(f"model.device={m.device!r} is unknown; allowed: cpu, auto, cuda, cuda:N, mps")
    if str(m.device).startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(f"model.device={m.device!r} but CUDA is not available here; allowed: cpu or auto")
    if m.name_or_path is not None and _looks_local(str(m.name_or_path)) and not absolute(m.name_or_path).is_dir():
        raise ConfigError(f"model.name_or_path={m.name_or_path!r} does not exist; allowed: a checkpoint directory or a hub id")
    for key in ("mask_id", "eos_id"):
        _positive_int_or_none(f"model.{key}", m[key], minimum=0)

    if cfg.tracker.mode not in TRACKER_MODES:
        raise ConfigError(f"tracker.mode={cfg.tracker.mode!r} is unknown; allowed: {', '.join(TRACKER_MODES)}")
    _check_baseline(cfg.get("baseline"))
    overlay = cfg.get("report", {}).get("overlay")
    if overlay is not None and not absolute(overlay).is_file():
        raise ConfigError(f"report.overlay={overlay!r} does not exist; allowed: a CSV file, or null")
    return dc


def _check_baseline(value) -> None:
    from t2m.pipeline.baseline import BaselineError, parse

    try:
        parse(value)
    except BaselineError as e:
        raise ConfigError(str(e)) from None


def absolute(path) -> Path:
    """A path as the user meant it: relative to where the command was launched, even inside a job."""
    from hydra.core.hydra_config import HydraConfig

    p = Path(str(path)).expanduser()
    if p.is_absolute() or not HydraConfig.initialized():
        return p
    return Path(HydraConfig.get().runtime.cwd) / p


def _looks_local(name: str) -> bool:
    return name.startswith((".", "/", "~")) or Path(name).exists()


def _positive_int(key: str, v, minimum: int = 1) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise ConfigError(f"{key}={v!r} is invalid; allowed: an integer >= {minimum}")


def _positive_int_or_none(key: str, v, minimum: int = 1) -> None:
    if v is not None:
        try:
            _positive_int(key, v, minimum)
        except ConfigError:
            raise ConfigError(f"{key}={v!r} is invalid; allowed: an integer >= {minimum}, or null") from None
