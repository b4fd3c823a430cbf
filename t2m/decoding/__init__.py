"""The decoder, a pure library: token ids and DecodeConfigs in, tokens and statistics out.

    config.py     DecodeConfig: every knob of one decoding configuration, validated
    registry.py   what a policy is (StepView, Strategy, Unmasking) and how to register your own
    policies.py   the built-in policies: T2T, the T2M detectors, threshold and low-confidence M2T
    wino.py       WINO: wide-in drafting (unmasking=wino) and narrow-out verification (strategy=wino)
    learned.py    a learned unmasking policy (unmasking=learned), trained by t2m.policy.train
    engine.py     decode(): batched block diffusion, one step at a time, top to bottom
    canvas.py     a batch's token grid and the attention bias of each forward pass
    forward.py    which columns each forward pass runs, over which cached prefix
    kv_cache.py   the in-place KV cache
    proposals.py  x0, p0 and the probabilities policies read (greedy or seeded sampling)
    rules.py      the shared step rules as pure tensor functions
    models.py     load_model(): one loading path for every checkpoint, and the forward adapters

The decoding semantics are written out in docs/decoding.md. Nothing here knows about Hydra, W&B,
SLURM or the result store.
"""

from t2m.decoding.config import DecodeConfig

# The built-in policies register themselves on import. Importing them here, with the package, fills
# the registry before any lookup (`from t2m.decoding.registry import STRATEGIES` runs this first).
from t2m.decoding import policies as _policies  # noqa: E402,F401  T2T, the T2M detectors, threshold / low-confidence M2T
from t2m.decoding import wino as _wino  # noqa: E402,F401  WINO: wide-in drafting, narrow-out verification
from t2m.decoding import learned as _learned  # noqa: E402,F401  a learned unmasking policy (t2m.policy.train)

__all__ = ["DecodeConfig", "DecodeResult", "DiffusionLM", "StepView", "decode", "load_model", "register_strategy", "register_unmasking"]

_LAZY = {  # the engine and model loading are imported when first used
    "decode": "engine", "DecodeResult": "engine", "load_model": "models", "DiffusionLM": "models",
    "StepView": "registry", "register_strategy": "registry", "register_unmasking": "registry",
}  # fmt: skip


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"t2m.decoding.{_LAZY[name]}"), name)
    raise AttributeError(f"module 't2m.decoding' has no attribute {name!r}")
