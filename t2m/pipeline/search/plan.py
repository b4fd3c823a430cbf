"""A search's plan: the sweeper's settings and the command line, checked before anything is written.

Everything a user can get wrong ends here as one line (exit status 2), before a study is created or
a sample decoded: the space (empty, contradictory, values a DecodeConfig refuses), the objectives, the
constraint, the stages, the budget, the sampler, the storage URL, a study that already exists with
another space or context, and (composed and pre-flighted like any job) the baseline configuration.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from t2m.pipeline.report import baseline as baselines
from t2m.pipeline.checks import preflight
from t2m.pipeline.search import objectives as objs
from t2m.pipeline.search import space as spaces
from t2m.pipeline.search import storage
from t2m.pipeline.search.halving import check_stages, stage_limits
from t2m.pipeline.checks.validate import ConfigError, check
from t2m.pipeline.paths import absolute

NOT_SWEPT = ("dataset.limit",)  # set by the stages; the command line's value is the last stage


@dataclass
class Plan:
    dir: Path  # the study directory (hydra.sweep.dir): job directories, journal, trials table
    study_name: str
    storage_url: str | None
    n_trials: int
    n_jobs: int
    objectives: list  # [Objective]
    max_accuracy_drop: float | None
    limits: list[int]  # problems per stage; the last is every problem of the configuration
    reduction_factor: float
    space: spaces.Space
    fixed: list[str]  # command-line overrides every job gets (dataset=..., search=..., tracker=...)
    base: DictConfig  # the composed config of the fixed overrides alone
    baseline_spec: dict | str | None  # as t2m.pipeline.report.baseline.parse gives it, pinned to this search's context
    baseline_job: list[str] | None  # the overrides of the baseline's job; None: no job (none, or an outside directory)
    baseline_values: dict | None = None  # its decoding values (to tell whether it is a point of the space)
    sampler: Any = None  # the sampler's config (instantiated per ask, seeded by the study's size)
    seed: int | None = None
    extra_keys: list[str] = field(default_factory=list)  # searched keys beyond strategy/tau/c_max/rho_max (job names show them)
    max_wait: float | None = 3600  # seconds a verdict waits for lower-numbered trials of other workers (None: as long as they run)

    def shown(self, values: dict) -> dict:
        """The values worth printing: the strategy and what the space searches."""
        keys = {"strategy", *(d.key for d in self.space.searched())}
        return {k: v for k, v in values.items() if k in keys}

    @property
    def directions(self) -> list[str]:
        return [o.direction for o in self.objectives]

    @property
    def storage_name(self) -> str:
        return storage.describe(self.storage_url, self.dir)

    def signature(self) -> dict:
        """What a study may not change between runs (the budget and batch size may)."""
        context = {k: _plain(self.base.get(k)) for k in spaces.DECODE_FIELDS if k not in self.space.keys}
        sig = {
            "objectives": [o.name for o in self.objectives],
            "max_accuracy_drop": self.max_accuracy_drop,
            "stages": self.limits,
            "reduction_factor": self.reduction_factor,
            "space": self.space.signature(),
            "model": self.base.model.name_or_path or "bundled:tiny-dllm",
            "dataset": self.base.dataset.name,
            "dataset_path": self.base.dataset.path,
            "fixed_decoding": context,
            "baseline": baselines.describe(self.baseline_spec),
        }
        return json.loads(json.dumps(sig, default=str))


def make(sweeper, arguments: list[str]) -> Plan:
    """The checked plan of `sweeper` (an OptunaSearch) for the command line `arguments`."""
    loader = sweeper.hydra_context.config_loader
    parsed = OverridesParser.create(config_loader=loader).parse_overrides(arguments)
    decoding = [o for o in parsed if o.get_key_element().lstrip("+~") in spaces.DECODE_FIELDS]
    others = [o for o in parsed if o not in decoding]
    for o in others:
        if o.is_sweep_override():
            key = o.get_key_element()
            hint = "the stages set it; its value here is the last stage" if key in NOT_SWEPT else f"run one search per {key}"
            raise ConfigError(f"{o.input_line} cannot be searched; allowed: sweeps of decoding keys ({', '.join(spaces.DECODE_FIELDS)}); {hint}")
    fixed = [o.input_line for o in others]
    fixed_decoding = [o.input_line for o in decoding if not o.is_sweep_override()]  # e.g. gen_length=32: the baseline's too

    n_trials = _positive_int("hydra.sweeper.n_trials", sweeper.n_trials)
    n_jobs = _positive_int("hydra.sweeper.n_jobs", sweeper.n_jobs)
    objectives = objs.parse(_plain(sweeper.objectives))
    drop = objs.check_drop(sweeper.max_accuracy_drop)
    fractions = check_stages(_plain(sweeper.stages))
    factor = sweeper.reduction_factor
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or factor <= 1:
        raise ConfigError(f"hydra.sweeper.reduction_factor={factor!r} is invalid; allowed: a number > 1 (3 keeps the best third of each stage)")
    resolution = sweeper.resolution
    if resolution is not None and (isinstance(resolution, bool) or not isinstance(resolution, (int, float)) or not 0 < resolution < 1):
        raise ConfigError(f"hydra.sweeper.resolution={resolution!r} is invalid; allowed: null (continuous) or a step in (0, 1), e.g. 0.01")
    max_wait = sweeper.max_wait
    if max_wait is not None and (isinstance(max_wait, bool) or not isinstance(max_wait, (int, float)) or max_wait < 0):
        raise ConfigError(f"hydra.sweeper.max_wait={max_wait!r} is invalid; allowed: seconds >= 0 (3600), or null to wait as long as the "
                          f"trials waited for run")  # fmt: skip
    if not isinstance(sweeper.study_name, str) or not sweeper.study_name.strip():
        raise ConfigError(f"hydra.sweeper.study_name={sweeper.study_name!r} is invalid; allowed: a name")

    base = loader.load_sweep_config(sweeper.config, fixed)
    base_decode = check(base).to_dict()
    space = spaces.build(sweeper.space, sweeper.grids, decoding, base_decode, resolution, params=sweeper.params)
    study_dir = absolute(sweeper.config.hydra.sweep.dir)
    storage.check(sweeper.storage, study_dir)
    sampler_cfg, seed = _sampler(sweeper.sampler)

    problems, _ = preflight.dataset_with_digest(base.dataset)
    n_problems = len(problems) if base.dataset.limit is None else min(len(problems), base.dataset.limit)
    plan = Plan(
        dir=study_dir, study_name=sweeper.study_name.strip(), storage_url=sweeper.storage, n_trials=n_trials, n_jobs=n_jobs,
        objectives=objectives, max_accuracy_drop=drop, limits=stage_limits(fractions, n_problems), reduction_factor=float(factor),
        space=space, fixed=fixed, base=base, baseline_spec=None, baseline_job=None, sampler=sampler_cfg, seed=seed,
        extra_keys=sorted({d.key for d in space.searched()} - {"strategy", "tau", "c_max", "rho_max"}),
        max_wait=None if max_wait is None else float(max_wait),
    )  # fmt: skip
    _baseline(plan, loader, sweeper.config, fixed_decoding)
    return plan


def _baseline(plan: Plan, loader, config: DictConfig, fixed_decoding: list[str]) -> None:
    """The configuration every trial is compared with, pinned to the search's context: a searched key
    that is not a strategy knob (e.g. threshold) keeps its configured value in the baseline, so the
    question stays "cheaper than T2T as configured"."""
    spec = baselines.parse(plan.base.get("baseline"))
    if spec is None:
        if plan.max_accuracy_drop is not None:
            raise ConfigError("hydra.sweeper.max_accuracy_drop needs a baseline to compare with, and baseline=none; allowed: "
                              "max_accuracy_drop=null, or a baseline")  # fmt: skip
        return
    if isinstance(spec, str):
        outside = absolute(spec)
        if not (outside / "summary.json").exists():
            raise ConfigError(f"baseline={spec!r}: a search's baseline must be a finished job directory (with summary.json) or a "
                              f"configuration such as {{strategy: t2t}}")  # fmt: skip
        plan.baseline_spec = str(outside)
        return
    searched = {d.key for d in plan.space.searched()}
    pinned = {k: plan.base.get(k) for k in sorted(searched) if k not in baselines.KNOBS and k not in spec}
    spec = {**spec, **{k: _plain(v) for k, v in pinned.items()}}
    plan.baseline_spec = spec
    keys = set(spec) | set(baselines.KNOBS)
    job = [a for a in [*plan.fixed, *fixed_decoding] if a.split("=", 1)[0].lstrip("+~") not in keys]
    job += [spaces.override(k, v) for k, v in spec.items()]
    cfg = loader.load_sweep_config(config, job)
    dcfg = check(cfg)
    preflight.preflight(cfg, plan.dir)
    plan.baseline_job = job
    plan.baseline_values = dcfg.to_dict()


def _sampler(cfg) -> tuple[Any, int | None]:
    """The sampler's config, checked by building it once."""
    from hydra.utils import instantiate

    import optuna

    cfg = OmegaConf.create({"_target_": "optuna.samplers.TPESampler"} if cfg is None else cfg)
    allowed = "allowed: an Optuna sampler, e.g. {_target_: optuna.samplers.TPESampler, seed: 0}"
    try:
        sampler = instantiate(cfg)
    except Exception as e:  # noqa: BLE001 - an unknown class or argument: one line
        cause = e.__cause__ or e
        first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        raise ConfigError(f"hydra.sweeper.sampler cannot be built ({first}); {allowed}") from None
    if not isinstance(sampler, optuna.samplers.BaseSampler):
        raise ConfigError(f"hydra.sweeper.sampler builds a {type(sampler).__name__}, not an Optuna sampler; {allowed}")
    return cfg, cfg.get("seed")


def _positive_int(key: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ConfigError(f"{key}={v!r} is invalid; allowed: an integer >= 1")
    return v


def _plain(v):
    return OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v
