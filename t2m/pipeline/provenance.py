"""What a run's samples depend on (its key and fingerprint) and what reproduces it (its record).

`run_key` decides whether stored samples can be reused; `reproducibility` is written into every
summary: model and checkpoint digest, dataset and digest, device, dtype, seed, versions, code.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import subprocess
import sys
import time
from functools import lru_cache
from pathlib import Path

from t2m.pipeline.paths import PACKAGE, REPO
from t2m.pipeline.validate import absolute

_PACKAGES = ("torch", "transformers", "tokenizers", "hydra-core", "omegaconf", "wandb", "submitit", "numpy", "pandas")


def run_key(cfg, dcfg, lm, data_digest: str) -> dict:
    """Everything the samples depend on; its hash decides whether a store's samples can be reused.
    Not in it: batch_size (results do not depend on the batch) and the dataset limit (samples are
    keyed by problem id, so a larger limit reuses the smaller run's samples)."""
    return {
        "decode": dcfg.to_dict(),
        "model": {
            "name_or_path": cfg.model.name_or_path or "bundled:tiny-dllm",
            "revision": lm.revision,
            "checkpoint": checkpoint_digest(lm.name),
            "dtype": lm.dtype,
            "device": str(lm.device).split(":")[0],
        },
        "dataset": {
            "name": cfg.dataset.name,
            "path": str(absolute(cfg.dataset.path)) if cfg.dataset.path else None,
            "template": cfg.dataset.template,
            "digest": data_digest,
        },
        "code": code_digest(),
    }


@lru_cache(maxsize=None)
def code_digest() -> str:
    """Hash of the package's Python sources: samples from other code are never mixed in."""
    h = hashlib.sha256()
    for f in sorted(PACKAGE.rglob("*.py")):
        h.update(f.relative_to(PACKAGE.parent).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


@lru_cache(maxsize=None)
def checkpoint_digest(name: str) -> str | None:
    """Hash of a local checkpoint directory (small files by content, big weight files by size) so a
    retrained bundled model does not resume its predecessor's samples; None for hub ids."""
    root = Path(name)
    if not root.is_dir():
        return None
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(f.relative_to(root).as_posix().encode())
        size = f.stat().st_size
        h.update(f.read_bytes() if size < 64 << 20 else str(size).encode())
    return h.hexdigest()[:16]


def reproducibility(cfg, lm, key: dict) -> dict:
    versions = {"python": platform.python_version(), "t2m": _version("t2m")}
    versions.update({p: _version(p) for p in _PACKAGES})
    return {
        "model": key["model"]["name_or_path"],
        "model_path": lm.name,
        "model_revision": lm.revision,
        "checkpoint_digest": key["model"]["checkpoint"],
        "num_parameters": lm.num_parameters,
        "dataset": cfg.dataset.name,
        "dataset_path": key["dataset"]["path"],
        "dataset_limit": cfg.dataset.limit,
        "dataset_digest": key["dataset"]["digest"],
        "device": str(lm.device),
        "device_name": _device_name(lm.device),
        "dtype": lm.dtype,
        "seed": cfg.seed,
        "batch_size": cfg.batch_size,
        "versions": versions,
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--", "t2m", "conf", "sweeps")),
        "code_digest": key["code"],
        "host": platform.node(),
        "command": " ".join([Path(sys.executable).name, "-m", "t2m.sweep", *sys.argv[1:]]),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        if package == "t2m":
            import t2m

            return t2m.__version__
        return None


@lru_cache(maxsize=None)
def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _device_name(device: str) -> str:
    if str(device).startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(torch.device(device))
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
