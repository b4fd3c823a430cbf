"""What a run's samples depend on (its key and fingerprint) and what reproduces it (its record).

`run_key` decides whether stored samples can be reused; `reproducibility` is written into every
summary: model and checkpoint digest, dataset and digest, device, dtype, seed, versions, code.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import re
import subprocess
import sys
import time
from functools import lru_cache
from pathlib import Path

from t2m.pipeline.paths import PACKAGE, REPO
from t2m.pipeline.paths import absolute
from t2m.pipeline.store.digest import directory_digest
from t2m.pipeline.store.entries import StoreError

_PACKAGES = ("torch", "transformers", "tokenizers", "hydra-core", "omegaconf", "wandb", "submitit", "numpy", "pandas")


# The sources a stored sample depends on: the decoder, the data and prompts, scoring, and how a
# sample record is built. Editing anything else (the report, W&B, the CLI) keeps the stored samples.
SAMPLE_CODE = ("decoding", "data", "scoring.py", "analysis/errors.py", "pipeline/store/samples.py")
# Libraries whose version can change the numbers a model computes.
NUMERIC_LIBRARIES = ("torch", "transformers")


def run_key(cfg, dcfg, lm, data_digest: str) -> dict:
    """Everything the samples depend on; its hash (the fingerprint) names the configuration's store
    entry. Not in it: where files live (the checkpoint and the dataset are identified by content),
    batch_size and packing (results do not depend on them), and the dataset limit (samples are keyed
    by problem id, so a larger limit reuses the smaller run's samples)."""
    local = checkpoint_digest(lm.name, absolute(cfg.store.dir))
    hub_id = None if local else (cfg.model.name_or_path or lm.name)
    return {
        "decode": decode_identity(dcfg),
        "model": {
            "hub_id": hub_id,
            "revision": None if local else hub_commit(hub_id, lm.revision),
            "checkpoint": local,
            "dtype": lm.dtype,
            "device": str(lm.device).split(":")[0],
        },
        "dataset": dataset_identity(cfg.dataset, data_digest),
        "code": code_digest(),
        "libraries": {name: _version(name) for name in NUMERIC_LIBRARIES},
        **({"plugins": own} if (own := plugin_code(dcfg)) else {}),
    }


def dataset_identity(ds, data_digest: str) -> dict:
    """The dataset as its samples depend on it: its problems (by content), the prompt they were put
    in and how answers were compared, from its registry entry when the config leaves them to it (the
    entry of a dataset of your own lives outside SAMPLE_CODE)."""
    from t2m.data import dataset

    entry = dataset(ds.name)
    template = ds.template if ds.template is not None else entry.template
    return {"name": ds.name, "template": template, "answer": entry.answer, "digest": data_digest}


def decode_identity(dcfg) -> dict:
    """The decoding config, with a learned policy's file named by its content, not where it lives."""
    decode = dcfg.to_dict()
    if dcfg.unmasking == "learned":
        from t2m.decoding.learned import BUNDLED

        path = Path(dcfg.unmasking_path or BUNDLED)
        decode["unmasking_path"] = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return decode


def plugin_code(dcfg) -> dict:
    """Hash of the source of each policy of your own the configuration uses (a `plugins` module):
    editing your detector starts a new store entry, as editing t2m's decoder does (SAMPLE_CODE)."""
    from t2m.decoding import registry

    fns = {"strategy": registry.strategy(dcfg.strategy).detect, "unmasking": registry.unmasking(dcfg.unmasking).select}
    digests = {}
    for kind, fn in fns.items():
        module = sys.modules.get(getattr(fn, "__module__", None) or "")
        path = getattr(module, "__file__", None)
        if module is None or module.__name__.split(".")[0] == "t2m" or not path:
            continue
        digests[kind] = f"{module.__name__}:{hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]}"
    return digests


def about(cfg, lm) -> dict:
    """Readable context stored beside a key (not part of the identity): where things were found."""
    return {
        "model": cfg.model.name_or_path or "bundled:tiny-dllm",
        "model_path": lm.name,
        "dataset_path": str(absolute(cfg.dataset.path)) if cfg.dataset.path else None,
        "created_by": " ".join([Path(sys.executable).name, "-m", "t2m.sweep", *sys.argv[1:]]),
        "host": platform.node(),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


@lru_cache(maxsize=None)
def code_digest() -> str:
    """Hash of the sources a sample depends on (SAMPLE_CODE): samples from other code are never mixed in."""
    h = hashlib.sha256()
    for part in SAMPLE_CODE:
        root = PACKAGE / part
        for f in sorted(root.rglob("*.py")) if root.is_dir() else [root]:
            h.update(f.relative_to(PACKAGE.parent).as_posix().encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def checkpoint_digest(name: str, cache_dir: Path | None = None) -> str | None:
    """Digest of every byte of a local checkpoint directory (weights included, whatever their size:
    two checkpoints that differ only in their weights are two models); each file is hashed once and
    remembered by path, size, mtime and inode in `cache_dir` (the store; t2m.pipeline.store.digest).
    None for hub ids."""
    root = Path(name)
    if not root.is_dir():
        return None
    return directory_digest(root, cache_dir)


class UnresolvedRevision(StoreError):
    """A hub id whose revision cannot be pinned to a commit (not cached, hub unreachable)."""


@lru_cache(maxsize=None)  # once per process: a sweep's 109 jobs ask the hub once
def hub_commit(repo_id: str, revision: str | None) -> str:
    """The commit a hub id's revision names now: a branch or tag moves, so the key holds the commit.
    Online the hub says; offline the cache's refs/ say which snapshot a revision was downloaded as."""
    if revision and re.fullmatch(r"[0-9a-f]{40}", revision):
        return revision
    from t2m.pipeline.network import hub_offline

    if hub_offline() is None:
        from huggingface_hub import HfApi

        try:
            return HfApi().model_info(repo_id, revision=revision).sha
        except Exception as e:  # noqa: BLE001 - any answer but a commit leaves the key without one
            raise UnresolvedRevision(f"model.name_or_path={repo_id!r} revision {revision or 'main'!r}: the hub names no commit "
                                     f"({type(e).__name__}); allowed: a revision the hub has") from None  # fmt: skip
    from huggingface_hub.constants import HF_HUB_CACHE

    ref = Path(HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}" / "refs" / (revision or "main")
    try:
        return ref.read_text().strip()
    except OSError:
        raise UnresolvedRevision(f"model.name_or_path={repo_id!r} revision {revision or 'main'!r} is not in the Hugging Face cache "
                                 f"({ref} is missing) and the hub is not available; allowed: a revision already downloaded") from None  # fmt: skip


def reproducibility(cfg, lm, key: dict) -> dict:
    versions = {"python": platform.python_version(), "t2m": _version("t2m")}
    versions.update({p: _version(p) for p in _PACKAGES})
    return {
        "model": cfg.model.name_or_path or "bundled:tiny-dllm",
        "model_path": lm.name,
        "model_revision": lm.revision,
        "checkpoint_digest": key["model"]["checkpoint"],
        "num_parameters": lm.num_parameters,
        "dataset": cfg.dataset.name,
        "dataset_path": str(absolute(cfg.dataset.path)) if cfg.dataset.path else None,
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
        # --no-optional-locks: `git status` would otherwise refresh the checkout's index under .git/index.lock
        out = subprocess.run(["git", "--no-optional-locks", *args], cwd=REPO, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _device_name(device: str) -> str:
    if str(device).startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(torch.device(device))
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
