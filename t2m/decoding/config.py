"""DecodeConfig: every knob of one decoding configuration, validated on construction.

A config is a frozen value object, so it can key dictionaries, travel through pickling (submitit)
and be compared. Rows of one `decode()` call may each carry a different config. What a strategy or
an unmasking policy allows (its name, its default and allowed tau) comes from its registry entry
(`t2m.decoding.registry`); nothing about a policy is repeated here.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass

ATTENTION = ("reference", "block_causal")  # see t2m/decoding/canvas.py and docs/decoding.md
# The largest integers a config may hold. Seeds become int64 tensors; counts and caps stay within
# int32, so that the engine's step cap (block_length x (1 + c_max) + max_post_steps) fits in int64.
MAX_SEED = 2**63 - 1
MAX_COUNT = 2**31 - 1


@dataclass(frozen=True)
class DecodeConfig:
    strategy: str = "t2t"  # the edit policy (a registered strategy)
    tau: float | None = None  # the strategy's threshold; None: its registered default (T2T: editing_threshold)
    c_max: int | None = 1  # remasks per position per block; None = unbounded
    rho_max: float = 0.25  # share of editable positions one step may remask
    unmasking: str = "threshold"  # the M2T policy (a registered unmasking policy)
    threshold: float = 0.7  # M2T commit threshold (LLaDA2.1 Q mode)
    steps: int | None = None  # steps per block for unmasking=low_confidence (None: block_length)
    unmasking_path: str | None = None  # the policy file of unmasking=learned (None: the bundled one)
    editing_threshold: float | None = None  # LLaDA2.1's T2T overwrite threshold; None: T2T's registered tau
    block_length: int = 32
    gen_length: int = 256
    max_post_steps: int = 16
    verify_steps: int = 0  # forwards after a block's last mask is filled before EOS stop may end it (0: the reference)
    eos_early_stop: bool = True
    attention: str = "reference"  # reference (the paper's code on LLaDA2.x) | block_causal
    temperature: float = 0.0
    top_k: int | None = None
    top_p: float | None = None
    seed: int = 0
    refresh_cache: bool = False  # one more forward after a block that ended with unseen changes

    def __post_init__(self) -> None:
        from t2m.decoding import registry  # late: the registry imports torch, this module must not

        entry = registry.strategy(self.strategy)
        m2t = registry.unmasking(self.unmasking)
        if self.attention not in ATTENTION:
            raise ValueError(f"attention={self.attention!r} is unknown; allowed: {', '.join(ATTENTION)}")
        tau_context = f" for strategy={self.strategy}" if entry.tau_range != (0.0, 1.0) else ""
        if self.tau is not None:  # before editing_threshold: for T2T the config ties that one to tau
            _check_range("tau", self.tau, *entry.tau_range, context=tau_context)
        if self.editing_threshold is None:
            object.__setattr__(self, "editing_threshold", registry.strategy("t2t").default_tau)
        _check_range("editing_threshold", self.editing_threshold, 0.0, 1.0)
        if self.tau is None:  # T2T's tau is LLaDA2.1's editing threshold
            object.__setattr__(self, "tau", self.editing_threshold if self.strategy == "t2t" else entry.default_tau)
            _check_range("tau", self.tau, *entry.tau_range, context=tau_context)
        if self.c_max is not None:
            whole = _is_number(self.c_max) and math.isfinite(self.c_max) and int(self.c_max) == self.c_max  # 2.0 from YAML is 2
            _check_int("c_max", int(self.c_max) if whole else self.c_max, 1, hint=", or None for unbounded")
            object.__setattr__(self, "c_max", int(self.c_max))
        _check_range("rho_max", self.rho_max, 0.0, 1.0, lo_open=True)
        _check_range("threshold", self.threshold, 0.0, 1.0)
        if self.unmasking_path is not None:
            if not isinstance(self.unmasking_path, (str, os.PathLike)) or not str(self.unmasking_path):
                raise ValueError(f"unmasking_path={self.unmasking_path!r} is invalid; allowed: a policy file path, or null")
            object.__setattr__(self, "unmasking_path", str(self.unmasking_path))
        if m2t.check is not None:
            m2t.check(self)
        if self.steps is not None:
            _check_int("steps", self.steps, 1)
        _check_int("block_length", self.block_length, 1)
        _check_int("gen_length", self.gen_length, 1)
        _check_int("max_post_steps", self.max_post_steps, 0)
        _check_int("verify_steps", self.verify_steps, 0)
        _check_int("seed", self.seed, 0, MAX_SEED)
        for flag in ("eos_early_stop", "refresh_cache"):
            if not isinstance(getattr(self, flag), bool):
                raise ValueError(f"{flag}={getattr(self, flag)!r} is invalid; allowed: true or false")
        if not _is_number(self.temperature) or self.temperature < 0 or not math.isfinite(self.temperature):
            raise ValueError(f"temperature={self.temperature!r} is invalid; allowed: a number >= 0 (0 = greedy)")
        if self.top_k is not None:
            _check_int("top_k", self.top_k, 1)
        if self.top_p is not None:
            _check_range("top_p", self.top_p, 0.0, 1.0, lo_open=True)

    @property
    def is_remask(self) -> bool:
        """True for Token-to-Mask strategies (their modifications are remasks, not edits)."""
        from t2m.decoding import registry

        return registry.strategy(self.strategy).remasks

    def replace(self, **changes) -> "DecodeConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)



DECODE_KEYS = tuple(f.name for f in dataclasses.fields(DecodeConfig))  # every decoding key, in field order

def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_range(name: str, v, lo: float, hi: float, *, lo_open: bool = False, context: str = "") -> None:
    ok = _is_number(v) and math.isfinite(v) and (v > lo if lo_open else v >= lo) and v <= hi
    if not ok:
        raise ValueError(f"{name}={v!r} is out of range; allowed: a number in {'(' if lo_open else '['}{lo:g}, {hi:g}]{context}")


def _check_int(name: str, v, minimum: int, maximum: int = MAX_COUNT, hint: str = "") -> None:
    if isinstance(v, bool) or not isinstance(v, int) or not minimum <= v <= maximum:
        raise ValueError(f"{name}={v!r} is invalid; allowed: an integer >= {minimum} (at most {maximum}){hint}")
