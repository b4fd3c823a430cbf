"""The search space: which decoding keys a search varies, over which values, for which strategies.

A search file writes it under `hydra.sweeper.space` (or `params`, as Hydra's Optuna sweeper and
lightning-hydra-template's hparams_search/ files call it) in Hydra's sweep syntax: Hydra's override
parser reads it, and this module makes Optuna distributions of what it reads. A list or choice() is
categorical, interval() a range of numbers (on a grid of hydra.sweeper.resolution; tag(log, ...) a log
scale, tag(int, ...) integers), range() a stepped one, a single value fixes the key, `tau: allowed`
is each strategy's own tau range, and {lowprob: ..., logitdiff: ...} gives a key values per strategy.

Knobs apply where they mean something: tau only to strategies with an edit phase, and always per
strategy (`tau[lowprob]`: its meaning and range are the strategy's); C_max and rho_max only to
strategies that remask. Keys that do not apply keep their configured values, so a trial composes
exactly like the grid point with the same values. The command line fixes or narrows any dimension
(`c_max=1`, `rho_max=interval(0.2,0.5)`) or adds one; without a space, a named sweep's grids are the
space. Every value is checked against `t2m.DecodeConfig` before anything runs.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, Glob, IntervalSweep, Override, RangeSweep
from omegaconf import OmegaConf
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution, distribution_to_json

from t2m.decoding import registry
from t2m.decoding.config import DecodeConfig
from t2m.pipeline.checks.validate import ConfigError
from t2m.pipeline.report.baseline import override_value

ALLOWED = "allowed"  # `tau: allowed`: each strategy's own allowed tau range
DECODE_FIELDS = {f.name: f for f in dataclasses.fields(DecodeConfig)}
FLOAT_KEYS = {name for name, f in DECODE_FIELDS.items() if "float" in str(f.type)}
SWEEPS = "a list, choice(), interval(), tag(int, interval()) or range()"


# ---- what the strategy registry says (read per call: `plugins` modules register strategies late) ----


def tau_range(strategy: str) -> tuple[float, float]:
    """The tau a strategy allows, from its registry entry (both ends included)."""
    lo, hi = registry.STRATEGIES[strategy].tau_range
    return float(lo), float(hi)


def applies(key: str, strategy: str) -> bool:
    """Whether `key` changes what `strategy` does: tau needs an edit phase, C_max and rho_max remasking."""
    entry = registry.STRATEGIES[strategy]
    if key == "tau":
        return entry.detect is not None
    return bool(entry.remasks) if key in ("c_max", "rho_max") else True


# ---- the space ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dim:
    """One key of the space, over an Optuna distribution; a categorical of one choice fixes the key
    (it is not an Optuna parameter). `strategy` set: only configurations of that strategy have it."""

    key: str
    distribution: BaseDistribution
    strategy: str | None = None

    @property
    def name(self) -> str:
        """The Optuna parameter name: `rho_max`, or `tau[lowprob]` for a per-strategy dimension."""
        return self.key if self.strategy is None else f"{self.key}[{self.strategy}]"

    @property
    def searched(self) -> bool:
        return not self.distribution.single()

    @property
    def value(self):
        """A fixed dimension's value."""
        return self.distribution.choices[0]

    def suggest(self, trial):
        d = self.distribution
        if not self.searched:
            return self.value
        if isinstance(d, CategoricalDistribution):
            return trial.suggest_categorical(self.name, d.choices)
        suggest = trial.suggest_int if isinstance(d, IntDistribution) else trial.suggest_float
        return _typed(self.key, suggest(self.name, d.low, d.high, step=d.step, log=d.log))

    def contains(self, value) -> bool:
        d = self.distribution
        if isinstance(d, CategoricalDistribution):
            return any(_same(value, c) for c in d.choices)
        if value is None or isinstance(value, (bool, str)) or not d.low - 1e-12 <= value <= d.high + 1e-12:
            return False
        steps = (value - d.low) / d.step if d.step else 0
        return abs(steps - round(steps)) < 1e-6

    def text(self) -> str:
        return f"{self.name}={_describe(self.distribution)}"


@dataclass
class Space:
    strategy: Dim
    dims: list[Dim]

    @property
    def strategies(self) -> list[str]:
        return list(self.strategy.distribution.choices)

    @property
    def keys(self) -> set[str]:
        return {"strategy", *(d.key for d in self.dims)}

    def searched(self) -> list[Dim]:
        return [d for d in [self.strategy, *self.dims] if d.searched]

    def dims_for(self, strategy: str) -> list[Dim]:
        """The dimensions a configuration of `strategy` has, in order."""
        return [d for d in self.dims if d.strategy in (None, strategy) and applies(d.key, strategy)]

    def suggest(self, trial) -> dict:
        """One configuration's values ({config key: value}), asked of an Optuna trial."""
        strategy = self.strategy.suggest(trial)
        return {"strategy": strategy, **{d.key: d.suggest(trial) for d in self.dims_for(strategy)}}

    def params(self, values: Mapping) -> tuple[dict, dict]:
        """(Optuna params, their distributions) of a configuration's values, e.g. for create_trial."""
        dims = [d for d in [self.strategy, *self.dims_for(values["strategy"])] if d.searched]
        return {d.name: values.get(d.key) for d in dims}, {d.name: d.distribution for d in dims}

    def contains(self, values: Mapping) -> bool:
        """Whether a configuration (e.g. the baseline) is a point of this space."""
        strategy = values.get("strategy")
        return self.strategy.contains(strategy) and all(d.contains(values.get(d.key)) for d in self.dims_for(strategy))

    def signature(self) -> list:
        """The space as plain data: a study may only be continued with the same space."""
        return [[d.name, distribution_to_json(d.distribution) if d.searched else d.value] for d in [self.strategy, *self.dims]]

    def describe(self) -> str:
        return ", ".join(d.text() for d in [self.strategy, *self.dims])


# ---- building it from the search file, a named sweep's grids and the command line ------------------


def build(spec, grids, cli: Iterable[Override], base: Mapping, resolution: float | None, params=None) -> Space:
    """The space of a search: `spec` (hydra.sweeper.space) or `params` (its alias), else the named
    sweep's `grids`, with the command line's decoding overrides applied. `base` holds the configured
    value of every decoding key. Raises ConfigError (one line) for an empty, contradictory or invalid space."""
    spec, where = _given(spec, params)
    spec = dict(spec or (from_grids(_plain(grids)) if grids else {}))
    for o in cli:
        key = o.get_key_element().lstrip("+~")
        if key in DECODE_FIELDS:
            spec[key] = o.value()  # the command line wins, for every strategy
        elif o.is_sweep_override():
            raise ConfigError(f"{o.input_line} cannot be searched; allowed: sweeps of decoding keys ({', '.join(DECODE_FIELDS)}); run one search per {key}")
    for key in spec:
        if key not in DECODE_FIELDS:
            raise ConfigError(f"{where}.{key} is not a decoding key; allowed: {', '.join(DECODE_FIELDS)}")
    strategy = _strategy_dim(spec.pop("strategy", base.get("strategy")), where)
    chosen = list(strategy.distribution.choices)
    for o in cli:
        _check_applies(o, chosen)
    dims = [dim for key, raw in spec.items() for dim in _dims(key, raw, chosen, resolution, where)]
    for dim in dims:
        _check_values(dim, chosen, base)
    space = Space(strategy, dims)
    if not space.searched():
        raise ConfigError(f"the search space is empty: every key is fixed ({space.describe()}); allowed: at least one key with several "
                          f"values, e.g. strategy=lowprob,logitdiff or rho_max=interval(0.1,1.0)")  # fmt: skip
    return space


def _given(space, params) -> tuple[dict, str]:
    """The search file's space and the name it was given under: `space`, or `params` as Hydra's Optuna
    sweeper calls it (so a search file written for that plugin is not silently ignored)."""
    space, params = _plain(space), _plain(params)
    if space and params:
        raise ConfigError("hydra.sweeper.space and hydra.sweeper.params are both given; allowed: one of them (params is another name for space)")
    return (params, "hydra.sweeper.params") if params else (space, "hydra.sweeper.space")


def from_grids(grids: Mapping[str, Mapping]) -> dict:
    """A named sweep's grids as a space: their strategies as the categorical, each grid's values as its
    strategy's choices."""
    spec: dict = {"strategy": []}
    for name, grid in grids.items():
        d = distribution("strategy", grid.get("strategy"), None)
        if not (isinstance(d, CategoricalDistribution) and d.single()) or d.choices[0] in spec["strategy"]:
            raise ConfigError(f"hydra.sweeper.grids.{name} has strategy={grid.get('strategy')!r}; allowed: one strategy per grid and one "
                              f"grid per strategy when a search takes its space from the grids")  # fmt: skip
        spec["strategy"].append(d.choices[0])
        for key, value in grid.items():
            if key != "strategy":
                spec.setdefault(key, {})[d.choices[0]] = value
    return spec


def _strategy_dim(raw, where: str) -> Dim:
    d = distribution("strategy", raw, None, where)
    names = list(registry.STRATEGIES)
    if not isinstance(d, CategoricalDistribution):
        raise ConfigError(f"strategy={_describe(d)} is not a list of strategies; allowed: a list or choice(...) of {', '.join(names)}")
    for s in d.choices:
        if s not in names:
            raise ConfigError(f"strategy={s!r} in the search space is unknown; allowed: {', '.join(names)}")
    return Dim("strategy", d)


def _check_applies(override: Override, chosen: list[str]) -> None:
    """A command-line sweep of a knob that none of the searched strategies has contradicts the rest of
    the command (e.g. `strategy=t2t c_max=1,3`: T2T never remasks): one line instead of a silent no-op."""
    key = override.get_key_element().lstrip("+~")
    if key == "strategy" or not override.is_sweep_override() or any(applies(key, s) for s in chosen):
        return
    having = [s for s in registry.STRATEGIES if applies(key, s)]
    raise ConfigError(f"{override.input_line} changes nothing: {key} does not apply to strategy {', '.join(chosen)} of this search; "
                      f"allowed: a strategy it applies to ({', '.join(having) or 'none'}) in strategy=..., or no {key} sweep")  # fmt: skip


def _dims(key: str, raw, chosen: list[str], resolution: float | None, where: str) -> list[Dim]:
    """One key's dimensions: one shared, or one per strategy (tau always, others when given per strategy)."""
    having = [s for s in chosen if applies(key, s)]
    if not having:
        return []  # e.g. c_max when only t2t is searched: it changes nothing
    if not isinstance(raw, Mapping) and key != "tau":
        return [Dim(key, distribution(key, raw, resolution, where))]
    for s in raw if isinstance(raw, Mapping) else ():
        if s not in chosen:
            raise ConfigError(f"{where}.{key}.{s}: {s} is not a strategy of this search; allowed: {', '.join(chosen)}")
    given = {s: raw[s] for s in having if s in raw} if isinstance(raw, Mapping) else dict.fromkeys(having, raw)
    return [Dim(key, _tau(s, v, resolution, where) if key == "tau" else distribution(key, v, resolution, where), s) for s, v in given.items()]


def _tau(strategy: str, raw, resolution: float | None, where: str) -> BaseDistribution:
    """A strategy's tau dimension, narrowed to what the strategy allows; nothing left is a contradiction."""
    lo, hi = tau_range(strategy)
    d = distribution("tau", IntervalSweep(start=lo, end=hi) if raw == ALLOWED else raw, resolution, where)
    allowed = f"{strategy}'s allowed tau range [{lo:g}, {hi:g}]"
    if isinstance(d, CategoricalDistribution):
        kept = [v for v in d.choices if isinstance(v, (int, float)) and lo <= v <= hi]
        if not kept:
            raise ConfigError(f"tau={_describe(d)} is outside {allowed}; allowed: a value in it")
        return CategoricalDistribution(kept)
    low, high = max(d.low, lo), min(d.high, hi)
    if d.step:
        low, high = _on_grid(low, high, d.step, origin=d.low)
    if low > high:
        raise ConfigError(f"tau={_describe(d)} does not meet {allowed}; allowed: a range that overlaps it")
    return _choices("tau", [low]) if low == high else type(d)(low, high, log=d.log, step=d.step)


def _check_values(dim: Dim, chosen: list[str], base: Mapping) -> None:
    """Every value a dimension can take must make a valid DecodeConfig (one source of truth for ranges);
    a numeric range is checked at both ends."""
    d = dim.distribution
    values = d.choices if isinstance(d, CategoricalDistribution) else (d.low, d.high)
    having = [dim.strategy] if dim.strategy else [s for s in chosen if applies(dim.key, s)]
    fields = {k: v for k, v in base.items() if k in DECODE_FIELDS and k not in ("strategy", "tau")}
    for value in values:
        for s in having if dim.key == "tau" else having[:1]:  # only tau's validity depends on the strategy
            try:
                DecodeConfig(**{**fields, "strategy": s, dim.key: value})
            except (ValueError, TypeError) as e:
                raise ConfigError(f"{dim.text()} in the search space: {e}") from None


# ---- Hydra's sweep syntax as Optuna distributions ---------------------------------------------------


def distribution(key: str, raw, resolution: float | None, where: str = "hydra.sweeper.space") -> BaseDistribution:
    """A value in Hydra's sweep syntax (from YAML, or an override's parsed value) as an Optuna
    distribution; a single value is a categorical of one choice."""
    if raw == ALLOWED:
        raise ConfigError(f"{key}: allowed is only for tau (each strategy's allowed tau range); allowed for {key}: a value, {SWEEPS}")
    if isinstance(raw, str) and any(c in raw for c in ",()"):
        try:
            raw = OverridesParser.create().parse_override(f"{key}={raw}").value()
        except Exception as e:  # noqa: BLE001 - Hydra's grammar errors span lines
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise ConfigError(f"{where}.{key}={raw!r} is not valid sweep syntax ({first}); allowed: {SWEEPS}") from None
    if isinstance(raw, list):
        raw = ChoiceSweep(list=raw)
    if isinstance(raw, ChoiceSweep):
        if not raw.list:
            raise ConfigError(f"{where}.{key} is an empty list; allowed: one or more values")
        return _choices(key, raw.list)
    if isinstance(raw, RangeSweep):
        return _range(key, raw)
    if isinstance(raw, IntervalSweep):
        return _interval(key, raw, resolution)
    if isinstance(raw, Mapping):
        raise ConfigError(f"{where}.{key} has values per strategy where a single value is expected")
    if isinstance(raw, Glob):
        raise ConfigError(f"{key}=glob(...) cannot be searched; allowed: {SWEEPS}")
    return _choices(key, [raw])


def _choices(key: str, values) -> CategoricalDistribution:
    return CategoricalDistribution(list(dict.fromkeys(_typed(key, v) for v in values)))


def _range(key: str, sweep: RangeSweep) -> BaseDistribution:
    values = [_typed(key, v) for v in sweep.range()] if sweep.step else []
    if len(values) < 2:
        if not values:
            raise ConfigError(f"{key}=range({sweep.start}, {sweep.stop}, {sweep.step}) is empty; allowed: a range with at least one value")
        return _choices(key, values)
    lo, hi = min(values), max(values)
    if all(isinstance(v, int) for v in values):
        return IntDistribution(lo, hi, step=abs(int(sweep.step)))
    return FloatDistribution(lo, hi, step=round(abs(float(sweep.step)), 10))


def _interval(key: str, sweep: IntervalSweep, resolution: float | None) -> BaseDistribution:
    lo, hi, log, integer = float(sweep.start), float(sweep.end), "log" in sweep.tags, "int" in sweep.tags
    shown = f"{key}=interval({sweep.start}, {sweep.end})"
    if lo > hi:
        raise ConfigError(f"{shown} is empty: its low end is above its high end; allowed: interval(low, high) with low <= high")
    if log and lo <= 0:
        raise ConfigError(f"{key}=tag(log, interval({sweep.start}, {sweep.end})) starts at {sweep.start}; allowed: a log scale above 0")
    # On a grid of `resolution`: nearby proposals become the same configuration (stored once), and job
    # directory names stay readable. The ends move inward onto the grid (onto integers for tag(int, ...)).
    step = 1 if integer else None if log else resolution
    if step:
        lo, hi = _on_grid(lo, hi, step)
        if lo > hi:
            grid = "integer" if integer else f"value on the search's grid of hydra.sweeper.resolution={resolution}"
            raise ConfigError(f"{shown} holds no {grid}; allowed: a wider interval" + ("" if integer else ", or resolution=null"))
    if lo == hi:
        return _choices(key, [lo])
    if integer:
        return IntDistribution(int(lo), int(hi), log=log)
    if key not in FLOAT_KEYS:
        raise ConfigError(f"{key}=interval(...) is not possible: {key} takes integers; allowed: a list, choice(), range() or tag(int, interval(...))")
    return FloatDistribution(lo, hi, log=log, step=step)


def _on_grid(lo: float, hi: float, step: float, origin: float = 0.0) -> tuple[float, float]:
    """[lo, hi] narrowed to the points origin + k * step inside it (float noise forgiven, then rounded off)."""
    first, last = math.ceil((lo - origin) / step - 1e-9), math.floor((hi - origin) / step + 1e-9)
    return round(origin + first * step, 10), round(origin + last * step, 10)


# ---- values ---------------------------------------------------------------------------------------


def _typed(key: str, value):
    """A value as DecodeConfig holds it, so that one configuration has one spelling: floats for float
    keys (1 and 1.0), ints for integer keys, rounded (0.41 and 0.41000000000000003)."""
    value = _plain(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    if key in FLOAT_KEYS:
        return round(float(value), 10)
    return int(value) if float(value).is_integer() else round(value, 10)


def override(key: str, value) -> str:
    """`key=value` in Hydra's override syntax."""
    return f"{key}={override_value(value)}"


def _same(a, b) -> bool:
    if a is None or b is None or isinstance(a, (str, bool)) or isinstance(b, (str, bool)):
        return a == b
    return abs(float(a) - float(b)) < 1e-9


def _plain(v):
    return OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v


def _describe(d: BaseDistribution) -> str:
    if isinstance(d, CategoricalDistribution):
        return str(d.choices[0]) if d.single() else "choice(" + ", ".join("null" if c is None else str(c) for c in d.choices) + ")"
    if isinstance(d, IntDistribution):
        text = f"range({d.low}, {d.high + d.step}, {d.step})"
    else:
        text = f"interval({d.low:g}, {d.high:g})" + (f" step {d.step:g}" if d.step is not None else "")
    return f"tag(log, {text})" if d.log else text
