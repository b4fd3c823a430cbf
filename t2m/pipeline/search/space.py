"""The search space: which decoding keys a search varies, over which values, for which strategies.

A search file (conf/search/*.yaml) writes it under `hydra.sweeper.space`, in Hydra's sweep syntax:

    space:
      strategy: [t2t, lowprob, t2t_remask, logitdiff, none]   # a list or choice(...): categorical
      tau: allowed                                            # each strategy's own allowed tau range
      c_max: [1, 2, 3, 5, null]                               # null = unbounded
      rho_max: interval(0.1, 1.0)                             # a range of numbers (tag(log, interval(...)) for log scale)
      threshold: interval(0.5, 0.95)                          # the M2T commit threshold
      # range(1, 6) is a stepped range; a single value fixes the key; {lowprob: ..., logitdiff: ...} gives
      # a key its own values per strategy

Knobs apply where they mean something: tau only to strategies with an edit phase, and always per
strategy (its meaning and its allowed range are the strategy's: `tau[lowprob]`, `tau[t2t]`); C_max and
rho_max only to strategies that remask. A configuration leaves the keys that do not apply at their
configured values, so a trial composes exactly like the grid point with the same values (same
fingerprint, same stored samples).

The command line fixes or narrows any dimension, as it would in a grid: `strategy=lowprob` fixes it,
`c_max=1,3` makes it a choice of two, `rho_max=interval(0.2,0.5)` narrows it; a sweep of a key that the
space lacks adds it. Without a `space`, a named sweep's grids are the space (`sweep=paper_ablation`
with `hydra/sweeper=optuna`): its strategies become the categorical, each grid's values that
strategy's choices. Every value is checked against `t2m.DecodeConfig` before anything runs.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, Glob, IntervalSweep, Override, RangeSweep
from omegaconf import OmegaConf
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution, distribution_to_json

from t2m.decoding.config import DecodeConfig
from t2m.pipeline.checks.validate import ConfigError

ALLOWED = "allowed"  # `tau: allowed`: each strategy's own allowed tau range
DECODE_FIELDS = {f.name: f for f in dataclasses.fields(DecodeConfig)}
FLOAT_KEYS = {name for name, f in DECODE_FIELDS.items() if "float" in str(f.type)}
REMASK_KNOBS = ("c_max", "rho_max")  # caps the engine applies to Token-to-Mask strategies only


# ---- what the decoding registry says about a strategy ---------------------------------------------


def _registry() -> dict:
    """The strategies' registry entries (t2m.decoding.registry: the built-in ones, and a user's, which
    the modules named in `plugins` register when the config is checked, before the space is built)."""
    from t2m.decoding.registry import STRATEGIES

    return STRATEGIES


def strategies() -> list[str]:
    return list(_registry())


def _entry(strategy: str):
    return _registry()[strategy]


def tau_range(strategy: str) -> tuple[float, float]:
    """The tau a strategy allows, from its registry entry (both ends included)."""
    lo, hi = _entry(strategy).tau_range
    return float(lo), float(hi)


def applies(key: str, strategy: str) -> bool:
    """Whether `key` changes what `strategy` does: tau needs an edit phase, C_max and rho_max remasking."""
    entry = _entry(strategy)
    if key == "tau":
        return entry.detect is not None
    if key in REMASK_KNOBS:
        return bool(entry.remasks)
    return True


# ---- dimensions -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dim:
    """One key of the space: searched over `distribution`, or fixed at `value` (distribution None).
    `strategy` set: the dimension exists only for configurations of that strategy."""

    key: str
    distribution: BaseDistribution | None = None
    value: Any = None
    strategy: str | None = None

    @property
    def name(self) -> str:
        """The Optuna parameter name: `rho_max`, or `tau[lowprob]` for a per-strategy dimension."""
        return self.key if self.strategy is None else f"{self.key}[{self.strategy}]"

    @property
    def searched(self) -> bool:
        return self.distribution is not None

    def contains(self, value) -> bool:
        if not self.searched:
            return _same(value, self.value)
        d = self.distribution
        if isinstance(d, CategoricalDistribution):
            return any(_same(value, c) for c in d.choices)
        if value is None or isinstance(value, (bool, str)):
            return False
        if not d.low - 1e-12 <= value <= d.high + 1e-12:
            return False
        step = getattr(d, "step", None)
        return step is None or abs((value - d.low) / step - round((value - d.low) / step)) < 1e-6

    def text(self) -> str:
        return f"{self.name}={_describe(self.distribution) if self.searched else _plain(self.value)}"


class Space:
    def __init__(self, strategy: Dim, dims: Sequence[Dim]):
        self.strategy = strategy
        self.dims = list(dims)

    @property
    def strategies(self) -> list[str]:
        return list(self.strategy.distribution.choices) if self.strategy.searched else [self.strategy.value]

    @property
    def keys(self) -> set[str]:
        return {"strategy", *(d.key for d in self.dims)}

    def searched(self) -> list[Dim]:
        return [d for d in [self.strategy, *self.dims] if d.searched]

    def dims_for(self, strategy: str) -> list[Dim]:
        """The dimensions a configuration of `strategy` has, in order."""
        return [d for d in self.dims if d.strategy in (None, strategy) and applies(d.key, strategy)]

    def suggest(self, trial) -> dict[str, Any]:
        """One configuration's values ({config key: value}), asked of an Optuna trial."""
        strategy = _suggest(trial, self.strategy) if self.strategy.searched else self.strategy.value
        values = {"strategy": strategy}
        for dim in self.dims_for(strategy):
            values[dim.key] = _suggest(trial, dim) if dim.searched else dim.value
        return values

    def params(self, values: Mapping[str, Any]) -> tuple[dict, dict]:
        """(Optuna params, their distributions) of a configuration's values, e.g. for create_trial."""
        params, dists = {}, {}
        for dim in [self.strategy, *self.dims_for(values["strategy"])]:
            if dim.searched:
                params[dim.name], dists[dim.name] = values.get(dim.key), dim.distribution
        return params, dists

    def contains(self, values: Mapping[str, Any]) -> bool:
        """Whether a configuration (e.g. the baseline) is a point of this space."""
        strategy = values.get("strategy")
        if not self.strategy.contains(strategy):
            return False
        return all(dim.contains(values.get(dim.key)) for dim in self.dims_for(strategy))

    def signature(self) -> list:
        """The space as plain data: a study may only be continued with the same space."""
        return [[d.name, distribution_to_json(d.distribution) if d.searched else _plain(d.value)] for d in [self.strategy, *self.dims]]

    def describe(self) -> str:
        return ", ".join(d.text() for d in [self.strategy, *self.dims])


# ---- building a space from the search file, the named sweep's grids and the command line ------------


def build(spec: Mapping | None, grids: Mapping | None, cli: Iterable[Override], base: Mapping[str, Any], resolution: float | None) -> Space:
    """The space of a search: `spec` (hydra.sweeper.space), else the named sweep's `grids`, with the
    command line's overrides of decoding keys applied. `base` holds the configured value of every
    decoding key (what a fixed key keeps). Raises ConfigError (one line) for an empty, contradictory
    or invalid space."""
    spec = _plain(spec) or {}
    if not spec and grids:
        spec = from_grids(_plain(grids))
    for override in cli:
        key = override.get_key_element().lstrip("+~")
        if key in DECODE_FIELDS:
            spec[key] = override.value()  # the command line wins, for every strategy
        elif override.is_sweep_override():
            raise ConfigError(f"{override.input_line} cannot be searched; allowed: sweeps of decoding keys ({', '.join(DECODE_FIELDS)}); "
                              f"run one search per {key}")  # fmt: skip
    for key in spec:
        if key not in DECODE_FIELDS:
            raise ConfigError(f"hydra.sweeper.space.{key} is not a decoding key; allowed: {', '.join(DECODE_FIELDS)}")
    strategy_dim = _strategy_dim(spec.get("strategy", base.get("strategy")))
    chosen = [strategy_dim.value] if not strategy_dim.searched else list(strategy_dim.distribution.choices)
    for override in cli:
        _check_applies(override, chosen)
    dims: list[Dim] = []
    for key, raw in spec.items():
        if key != "strategy":
            dims += _dims(key, raw, chosen, resolution)
    space = Space(strategy_dim, dims)
    for dim in [strategy_dim, *dims]:
        _check_values(dim, chosen, base)
    if not space.searched():
        raise ConfigError(f"the search space is empty: every key is fixed ({space.describe()}); allowed: at least one key with several "
                          f"values, e.g. strategy=lowprob,logitdiff or rho_max=interval(0.1,1.0)")  # fmt: skip
    return space


def _check_applies(override: Override, chosen: list[str]) -> None:
    """A command-line sweep of a knob that none of the searched strategies has contradicts the rest of
    the command (e.g. `strategy=t2t c_max=1,3`: T2T never remasks): one line instead of a silent no-op."""
    key = override.get_key_element().lstrip("+~")
    if key == "strategy" or not override.is_sweep_override() or any(applies(key, s) for s in chosen):
        return
    having = [s for s in strategies() if applies(key, s)]
    raise ConfigError(f"{override.input_line} changes nothing: {key} does not apply to strategy {', '.join(chosen)} of this search; "
                      f"allowed: a strategy it applies to ({', '.join(having) or 'none'}) in strategy=..., or no {key} sweep")  # fmt: skip


def from_grids(grids: Mapping[str, Mapping]) -> dict:
    """A named sweep's grids as a space: the grids' strategies as the categorical, and each grid's
    values as its strategy's choices (one grid per strategy)."""
    spec: dict = {"strategy": []}
    for name, grid in grids.items():
        values = _values_of(grid.get("strategy"))
        if len(values) != 1:
            raise ConfigError(f"hydra.sweeper.grids.{name} has strategy={grid.get('strategy')!r}; allowed: one strategy per grid when a "
                              f"search takes its space from the grids")  # fmt: skip
        strategy = values[0]
        if strategy in spec["strategy"]:
            raise ConfigError(f"hydra.sweeper.grids: two grids have strategy={strategy}; allowed: one grid per strategy when a search "
                              f"takes its space from the grids")  # fmt: skip
        spec["strategy"].append(strategy)
        for key, value in grid.items():
            if key != "strategy":
                spec.setdefault(key, {})[strategy] = value
    return spec


def _values_of(raw) -> list:
    kind, value = _parse("strategy", raw)
    return list(value.choices) if kind == "dist" else [value]


def _strategy_dim(raw) -> Dim:
    kind, value = _parse("strategy", raw)
    names = strategies()
    values = list(value.choices) if kind == "dist" else [value]
    for s in values:
        if s not in names:
            raise ConfigError(f"strategy={s!r} in the search space is unknown; allowed: {', '.join(names)}")
    if kind == "dist" and not isinstance(value, CategoricalDistribution):
        raise ConfigError(f"strategy={_describe(value)} is not a list of strategies; allowed: a list or choice(...) of {', '.join(names)}")
    return Dim("strategy", value) if kind == "dist" else Dim("strategy", value=value)


def _dims(key: str, raw, chosen: list[str], resolution: float | None) -> list[Dim]:
    """The dimensions of one key: shared, or one per strategy (tau always, others when given per strategy)."""
    where = [s for s in chosen if applies(key, s)]
    if not where:
        return []  # e.g. c_max when only t2t is searched: it changes nothing
    per_strategy = isinstance(raw, Mapping)
    if per_strategy:
        for s in raw:
            if s not in chosen:
                raise ConfigError(f"hydra.sweeper.space.{key}.{s}: {s} is not a strategy of this search; allowed: {', '.join(chosen)}")
        given = {s: raw[s] for s in where if s in raw}
    elif key == "tau":
        given = {s: raw for s in where}
    else:
        kind, value = _parse(key, raw, resolution)
        return [Dim(key, value) if kind == "dist" else Dim(key, value=value)]
    dims = []
    for s, value in given.items():
        kind, parsed = _parse(key, tau_range(s) if key == "tau" and value == ALLOWED else value, resolution)
        if key == "tau":
            kind, parsed = _within_tau_range(kind, parsed, s, resolution)
        dims.append(Dim(key, parsed, strategy=s) if kind == "dist" else Dim(key, value=parsed, strategy=s))
    return dims


def _parse(key: str, raw, resolution: float | None = None) -> tuple[str, Any]:
    """("dist", an Optuna distribution) or ("fixed", a value), from YAML or an override's value."""
    if isinstance(raw, tuple):  # (lo, hi): an allowed range
        return _parse(key, IntervalSweep(start=raw[0], end=raw[1]), resolution)
    if isinstance(raw, str) and raw == ALLOWED:
        raise ConfigError(f"{key}: allowed is only for tau (each strategy's allowed tau range); allowed for {key}: a value, a list, "
                          f"choice(), interval() or range()")  # fmt: skip
    if isinstance(raw, str) and any(c in raw for c in ",()"):
        try:
            raw = OverridesParser.create().parse_override(f"{key}={raw}").value()
        except Exception as e:  # noqa: BLE001 - Hydra's grammar errors are long
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ConfigError(f"hydra.sweeper.space.{key}={raw!r} is not valid sweep syntax ({first}); allowed: a list, choice(), "
                              f"interval() or range()") from None  # fmt: skip
    if isinstance(raw, ChoiceSweep):
        raw = list(raw.list)
    if isinstance(raw, list):
        values = [_typed(key, v) for v in raw]
        if not values:
            raise ConfigError(f"hydra.sweeper.space.{key} is an empty list; allowed: one or more values")
        unique = list(dict.fromkeys(values))
        return ("fixed", unique[0]) if len(unique) == 1 else ("dist", CategoricalDistribution(unique))
    if isinstance(raw, RangeSweep):
        return _range(key, raw)
    if isinstance(raw, IntervalSweep):
        return _interval(key, raw, resolution)
    if isinstance(raw, Glob):
        raise ConfigError(f"{key}=glob(...) cannot be searched; allowed: a list, choice(), interval() or range()")
    if isinstance(raw, Mapping):
        raise ConfigError(f"hydra.sweeper.space.{key} has values per strategy where a single value is expected")
    return "fixed", _typed(key, raw)


def _range(key: str, sweep: RangeSweep) -> tuple[str, Any]:
    values = [round(float(v), 10) for v in _range_values(sweep)]
    if not values:
        raise ConfigError(f"{key}=range({sweep.start}, {sweep.stop}, {sweep.step}) is empty; allowed: a range with at least one value")
    if len(values) == 1:
        return "fixed", _typed(key, values[0])
    if key not in FLOAT_KEYS and all(float(v).is_integer() for v in values):
        return "dist", IntDistribution(int(values[0]), int(values[-1]), step=int(sweep.step))
    return "dist", FloatDistribution(values[0], values[-1], step=round(abs(float(sweep.step)), 10))


def _range_values(sweep: RangeSweep) -> list:
    out, v = [], sweep.start
    while (v < sweep.stop) if sweep.step > 0 else (v > sweep.stop):
        out.append(v)
        v += sweep.step
    return out


def _interval(key: str, sweep: IntervalSweep, resolution: float | None) -> tuple[str, Any]:
    lo, hi, log = float(sweep.start), float(sweep.end), "log" in (sweep.tags or set())
    if not lo <= hi:
        raise ConfigError(f"{key}=interval({sweep.start}, {sweep.end}) is empty: its low end is above its high end; allowed: interval(low, high) with low <= high")
    if log and lo <= 0:
        raise ConfigError(f"{key}=tag(log, interval({sweep.start}, {sweep.end})) starts at {sweep.start}; allowed: a log scale above 0")
    step = None
    if resolution and not log:
        # On a grid of `resolution`: nearby proposals become the same configuration (stored once), and
        # job directory names stay readable. The ends move inward onto the grid.
        lo, hi, step = math.ceil(lo / resolution - 1e-9) * resolution, math.floor(hi / resolution + 1e-9) * resolution, resolution
        lo, hi = round(lo, 10), round(hi, 10)
        if lo > hi:
            raise ConfigError(f"{key}=interval({sweep.start}, {sweep.end}) holds no value on the search's grid of "
                              f"hydra.sweeper.resolution={resolution}; allowed: a wider interval, or resolution=null")  # fmt: skip
    if lo == hi:
        return "fixed", _typed(key, lo)
    if key not in FLOAT_KEYS:
        raise ConfigError(f"{key}=interval(...) is not possible: {key} takes integers; allowed: a list, choice() or range()")
    return "dist", FloatDistribution(lo, hi, log=log, step=step)


def _within_tau_range(kind: str, value, strategy: str, resolution: float | None) -> tuple[str, Any]:
    """tau narrowed to what `strategy` allows; nothing left of it is a contradiction."""
    lo, hi = tau_range(strategy)
    where = f"{strategy}'s allowed tau range [{lo:g}, {hi:g}]"
    if kind == "fixed":
        if value is None or not lo <= value <= hi:
            raise ConfigError(f"tau={_plain(value)} is outside {where}; allowed: a value in it")
        return kind, value
    if isinstance(value, CategoricalDistribution):
        kept = [v for v in value.choices if v is not None and lo <= v <= hi]
        if not kept:
            raise ConfigError(f"tau={_describe(value)} has no value in {where}; allowed: values in it")
        return ("fixed", kept[0]) if len(kept) == 1 else ("dist", CategoricalDistribution(kept))
    low, high = max(value.low, lo), min(value.high, hi)
    if value.step is not None:
        low = value.low + math.ceil((low - value.low) / value.step - 1e-9) * value.step
        high = value.low + math.floor((high - value.low) / value.step + 1e-9) * value.step
        low, high = round(low, 10), round(high, 10)
    if low > high:
        raise ConfigError(f"tau={_describe(value)} does not meet {where}; allowed: a range that overlaps it")
    if low == high:
        return "fixed", low
    return "dist", FloatDistribution(low, high, log=value.log, step=value.step)


def _check_values(dim: Dim, chosen: list[str], base: Mapping[str, Any]) -> None:
    """Every value a dimension can take must make a valid DecodeConfig (one source of truth for ranges)."""
    if dim.key == "strategy":
        return
    d = dim.distribution
    if d is None:
        candidates = [dim.value]
    elif isinstance(d, CategoricalDistribution):
        candidates = list(d.choices)
    else:
        candidates = [d.low, d.high]
    where = [dim.strategy] if dim.strategy else [s for s in chosen if applies(dim.key, s)]
    for value in candidates:
        for s in where[:1] if dim.key != "tau" else where:
            fields = {k: v for k, v in base.items() if k in DECODE_FIELDS and k not in ("strategy", "tau")}
            try:
                DecodeConfig(**{**fields, "strategy": s, dim.key: value})
            except (ValueError, TypeError) as e:
                shown = dim.text() if d is not None else f"{dim.name}={_plain(value)}"
                raise ConfigError(f"{shown} in the search space: {e}") from None


# ---- values ---------------------------------------------------------------------------------------


def _typed(key: str, value):
    """A value as DecodeConfig holds it: floats for float keys (so 1 and 1.0 are one configuration)."""
    value = _plain(value)
    if value is None or isinstance(value, (bool, str)):
        return value
    if key in FLOAT_KEYS and isinstance(value, (int, float)):
        return round(float(value), 10)
    if isinstance(value, float) and value.is_integer() and key not in FLOAT_KEYS:
        return int(value)
    return value


def _suggest(trial, dim: Dim):
    d = dim.distribution
    if isinstance(d, CategoricalDistribution):
        return trial.suggest_categorical(dim.name, d.choices)
    if isinstance(d, IntDistribution):
        return trial.suggest_int(dim.name, d.low, d.high, step=d.step, log=d.log)
    value = trial.suggest_float(dim.name, d.low, d.high, step=d.step, log=d.log)
    return _typed(dim.key, round(value, 10))


def override(key: str, value) -> str:
    """`key=value` in Hydra's override syntax."""
    if value is None:
        return f"{key}=null"
    if isinstance(value, bool):
        return f"{key}={'true' if value else 'false'}"
    if isinstance(value, float):
        return f"{key}={value!r}"
    return f"{key}={value}"


def _same(a, b) -> bool:
    if a is None or b is None or isinstance(a, (str, bool)) or isinstance(b, (str, bool)):
        return a == b
    return abs(float(a) - float(b)) < 1e-9


def _plain(v):
    return OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v


def _describe(d: BaseDistribution) -> str:
    if isinstance(d, CategoricalDistribution):
        return "choice(" + ", ".join("null" if c is None else str(c) for c in d.choices) + ")"
    text = f"interval({d.low:g}, {d.high:g})" if d.step is None or isinstance(d, FloatDistribution) else f"range({d.low}, {d.high + d.step}, {d.step})"
    if isinstance(d, FloatDistribution) and d.step is not None:
        text += f" step {d.step:g}"
    return f"tag(log, {text})" if d.log else text
