"""t2m: Token-to-Mask remasking sweeps for masked diffusion language models.

The public API is the decoding library (`load_model`, `DecodeConfig`, `decode`) and scoring
(`extract_answer`, `is_correct`). Neither imports Hydra, W&B or SLURM code; those live in
`t2m.pipeline`, the thin layer around them. The package, top to bottom (data flows downwards):

    pipeline/   Hydra task and CLI, validation, result store, W&B, report, sweepers
    analysis/   numbers computed from stored samples (metrics, statistics)
    scoring.py  answer extraction and correctness
    decoding/   the decoder library: config, policies, engine, model loading
    data/       benchmarks as problems, prompt building
    tiny/       the bundled tiny dLLM: tokenizer, training, checkpoint
    bench/      benchmarks of the decoder
"""

__all__ = ["DecodeConfig", "DecodeResult", "decode", "load_model", "extract_answer", "is_correct"]
__version__ = "0.1.0"


def __getattr__(name):  # lazy: `import t2m` stays cheap and torch-free until the engine is used
    if name in ("DecodeConfig", "decode", "DecodeResult", "load_model"):
        from t2m import decoding

        return getattr(decoding, name)
    if name in ("extract_answer", "is_correct"):
        from t2m import scoring

        return getattr(scoring, name)
    raise AttributeError(f"module 't2m' has no attribute {name!r}")
