"""Checks a composed config before any model or dataset is loaded.

Every problem is a `ConfigError` whose message is one line naming the key and what it allows; the
command line prints it and exits with status 2. Decoding values are checked by `t2m.DecodeConfig`
itself, so there is one source of truth for their ranges; the keys a config may have are the keys of
the YAML files under conf/ and sweeps/. Checks that read files or the network (dataset contents, model
directories, results directories, the hub) are in `t2m.pipeline.checks.preflight`.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import sys
from functools import lru_cache

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from t2m.analysis.metrics import METRICS
from t2m.decoding.config import MAX_COUNT, DecodeConfig
from t2m.pipeline.checks import resolvers
from t2m.pipeline.store.lock import IF_BUSY
from t2m.pipeline.paths import CONF_DIR, SWEEPS_DIR, absolute, looks_local

resolvers.register()  # before any config of this process is resolved

EXIT_CODE = 2
DTYPES = ("float32", "bfloat16", "float16")
TRACKER_MODES = ("offline", "online", "disabled")
RENAMED = {"sweep_name": "experiment"}
# More threads than cores only make them wait on each other; far more (threads=100000) crash torch.
THREADS_PER_CPU = 4
# Each sample of a problem is a store entry of its own; pass@k and majority vote are read at k <= 100s.
MAX_SAMPLES_PER_PROMPT = 1000
_DEVICE = re.compile(r"^(cpu|auto|mps|cuda(:\d+)?)$")
_FOLDER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.,=+-]*$")  # one path component, never "." or ".."


class ConfigError(ValueError):
    """A bad value in the config, reported as one line."""


class Rejected(BaseException):
    """A user-fixable error (a ConfigError, a busy lock, a full disk) raised where Hydra would catch an
    Exception: its callbacks only warn and carry on, its job runner adds its own "Error executing job"
    line. A BaseException passes through to the command line, which prints the error inside as one line."""

    def __init__(self, error: Exception):
        super().__init__(str(error))
        self.error = error


def exit_on_error(message: str, status: int = EXIT_CODE) -> None:
    """End the command the way every user-fixable mistake ends: one line on stderr, status 2."""
    print(f"t2m.sweep: {message}", file=sys.stderr)
    raise SystemExit(status)


def decode_config(cfg: DictConfig) -> DecodeConfig:
    """The DecodeConfig of a composed config (its top-level decoding keys)."""
    names = [f.name for f in dataclasses.fields(DecodeConfig)]
    values = {n: OmegaConf.to_object(cfg[n]) if OmegaConf.is_config(cfg[n]) else cfg[n] for n in names if n in cfg}
    if isinstance(values.get("unmasking_path"), str) and values["unmasking_path"]:  # from where the command was launched
        values["unmasking_path"] = str(absolute(values["unmasking_path"]))
    try:
        return DecodeConfig(**values)
    except (ValueError, TypeError) as e:
        raise ConfigError(str(e)) from None


def load_plugins(cfg: DictConfig) -> None:
    """Import the modules named in `plugins` (they register their policies and datasets), from where the
    command was launched; every process that checks a config does this first."""
    from t2m.decoding.registry import load_plugins as load

    plugins = cfg.get("plugins") or []
    if not OmegaConf.is_list(plugins) and not isinstance(plugins, (list, tuple)):
        raise ConfigError(f"plugins={plugins!r} is invalid; allowed: a list of module names, e.g. plugins=[mylab.detectors]")
    try:
        load(list(plugins), search_dir=str(absolute(".").resolve()))
    except ValueError as e:
        raise ConfigError(str(e)) from None


def check(cfg: DictConfig, here: bool = True) -> DecodeConfig:
    """Raise ConfigError on the first bad value; return the validated DecodeConfig. `here`: the job
    runs on this host, so the device it asks for must be here (a sweep submitted to SLURM from a
    CPU-only login node checks that in each job instead, on the node it lands on)."""
    check_keys(cfg)
    load_plugins(cfg)  # before `tau` resolves: a strategy of your own has its default there
    try:
        for key in cfg.keys():  # every ${...} resolves (Hydra's own node resolves per job, later)
            if key != "hydra":
                value = cfg[key]
                if OmegaConf.is_config(value):
                    OmegaConf.to_container(value, resolve=True)
    except OmegaConfBaseException as e:
        raise ConfigError(_omegaconf_line(e)) from None
    return _check_values(cfg, here)


def _check_values(cfg: DictConfig, here: bool = True) -> DecodeConfig:
    ds = cfg.dataset
    entry = _dataset_entry(ds.name)  # first: an unknown dataset leaves gen_length unset
    dc = decode_config(cfg)
    if ds.path is not None:
        if not entry.takes_path:
            raise ConfigError(f"dataset.path is not allowed for {ds.name} (generated, bundled); allowed: null")
        if absolute(ds.path).is_dir():
            raise ConfigError(f"dataset.path={ds.path!r} is a directory; allowed: a JSONL file, or null for the hub dataset")
        if not absolute(ds.path).is_file():
            raise ConfigError(f"dataset.path={ds.path!r} does not exist; allowed: a JSONL file, or null for the hub dataset")
    if ds.template is not None and (not isinstance(ds.template, str) or "{question}" not in ds.template):
        raise ConfigError(f"dataset.template={ds.template!r} has no {{question}} to put the problem in; allowed: a text "
                          f"containing {{question}}, or null for {ds.name}'s own ({entry.template!r})")  # fmt: skip
    _positive_int_or_none("dataset.limit", ds.limit)
    _positive_int("batch_size", cfg.batch_size)
    _check_analyses(cfg, dc)
    _positive_int_or_none("threads", cfg.threads, maximum=(os.cpu_count() or 1) * THREADS_PER_CPU if here else MAX_COUNT)

    m = cfg.model
    if m.dtype not in DTYPES:
        raise ConfigError(f"model.dtype={m.dtype!r} is unknown; allowed: {', '.join(DTYPES)}")
    if not _DEVICE.match(str(m.device)):
        raise ConfigError(f"model.device={m.device!r} is unknown; allowed: cpu, auto, cuda, cuda:N, mps")
    if not isinstance(m.trust_remote_code, bool):
        raise ConfigError(f"model.trust_remote_code={m.trust_remote_code!r} is invalid; allowed: true or false")
    if here:
        check_device(str(m.device))
    if m.name_or_path is not None and looks_local(str(m.name_or_path)) and not absolute(m.name_or_path).is_dir():
        raise ConfigError(f"model.name_or_path={m.name_or_path!r} does not exist; allowed: a checkpoint directory or a hub id")
    for key in ("mask_id", "eos_id"):
        _positive_int_or_none(f"model.{key}", m[key], minimum=0)

    if cfg.tracker.mode not in TRACKER_MODES:
        raise ConfigError(f"tracker.mode={cfg.tracker.mode!r} is unknown; allowed: {', '.join(TRACKER_MODES)}")
    _check_baseline(cfg.get("baseline"))
    _check_correction(OmegaConf.select(cfg, "stats.correction", default=None))
    _check_control(cfg.get("control_of"), dc)
    metric = cfg.get("report", {}).get("metric", "accuracy")
    if metric not in METRICS:
        raise ConfigError(f"report.metric={metric!r} is unknown; allowed: {', '.join(METRICS)}")
    overlay = cfg.get("report", {}).get("overlay")
    if overlay is not None and not absolute(overlay).is_file():
        raise ConfigError(f"report.overlay={overlay!r} does not exist; allowed: a CSV file, or null")
    if overlay is not None:
        _check_overlay(overlay)
    _check_experiment(cfg)
    store = cfg.store
    if store.if_busy not in IF_BUSY:
        raise ConfigError(f"store.if_busy={store.if_busy!r} is unknown; allowed: {', '.join(IF_BUSY)}")
    free = store.min_free_mb
    if isinstance(free, bool) or not isinstance(free, (int, float)) or not math.isfinite(free) or free < 0:  # nan would switch the check off
        raise ConfigError(f"store.min_free_mb={free!r} is invalid; allowed: a finite number >= 0")
    timeout = store.get("wait_timeout_s")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout) or timeout <= 0):
        raise ConfigError(f"store.wait_timeout_s={timeout!r} is invalid; allowed: a number of seconds > 0, or null (wait as long as it takes)")
    if not str(store.dir).strip():
        raise ConfigError("store.dir is empty; allowed: a directory (default: <results_dir>/store)")
    return dc


def _dataset_entry(name):
    """The registry entry of `dataset.name` (plugins are loaded by now), or one line naming the known ones."""
    from t2m.data import dataset

    try:
        return dataset(str(name))
    except ValueError:
        from t2m.data import DATASETS
        from t2m.data.registry import PLUGIN_HINT

        raise ConfigError(f"dataset.name={name!r} is unknown; allowed: {', '.join(sorted(DATASETS))} ({PLUGIN_HINT})") from None


def check_device(device: str) -> None:
    """The CUDA device a job asks for exists where it runs; one line naming the host (and the SLURM
    job and the GPUs it was given) when not, before the model loads."""
    if not device.startswith("cuda"):
        return
    import torch

    index = int(device.split(":")[1]) if ":" in device else 0
    found = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if index < found:
        return
    import platform

    where = platform.node()
    if os.environ.get("SLURM_JOB_ID"):
        where += f" (SLURM job {os.environ['SLURM_JOB_ID']}, CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')})"
    why = "CUDA is not available" if not found else f"only {found} CUDA device(s) are visible"
    raise ConfigError(f"model.device={device!r} but {why} on {where}, torch {torch.__version__}; allowed: cpu or auto, "
                      f"or a node with the GPU (hydra/launcher=slurm_a100)")  # fmt: skip


def check_keys(cfg: DictConfig) -> None:
    """Every key must be one that conf/ or sweeps/ defines (a `+foo=1` typo is not silently kept),
    and every key they define must be there (`~model` would leave the job without one)."""
    allowed = schema()
    present = [k for k in cfg.keys() if k != "hydra"]
    for key in present:
        if key not in allowed:
            raise ConfigError(unknown_key(key))
        sub = allowed[key]
        if sub is not None and OmegaConf.is_dict(cfg[key]):
            for inner in cfg[key].keys():
                if inner not in sub:
                    raise ConfigError(unknown_key(f"{key}.{inner}"))
    for key in required_keys():
        if key not in present:
            raise ConfigError(f"{key} is missing from the config (was it deleted with ~{key}?); allowed: keep it, set it with {key}=...")
    for key in present:
        if OmegaConf.is_missing(cfg, key):
            raise ConfigError(f"{key} is not set; allowed: set it on the command line ({key}=...)")


def unknown_key(name: str) -> str:
    """The one line for a key no config file defines, with the keys it could have meant."""
    parent, _, leaf = name.rpartition(".")
    top = name.split(".")[0].lstrip("+~")
    if top in RENAMED:
        return f"{top} was renamed; use {RENAMED[top]}=... instead"
    allowed = schema()
    siblings = sorted(allowed.get(parent) or ()) if parent else sorted(allowed)
    names = [f"{parent}.{s}" if parent else s for s in siblings]
    close = difflib.get_close_matches(leaf, siblings, n=1)  # compare leaves: a shared "model." prefix is no evidence
    hint = f" (did you mean {parent + '.' if parent else ''}{close[0]}?)" if close else ""
    return f"{name} is not a config key{hint}; allowed: {', '.join(names)}"


@lru_cache(maxsize=1)
def schema() -> dict[str, frozenset | None]:
    """The keys a config may have, from the YAML files themselves: conf/config.yaml, the options of
    its groups (a `_global_` option such as a strategy adds top-level keys; model, dataset and
    tracker options add keys under their group) and the named sweeps. None: a plain value."""
    keys: dict[str, set | None] = {}

    def add(node: dict) -> None:
        for key, value in node.items():
            if key in ("defaults", "hydra"):
                continue
            inner = set(value) if isinstance(value, dict) else None
            if inner is not None and keys.get(key) is not None:
                keys[key] |= inner
            else:
                keys.setdefault(key, inner)

    add(OmegaConf.to_container(OmegaConf.load(CONF_DIR / "config.yaml")))
    for group in sorted(p for p in CONF_DIR.iterdir() if p.is_dir() and p.name != "hydra"):
        for option in sorted(group.glob("*.yaml")):
            node = OmegaConf.to_container(OmegaConf.load(option)) or {}
            add(node if "@package _global_" in option.read_text() else {group.name: node})
    for sweep in sorted(SWEEPS_DIR.glob("*.yaml")):
        add(OmegaConf.to_container(OmegaConf.load(sweep)) or {})
    keys.setdefault("sweep", None)  # the group of named sweeps; composes to nothing
    return {k: None if v is None else frozenset(v) for k, v in keys.items()}


@lru_cache(maxsize=1)
def required_keys() -> frozenset:
    """Keys every composed config has: those of conf/config.yaml and those of the groups its defaults
    list always picks (model, dataset, tracker); keys that only an optional group adds are not required."""
    primary = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "config.yaml"))
    keys = {k for k in primary if k not in ("defaults", "hydra")}
    for item in primary.get("defaults", []):
        if isinstance(item, dict):
            ((group, option),) = item.items()
            options = sorted((CONF_DIR / group).glob("*.yaml")) if (CONF_DIR / group).is_dir() else []
            if option is not None and options and "@package _global_" not in options[0].read_text():
                keys.add(group)
    return frozenset(keys)


def _check_analyses(cfg: DictConfig, dc: DecodeConfig) -> None:
    k = cfg.get("samples_per_prompt", 1)
    _positive_int("samples_per_prompt", k, maximum=MAX_SAMPLES_PER_PROMPT)
    if k > 1 and dc.temperature == 0:
        raise ConfigError(f"samples_per_prompt={k} needs temperature > 0 (greedy decoding gives {k} identical samples); "
                          f"allowed: samples_per_prompt=1, or a temperature such as temperature=0.7")  # fmt: skip
    traj = cfg.get("trajectory", False)
    ids = OmegaConf.to_object(traj) if OmegaConf.is_config(traj) else traj
    ok = isinstance(ids, bool) or (isinstance(ids, list) and all(isinstance(i, (str, int)) and not isinstance(i, bool) for i in ids))
    if not ok:
        raise ConfigError(f"trajectory={ids!r} is invalid; allowed: true, false, or a list of problem ids such as [arith-0001,arith-0002]")


def _check_experiment(cfg: DictConfig) -> None:
    """`experiment` is a folder under results_dir and a W&B group: it must stay inside results_dir
    and out of the store."""
    name = str(cfg.experiment)
    parts = name.split("/")
    if not all(_FOLDER.match(p) for p in parts):
        raise ConfigError(f"experiment={name!r} is invalid; allowed: a name of letters, digits and . _ - (or several joined "
                          f"by /), a folder under results_dir that cannot point outside it")  # fmt: skip
    folder = (absolute(cfg.results_dir) / name).resolve()
    store = absolute(cfg.store.dir).resolve()
    if folder == store or store in folder.parents:
        raise ConfigError(f"experiment={name!r} is the store's folder ({store}); allowed: any other name")


def _check_overlay(path) -> None:
    import csv

    try:
        with open(absolute(path), newline="", encoding="utf-8") as f:
            header = next(csv.reader(f), [])
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"report.overlay={str(path)!r} cannot be read ({e}); allowed: a CSV file") from None
    missing = {"accuracy_pct", "strategy"} - set(header)
    if missing:
        raise ConfigError(f"report.overlay={str(path)!r} lacks the column(s) {', '.join(sorted(missing))}; "
                          f"allowed: a CSV with accuracy_pct, strategy and avg_modifications_per_sample or avg_forwards_per_sample")  # fmt: skip


def _omegaconf_line(e: OmegaConfBaseException) -> str:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    key = getattr(e, "full_key", None)
    return f"{key}: {msg}" if key and key not in msg else msg


def _check_control(value, dc: DecodeConfig) -> None:
    from t2m.pipeline.control import target_config

    if value is None:
        return
    if not OmegaConf.is_dict(value) and not isinstance(value, dict):
        raise ConfigError(f"control_of={value!r} is invalid; allowed: null or {{strategy: lowprob, tau: 0.7, ...}}")
    try:
        target_config(dc, OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value)
    except ValueError as e:
        raise ConfigError(str(e)) from None


def _check_baseline(value) -> None:
    from t2m.pipeline.report.baseline import BaselineError, parse
    from t2m.pipeline.store.entries import SAMPLES

    try:
        spec = parse(value)
    except BaselineError as e:
        raise ConfigError(str(e)) from None
    # A bare name is a job directory of this sweep (it does not exist yet); a path must be one already.
    if isinstance(spec, str) and ("/" in spec or spec.startswith("~")) and not (absolute(spec) / SAMPLES).is_file():
        raise ConfigError(f"baseline={spec!r} is not a job directory (no {SAMPLES} in it); allowed: a job directory "
                          f"holding {SAMPLES}, a job name of this sweep, {{key: value, ...}}, null or none")  # fmt: skip


def _check_correction(value) -> None:
    from t2m.analysis.stats import CORRECTIONS

    if not isinstance(value, str) or value not in CORRECTIONS:
        raise ConfigError(f"stats.correction={value!r} is unknown; allowed: {', '.join(CORRECTIONS)} "
                          f"(holm: family-wise, bh: false discovery rate, none: raw p)")  # fmt: skip


def _positive_int(key: str, v, minimum: int = 1, maximum: int = MAX_COUNT, hint: str = "") -> None:
    if isinstance(v, bool) or not isinstance(v, int) or not minimum <= v <= maximum:
        raise ConfigError(f"{key}={v!r} is invalid; allowed: an integer >= {minimum} (at most {maximum}){hint}")


def _positive_int_or_none(key: str, v, minimum: int = 1, maximum: int = MAX_COUNT) -> None:
    if v is not None:
        _positive_int(key, v, minimum, maximum, hint=", or null")
