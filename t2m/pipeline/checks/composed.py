"""Job configs composed once per sweep: the sweeper composes every job to check it before launching,
and the launcher needs the same configs again. Composing is Hydra's slowest step (about 0.1 s per
job: the paper's 109 jobs would be composed twice), so the second time reads this cache.

Entries are keyed by the master config object (a sweep's own) and the job's overrides, and hold a
reference to that master config, so a cached config is never handed to another sweep.
"""

from __future__ import annotations

import copy
from typing import Sequence

from omegaconf import DictConfig

_CACHE: dict[tuple, tuple[DictConfig, DictConfig]] = {}


def sweep_config(config_loader, master: DictConfig, overrides: Sequence[str]) -> DictConfig:
    """`config_loader.load_sweep_config(master, overrides)`, composed once per sweep; returns a copy."""
    key = (id(master), tuple(overrides))
    hit = _CACHE.get(key)
    if hit is None or hit[0] is not master:
        hit = _CACHE[key] = (master, config_loader.load_sweep_config(master, list(overrides)))
    return copy.deepcopy(hit[1])


def forget() -> None:
    _CACHE.clear()
