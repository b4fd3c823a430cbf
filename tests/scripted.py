"""A scripted 'model' for decoder tests: a Python function decides each position's distribution.

It plugs in where a real model's adapter would, so the decoder's rules (M2T, T2T, T2M detectors,
caps, termination) can be driven through exact scenarios from the paper. Real-model behaviour
(batching, caching) is tested on real `transformers` models in test_engine.py.
"""

from __future__ import annotations

import types

import torch

from t2m.decoding.models import DiffusionLM

VOCAB, EOS, MASK = 10, 8, 9


def dist(top: dict[int, float]) -> list[float]:
    """A distribution over VOCAB tokens: the given probabilities, the rest spread evenly (never on
    MASK: these scripts model a trained dLLM, which never proposes the mask token)."""
    rest = [t for t in range(VOCAB - 1) if t not in top]
    left = max(0.0, 1.0 - sum(top.values()))
    p = [0.0] * VOCAB
    for t in rest:
        p[t] = left / len(rest)
    for t, v in top.items():
        p[t] = v
    return p


class ScriptedAdapter:
    """Calls `script(tokens, step)` with the current block's tokens (a list, MASK for masked) and
    the row's forward count, and expects one distribution (list of VOCAB floats) per position."""

    def __init__(self, script):
        self.script = script
        self.calls = 0

    full_canvas = False

    def forward(self, model, input_ids, position_ids, bias, cache, n_logits):
        self.calls += 1
        block = input_ids[:, -n_logits:]
        probs = torch.tensor([self.script(row.tolist(), self.calls) for row in block], dtype=torch.float32)
        return probs.clamp_min(1e-30).log()


def scripted_model(script) -> DiffusionLM:
    module = types.SimpleNamespace(config=types.SimpleNamespace(vocab_size=VOCAB))
    return DiffusionLM(model=module, tokenizer=None, mask_id=MASK, eos_id=EOS, name="scripted", adapter=ScriptedAdapter(script))
