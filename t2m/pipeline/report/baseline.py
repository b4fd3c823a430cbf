"""The configuration the others are compared with: the `baseline` key.

    baseline: null                            the default, `default_baseline()`: LLaDA2.1's own T2T editing
    baseline: {strategy: lowprob, tau: 0.3}   the configuration with these values (any decoding keys)
    baseline: 0_t2t_tau0.5_c1_rho0.25         a job directory of the sweep, or a path to one elsewhere
    baseline: none                            no baseline: no paired statistics, nothing added

On the command line: `baseline={strategy:lowprob,tau:0.3}` (Hydra's dict syntax), `baseline=none`.

A configuration is compared with the baseline of its *context*: the same model, dataset and samples_per_prompt, and the
same value of every decoding key that is neither a strategy knob (`KNOBS`) nor named by the selector.
So `-m strategy=t2t,lowprob threshold=0.5,0.7` compares each LowProb run with the T2T run at its own
threshold, while `baseline={strategy:t2t,threshold:0.7}` compares every run with the one at 0.7. A
sweep that lacks the baseline of one of its contexts runs it (`missing_jobs`, used by the union sweeper).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

from t2m.decoding.config import DECODE_KEYS

NONE = "none"  # `baseline=none`
# A strategy's own settings: what a comparison with the baseline is about, so never part of the context.
KNOBS = ("strategy", "tau", "c_max", "rho_max", "editing_threshold")
# Beside the decoding keys: never compare across models, datasets or numbers of samples per problem.
CONTEXT_KEYS = ("model", "dataset", "samples_per_prompt")
CONTEXT_DEFAULTS = {"samples_per_prompt": 1}  # rows written before the key existed


class BaselineError(ValueError):
    """A bad `baseline` value, or one no configuration matches; the message is one line."""


def default_baseline() -> dict:
    """The selector used when `baseline` is not set: the strategy whose registry entry says
    `baseline=True` (LLaDA2.1's Token-to-Token editing, the method the paper improves on)."""
    from t2m.decoding.registry import baseline_strategy

    return {"strategy": baseline_strategy()}


def is_default_baseline_strategy(strategy: str) -> bool:
    """Whether `strategy` is the default baseline's (drawn as a star among published points)."""
    return strategy == default_baseline()["strategy"]


def parse(value: Any) -> dict | str | None:
    """A selector dict, a job directory (str), or None for `baseline=none`, from a config value."""
    if value is None:
        return default_baseline()
    if hasattr(value, "items"):  # a dict or an OmegaConf DictConfig
        selector = {str(k): _plain(v) for k, v in value.items()}
        check_selector(selector)
        return selector
    if isinstance(value, str) and value.strip():
        return None if value.strip().lower() == NONE else value.strip()
    raise BaselineError(f"baseline={value!r} is invalid; allowed: null, none, {{key: value, ...}} of decoding keys, or a job directory")


def parse_cli(text: str):
    """The config value of `--baseline TEXT` (`python -m t2m.report`), in the syntax of `baseline=TEXT`
    in a sweep; checked, but not yet `parse`d (so `none` stays "none", not the default)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        value = OverridesParser.create().parse_override(f"baseline={text}").value()
    except Exception:  # noqa: BLE001 - Hydra's grammar errors are long; ours is one line
        raise BaselineError(f"baseline={text!r} is not valid override syntax; e.g. {{strategy:lowprob,tau:0.3}} or a job directory") from None
    parse(value)
    return value


def check_selector(selector: Mapping) -> None:
    if not selector:
        raise BaselineError("baseline={} is empty; allowed: decoding keys and values, e.g. {strategy: t2t}")
    for key, v in selector.items():
        if key not in DECODE_KEYS:
            raise BaselineError(f"baseline.{key} is unknown; allowed: {', '.join(DECODE_KEYS)}")
        if not (v is None or isinstance(v, (bool, int, float, str))):
            raise BaselineError(f"baseline.{key}={v!r} is invalid; allowed: a single value")
    strategy = selector.get("strategy")
    if strategy is not None:
        from t2m.decoding.registry import PLUGIN_HINT, STRATEGIES

        if strategy not in STRATEGIES:
            raise BaselineError(f"baseline.strategy={strategy!r} is unknown; allowed: {', '.join(sorted(STRATEGIES))} ({PLUGIN_HINT})")


def describe(spec: dict | str | None) -> str:
    if spec is None:
        return NONE
    if isinstance(spec, str):
        return spec
    return "{" + ", ".join(f"{k}: {v}" for k, v in spec.items()) + "}"


def matches(row: Mapping, selector: Mapping) -> bool:
    return all(same_value(row.get(k), v) for k, v in selector.items())


def context(row: Mapping, selector: Mapping) -> tuple:
    """What a configuration and its baseline must share (see the module docstring)."""
    keys = [k for k in (*CONTEXT_KEYS, *DECODE_KEYS) if k not in KNOBS and k not in selector]
    return tuple((k, context_value(row, k)) for k in keys)


def context_value(row: Mapping, key: str):
    """A row's value of a context key, comparable across sources (a missing value is the key's default)."""
    value = _norm(row.get(key))
    return _norm(CONTEXT_DEFAULTS.get(key)) if value is None else value


def assign(rows: Sequence[Mapping], selector: Mapping) -> tuple[list[int | None], list[str]]:
    """For each row the index of its baseline row (None: its context has none), and one warning line
    per context whose baseline is ambiguous. Raises BaselineError when no row matches at all."""
    by_context: dict[tuple, list[int]] = {}
    for i, row in enumerate(rows):
        if matches(row, selector):
            by_context.setdefault(context(row, selector), []).append(i)
    if not by_context:
        raise BaselineError(f"baseline={describe(dict(selector))} matches none of the {len(rows)} configurations")
    warnings, chosen = [], {}
    for ctx, found in by_context.items():
        if len(found) == 1:
            chosen[ctx] = found[0]
        else:
            jobs = ", ".join(str(rows[i].get("job", i)) for i in found)
            warnings.append(f"baseline={describe(dict(selector))} matches {len(found)} configurations ({jobs}); "
                            f"their context has no paired statistics; pick one with a narrower baseline={{...}} or a job directory")  # fmt: skip
    return [chosen.get(context(row, selector)) for row in rows], warnings


def job_index(rows: Sequence[Mapping], job: str) -> int | None:
    """The row of job directory `job` (its path under the results directory, or its name)."""
    for i, row in enumerate(rows):
        name = str(row.get("job", ""))
        if name == job or Path(name).name == job:
            return i
    return None


def missing_jobs(spec: dict | str | None, jobs: Sequence[tuple[list[str], Mapping]]) -> list[list[str]]:
    """Override lists of the baseline runs a sweep lacks: one per context that has configurations but
    no configuration matching the selector. `jobs` are (overrides, composed config as a flat row)."""
    if not isinstance(spec, dict):
        return []  # none, or a job directory: nothing to add
    have = {context(row, spec) for _, row in jobs if matches(row, spec)}
    added, seen = [], set()
    for overrides, row in jobs:
        ctx = context(row, spec)
        if ctx in have or ctx in seen:
            continue
        seen.add(ctx)
        kept = [o for o in overrides if _override_key(o) not in (*KNOBS, "control_of", *spec)]  # a control's target is its own
        added.append(kept + [f"{k}={override_value(v)}" for k, v in spec.items()])
    return added


def flat_row(cfg) -> dict:
    """A composed config as the keys a table row has (decoding keys, model, dataset)."""
    row = {k: _plain(cfg.get(k)) for k in DECODE_KEYS if k in cfg}
    row["model"] = cfg.model.name_or_path or "bundled:tiny-dllm"  # as the task writes it into summary.json
    row["dataset"] = cfg.dataset.name
    row["samples_per_prompt"] = cfg.get("samples_per_prompt", 1)
    return row


def _override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def override_value(v) -> str:
    """A value as Hydra's override grammar writes it (null, true/false, the rest as str)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _plain(v):
    from omegaconf import OmegaConf

    return OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v


def _norm(v):
    """A value as comparable across YAML, JSON and pandas (1 == 1.0, NaN == None)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if hasattr(v, "item"):  # numpy scalars
        v = v.item()
    if isinstance(v, bool) or isinstance(v, str):
        return v
    if isinstance(v, (int, float)):
        return round(float(v), 9)
    return str(v)


def same_value(a, b) -> bool:
    return _norm(a) == _norm(b)
