"""The bundled tiny masked diffusion LMs: their tokenizer (`tokenizer.py`), their training
(`python -m t2m.tiny.train`) and their checkpoints, described in README.md: `tiny-dllm/` (the
default model, `arith` problems) and `tiny-carry/` (carry chains, `model=tiny_carry`).

Importing this package is free: it only names where the checkpoints live.
"""

from pathlib import Path

CHECKPOINT = Path(__file__).resolve().parent / "tiny-dllm"
BUNDLED = {"tiny-dllm": CHECKPOINT, "tiny-carry": CHECKPOINT.with_name("tiny-carry")}
