"""OmegaConf resolvers that let the YAML read facts from the code that owns them, so no fact is
written twice:

    tau: ${t2m.default_tau:${strategy}}     a strategy's default tau, from its registry entry
    threshold: ${t2m.default_threshold:wino} an unmasking policy's own commit threshold
    gen_length: ${t2m.gen_length:${.name}}  a dataset's generation budget, from its registry entry
    trust_remote_code: ${t2m.trust_for:ORG/NAME}   true only while name_or_path is that hub id
    name_or_path: ${t2m.bundled:tiny-carry}   the absolute path of a checkpoint bundled in t2m/tiny/
    subdir: ..._${t2m.tau_label:${tau},${control_of}}_...   `tau0.3`, or `control` for a matched control

Registered on import of t2m.pipeline.checks.validate, which every process that composes or resolves a
config (the command line, the sweeper, job processes) imports first.
"""

from __future__ import annotations

from omegaconf import OmegaConf


def default_tau(strategy: str):
    """The registered default tau of `strategy`; None when it is not registered (yet), so that the
    config check reports the unknown strategy in one line instead of a resolver traceback."""
    from t2m.decoding.registry import STRATEGIES

    entry = STRATEGIES.get(str(strategy))
    return None if entry is None else entry.default_tau


def default_threshold(unmasking: str):
    """The registered commit threshold of an unmasking policy that has its own (WINO's 0.6)."""
    from t2m.decoding.registry import UNMASKING

    entry = UNMASKING.get(str(unmasking))
    return None if entry is None else entry.default_threshold


def gen_length(dataset: str):
    """The registered generation length of `dataset`; None when it is not registered (yet)."""
    from t2m.data import DATASETS

    entry = DATASETS.get(str(dataset))
    return None if entry is None else entry.gen_length


def trust_for(hub_id: str, *, _parent_) -> bool:
    """A model option's remote code is trusted for the hub id it pins, never for another name_or_path
    (a directory's own Python would run in the pre-flight); that takes model.trust_remote_code=true."""
    from t2m.pipeline.paths import looks_local

    name = _parent_.get("name_or_path")
    return name == hub_id and not looks_local(str(name))


def bundled(name: str) -> str:
    """The directory of the checkpoint `name` bundled with t2m (t2m/tiny/NAME), as an absolute path."""
    from t2m.tiny import BUNDLED

    if str(name) not in BUNDLED:
        raise ValueError(f"${{t2m.bundled:{name}}}: no bundled checkpoint {name!r}; allowed: {', '.join(BUNDLED)}")
    return str(BUNDLED[str(name)])


def tau_label(tau, control_of) -> str:
    """The tau part of a job directory's name: `tau0.3`, or `control` for a matched control, whose tau
    is calibrated when it runs (a name with the configured tau would name a value it never used)."""
    return "control" if control_of is not None else f"tau{tau}"


def register() -> None:
    OmegaConf.register_new_resolver("t2m.tau_label", tau_label, replace=True)
    OmegaConf.register_new_resolver("t2m.bundled", bundled, replace=True)
    OmegaConf.register_new_resolver("t2m.trust_for", trust_for, replace=True)
    OmegaConf.register_new_resolver("t2m.default_tau", default_tau, replace=True)
    OmegaConf.register_new_resolver("t2m.default_threshold", default_threshold, replace=True)
    OmegaConf.register_new_resolver("t2m.gen_length", gen_length, replace=True)
