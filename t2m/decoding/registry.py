"""What a decoding policy is, and the registries that name them.

A decoding step has two phases, and each is a policy picked by name in `DecodeConfig`:

    unmasking (M2T)   which masked positions to commit this step        `unmasking=threshold`
    strategy (edit)   which committed tokens to doubt, and what to do   `strategy=lowprob`
                      with them: overwrite with the proposal (T2T) or
                      reset to the mask (T2M)

A policy is a function of one `StepView` (the step of every active row as [rows, block] tensors)
plus a registry entry holding its facts. Those facts live nowhere else: `DecodeConfig` validates
against them, the Hydra config reads the default tau from them, the pipeline and the report ask
them whether a strategy remasks or is the baseline.

Your own policy is a module that registers it (no edit to t2m needed), e.g. LowProb with a soft edge:

    from t2m.decoding import register_strategy

    @register_strategy("soft_lowprob", remasks=True, default_tau=0.3)
    def soft_lowprob(view):
        '''Remask a committed token at random with probability tau * sqrt(1 - p), p its probability under
        the current logits: a doubtful token often, a certain one never (the sqrt lets doubt grow fast).'''
        u = view.uniform()  # seeded, batch-independent
        return u < view.tau * (1 - view.p_old).sqrt(), u  # (flags, score: lower = remask first)

Name the module in the config (`plugins: [mylab.detectors]`) and `strategy=soft_lowprob` runs.
"""

from __future__ import annotations

import importlib
import math
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

OPTIONAL_VIEW_FIELDS = ("entropy", "margin")  # computed only for batches whose policies ask for them


@dataclass(frozen=True)
class StepView:
    """One decoding step of the active rows. Token tensors are [rows, block]; per-row values [rows, 1].

    Probabilities are the model's distribution over the whole vocabulary (the mask token included),
    as in the reference implementation; `p0` is that of the proposal `x0` under the distribution it
    was drawn from (the tempered, filtered one when sampling).
    """

    old: Any  # tokens at the start of the step (the mask id where masked)
    masked: Any  # positions holding the mask id at the start of the step
    editable: Any  # committed before this step and not prompt: what an edit policy may touch
    x0: Any  # the model's proposal (argmax, or a sample)
    p0: Any  # probability of x0
    p_old: Any  # probability of the token already there, under this step's logits
    p_prev_old: Any  # probability of that token under the previous step's logits (NaN: unknown)
    tau: Any  # the strategy's threshold
    threshold: Any  # the M2T commit threshold
    step: Any  # forwards this row already spent on this block (0 on a block's first step)
    masked_at_start: Any  # masked positions of this row's block when the block began
    entropy: Any = None  # entropy of the distribution (nats), when a policy asked for it
    margin: Any = None  # p(top-1) - p(top-2), when a policy asked for it
    committed: Any = None  # the masked positions this step's unmasking policy commits (set for the edit phase)
    _knob: Callable[[str, float], Any] = field(default=None, repr=False)
    _uniform: Callable[[int], Any] = field(default=None, repr=False)
    _setting: Callable[[str], list] = field(default=None, repr=False)

    def knob(self, name: str, default: float = math.nan):
        """Any DecodeConfig field of each row as a float [rows, 1] tensor (None -> `default`)."""
        return self._knob(name, default)

    def setting(self, name: str) -> list:
        """Any DecodeConfig field of each row as its Python value (a list; for non-numeric knobs
        such as a policy file's path, which a policy groups its rows by)."""
        return self._setting(name)

    def uniform(self, salt: int = 0):
        """Uniform (0, 1) numbers [rows, block], seeded by each row's `seed`, its step and the
        position: the same for a row whatever batch it is in. `salt` gives independent streams."""
        return self._uniform(salt)


Detector = Callable[[StepView], "tuple[Any, Any]"]  # -> (flags, score); lower score = act first
Selector = Callable[[StepView], Any]  # -> bool [rows, block]: the masked positions to commit


@dataclass(frozen=True)
class Strategy:
    """An edit policy: what a step does to tokens committed earlier."""

    name: str
    detect: Detector | None  # None: no edit phase
    remasks: bool  # True: flagged tokens go back to the mask (T2M); False: overwritten by x0 (T2T)
    default_tau: float  # tau when a configuration names the strategy without one
    tau_range: tuple[float, float] = (0.0, 1.0)  # allowed tau, both ends included
    needs_previous_step: bool = False  # abstains on a block's first editable step (LogitDiff)
    needs: frozenset = frozenset()  # optional StepView fields it reads (entropy, margin)
    baseline: bool = False  # what `baseline: null` compares every configuration with (T2T; only one may say so)

    @property
    def description(self) -> str:
        return _first_line(self.detect) or "no edit phase"


@dataclass(frozen=True)
class Unmasking:
    """An M2T policy: which masked positions a step commits to the proposal x0."""

    name: str
    select: Selector
    needs: frozenset = frozenset()
    default_threshold: float | None = None  # its own commit threshold, where it has one (conf reads it)
    check: Callable[[Any], None] | None = None  # validates a DecodeConfig naming it (ValueError, one line)

    @property
    def description(self) -> str:
        return _first_line(self.select)


STRATEGIES: dict[str, Strategy] = {}
UNMASKING: dict[str, Unmasking] = {}
PLUGIN_HINT = "a module of your own that registers it goes in plugins=[...]"


def register_strategy(name: str, *, remasks: bool, default_tau: float, tau_range: tuple[float, float] = (0.0, 1.0),
                      needs_previous_step: bool = False, needs: Iterable[str] = (), baseline: bool = False):  # fmt: skip
    """Decorator: register `fn(view) -> (flags, score)` as the edit policy `strategy=name`
    (decorate None for a strategy without an edit phase)."""
    lo, hi = tau_range
    if baseline and any(s.baseline and s.name != name for s in STRATEGIES.values()):
        raise ValueError(f"strategy {name!r}: baseline=True, but {baseline_strategy()!r} is already the baseline; "
                         f"compare with yours by setting baseline={{strategy:{name}}} in the config instead")  # fmt: skip
    if not lo <= default_tau <= hi:
        raise ValueError(f"strategy {name!r}: default_tau={default_tau} is outside its tau_range [{lo}, {hi}]")
    needs = _needs(name, needs)

    def wrap(fn: Detector | None):
        entry = Strategy(name, fn, remasks, float(default_tau), (float(lo), float(hi)), needs_previous_step, needs, baseline)
        _add(STRATEGIES, "strategy", entry, fn)
        return fn

    return wrap


def register_unmasking(name: str, *, needs: Iterable[str] = (), default_threshold: float | None = None,
                       check: Callable[[Any], None] | None = None):  # fmt: skip
    """Decorator: register `fn(view) -> bool [rows, block]` as the M2T policy `unmasking=name`.
    `check(config)` raises a one-line ValueError for a DecodeConfig the policy cannot run."""
    needs = _needs(name, needs)

    def wrap(fn: Selector):
        _add(UNMASKING, "unmasking", Unmasking(name, fn, needs, default_threshold, check), fn)
        return fn

    return wrap


def strategy(name: str) -> Strategy:
    """The registered strategy `name`, or a ValueError naming what is allowed."""
    if name not in STRATEGIES:
        raise ValueError(f"strategy={name!r} is unknown; allowed: {', '.join(sorted(STRATEGIES))} ({PLUGIN_HINT})")
    return STRATEGIES[name]


def unmasking(name: str) -> Unmasking:
    """The registered unmasking policy `name`, or a ValueError naming what is allowed."""
    if name not in UNMASKING:
        raise ValueError(f"unmasking={name!r} is unknown; allowed: {', '.join(sorted(UNMASKING))} ({PLUGIN_HINT})")
    return UNMASKING[name]


def baseline_strategy() -> str:
    """The strategy every other one is compared with unless a config says otherwise (T2T)."""
    return next(s.name for s in STRATEGIES.values() if s.baseline)


def load_plugins(modules: Iterable[str], search_dir: str | None = None) -> None:
    """Import the modules that register a user's own policies (`plugins: [mylab.detectors]`).
    `search_dir` (where the command was launched) is put on sys.path so that a module beside the
    user's config is found in every process, job processes included."""
    if search_dir and search_dir not in sys.path:
        sys.path.insert(0, search_dir)
    for module in modules:
        if not isinstance(module, str) or not module:
            raise ValueError(f"plugins entry {module!r} is invalid; allowed: importable module names such as mylab.detectors")
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise ValueError(f"plugins: cannot import {module!r} ({e}); allowed: a module importable from where you run the command") from None


def _add(registry: dict, kind: str, entry, fn) -> None:
    old = registry.get(entry.name)
    old_fn = getattr(old, "detect" if kind == "strategy" else "select", None) if old else None
    if old is not None and _origin(old_fn) != _origin(fn):  # re-importing the same module is fine
        raise ValueError(f"{kind} {entry.name!r} is already registered by {_origin(old_fn)}; pick another name")
    registry[entry.name] = entry


def _needs(name: str, needs: Iterable[str]) -> frozenset:
    unknown = sorted(set(needs) - set(OPTIONAL_VIEW_FIELDS))
    if unknown:
        raise ValueError(f"policy {name!r} needs {unknown}; allowed: {', '.join(OPTIONAL_VIEW_FIELDS)}")
    return frozenset(needs)


def _origin(fn) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', fn)}"


def _first_line(fn) -> str:
    return ((getattr(fn, "__doc__", None) or "").strip().splitlines() or [""])[0]

