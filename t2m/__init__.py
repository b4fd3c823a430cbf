"""t2m: Token-to-Mask remasking sweeps for masked diffusion language models.

The decoding library (`load_model`, `DecodeConfig`, `decode`) and scoring (`extract_answer`,
`is_correct`) import no Hydra, W&B or SLURM code; those live in the thin layers around it.
"""

from t2m.config import DecodeConfig

__all__ = ["DecodeConfig", "DecodeResult", "decode", "load_model", "extract_answer", "is_correct"]
__version__ = "0.1.0"


def __getattr__(name):  # lazy: `import t2m` stays cheap and torch-free until the engine is used
    if name in ("decode", "DecodeResult"):
        from t2m import engine

        return getattr(engine, name)
    if name == "load_model":
        from t2m.models import load_model

        return load_model
    if name in ("extract_answer", "is_correct"):
        from t2m import scoring

        return getattr(scoring, name)
    raise AttributeError(f"module 't2m' has no attribute {name!r}")
