"""The bundled tiny masked diffusion LM: its tokenizer (`tokenizer.py`), its training
(`python -m t2m.tiny.train`) and its checkpoint (`tiny-dllm/`, described in README.md).

Importing this package is free: it only names where the checkpoint lives.
"""

from pathlib import Path

CHECKPOINT = Path(__file__).resolve().parent / "tiny-dllm"
