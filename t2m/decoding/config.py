"""DecodeConfig: every knob of one decoding configuration, validated on construction.

A config is a frozen value object, so it can key dictionaries, travel through pickling (submitit)
and be compared. Rows of one `decode()` call may each carry a different config.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass


def _registered_strategies() -> tuple[str, ...]:
    from t2m.decoding.policies import STRATEGIES  # late import: policies import nothing from here

    return tuple(STRATEGIES)


# Paper defaults for tau when a strategy is picked without one (T2T's tau is its editing threshold).
DEFAULT_TAU = {"t2t": 0.5, "lowprob": 0.3, "t2t_remask": 0.7, "logitdiff": 0.2, "none": 0.0}


@dataclass(frozen=True)
class DecodeConfig:
    strategy: str = "t2t"
    tau: float | None = None  # the strategy's threshold; None: paper default (t2t: editing_threshold)
    c_max: int | None = 1  # remasks per position per block; None = unbounded
    rho_max: float = 0.25  # share of editable positions one step may remask
    threshold: float = 0.7  # M2T commit threshold (LLaDA2.1 Q mode)
    editing_threshold: float = 0.5  # T2T overwrite threshold (LLaDA2.1 Q mode)
    block_length: int = 32
    gen_length: int = 256
    max_post_steps: int = 16
    eos_early_stop: bool = True
    temperature: float = 0.0
    top_k: int | None = None
    top_p: float | None = None
    seed: int = 0
    refresh_cache: bool = False  # one more forward after a block that ended with unseen changes

    def __post_init__(self) -> None:
        names = _registered_strategies()
        if self.strategy not in names:
            raise ValueError(f"strategy={self.strategy!r} is unknown; allowed: {', '.join(names)}")
        if self.tau is None:
            default = self.editing_threshold if self.strategy == "t2t" else DEFAULT_TAU.get(self.strategy, 0.5)
            object.__setattr__(self, "tau", default)
        _check_unit("tau", self.tau, lo_open=False, hi_open=False)
        if self.c_max is not None and (isinstance(self.c_max, bool) or int(self.c_max) != self.c_max or self.c_max < 1):
            raise ValueError(f"c_max={self.c_max!r} is invalid; allowed: an integer >= 1, or None for unbounded")
        if self.c_max is not None:
            object.__setattr__(self, "c_max", int(self.c_max))
        _check_unit("rho_max", self.rho_max, lo_open=True, hi_open=False)
        _check_unit("threshold", self.threshold, lo_open=False, hi_open=False)
        _check_unit("editing_threshold", self.editing_threshold, lo_open=False, hi_open=False)
        _check_int("block_length", self.block_length, 1)
        _check_int("gen_length", self.gen_length, 1)
        _check_int("max_post_steps", self.max_post_steps, 0)
        _check_int("seed", self.seed, 0)
        for flag in ("eos_early_stop", "refresh_cache"):
            if not isinstance(getattr(self, flag), bool):
                raise ValueError(f"{flag}={getattr(self, flag)!r} is invalid; allowed: true or false")
        if not _is_number(self.temperature) or self.temperature < 0 or not math.isfinite(self.temperature):
            raise ValueError(f"temperature={self.temperature!r} is invalid; allowed: a number >= 0 (0 = greedy)")
        if self.top_k is not None:
            _check_int("top_k", self.top_k, 1)
        if self.top_p is not None:
            _check_unit("top_p", self.top_p, lo_open=True, hi_open=False)

    @property
    def is_remask(self) -> bool:
        """True for Token-to-Mask strategies (their modifications are remasks, not edits)."""
        from t2m.decoding.policies import STRATEGIES

        return STRATEGIES[self.strategy].remasks

    def replace(self, **changes) -> "DecodeConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_unit(name: str, v, *, lo_open: bool, hi_open: bool) -> None:
    ok = _is_number(v) and math.isfinite(v) and (v > 0 if lo_open else v >= 0) and (v < 1 if hi_open else v <= 1)
    if not ok:
        lo = "(0" if lo_open else "[0"
        hi = "1)" if hi_open else "1]"
        raise ValueError(f"{name}={v!r} is out of range; allowed: a number in {lo}, {hi}")


def _check_int(name: str, v, minimum: int) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise ValueError(f"{name}={v!r} is invalid; allowed: an integer >= {minimum}")
