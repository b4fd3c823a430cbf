"""The decoder, a pure library: token ids and DecodeConfigs in, tokens and statistics out.

    config.py    DecodeConfig: every knob of one decoding configuration, validated
    policies.py  the registry of edit policies (T2T editing, the T2M detectors); add your own here
    engine.py    decode(): batched block diffusion with M2T filling and the edit phase
    models.py    load_model(): one loading path for every checkpoint, and the forward adapters

Nothing here knows about Hydra, W&B, SLURM or the result store.
"""

from t2m.decoding.config import DecodeConfig

__all__ = ["DecodeConfig", "DecodeResult", "DiffusionLM", "decode", "load_model"]


def __getattr__(name):  # lazy: importing the config does not import torch
    if name in ("decode", "DecodeResult"):
        from t2m.decoding import engine

        return getattr(engine, name)
    if name in ("load_model", "DiffusionLM"):
        from t2m.decoding import models

        return getattr(models, name)
    raise AttributeError(f"module 't2m.decoding' has no attribute {name!r}")
