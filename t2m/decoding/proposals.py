"""What the model proposes at a step: x0, its probability, and the probabilities detectors read.

As in the reference implementation, probabilities are the softmax of the logits over the whole
vocabulary (the mask token is not suppressed: a model may propose it, and committing it is no
progress), `x0` is the argmax, and `p_old` (the committed token's probability, read by LowProb and
LogitDiff) comes from the untempered distribution even when sampling. At temperature > 0, `x0` is a
sample from the tempered distribution filtered by top-k then top-p, and `p0` its probability there.
Samples use Gumbel-max noise hashed from (seed, the row's forward count, position, token), so a
row draws the same numbers whatever batch it is in (the reference draws from torch's global RNG).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class Proposal:
    x0: torch.Tensor  # [rows, block] proposed tokens
    p0: torch.Tensor  # their probabilities
    p_old: torch.Tensor  # probabilities of the tokens already there
    entropy: torch.Tensor | None = None
    margin: torch.Tensor | None = None


class Proposer:
    def __init__(self, configs, device, needs: frozenset):
        self.needs = needs
        self.sampling = any(c.temperature > 0 for c in configs)
        if self.sampling:
            self.temperature = torch.tensor([c.temperature for c in configs], device=device)
            self.top_k = torch.tensor([c.top_k or 0 for c in configs], device=device)
            self.top_p = torch.tensor([c.top_p or 1.0 for c in configs], device=device)
            self.seed = torch.tensor([c.seed for c in configs], device=device)

    def __call__(self, logits, old, rows, noise_step, positions) -> Proposal:
        logits = logits.float()
        probs = logits.softmax(-1)
        x0 = logits.argmax(-1)
        out = Proposal(x0, _at(probs, x0), _at(probs, old))
        if "entropy" in self.needs:
            out.entropy = torch.special.entr(probs).sum(-1)
        if "margin" in self.needs:
            top2 = probs.topk(2, dim=-1).values
            out.margin = top2[..., 0] - top2[..., 1]
        if self.sampling:
            self._sample(out, logits, rows, noise_step, positions)
        return out

    def _sample(self, out: Proposal, logits, rows, noise_step, positions) -> None:
        temperature = self.temperature[rows]
        hot = temperature > 0
        scaled = logits / torch.where(hot, temperature, 1.0)[:, None, None]
        scaled = top_p_filter(top_k_filter(scaled, self.top_k[rows]), self.top_p[rows])
        gumbel = -(-hashed_uniform(self.seed[rows], noise_step, positions, logits.shape[-1]).log()).log()
        sample = (scaled + gumbel).argmax(-1)
        p_sample = _at(scaled.softmax(-1), sample)
        out.x0 = torch.where(hot[:, None], sample, out.x0)
        out.p0 = torch.where(hot[:, None], p_sample, out.p0)


def top_k_filter(logits, top_k):
    """Keep each row's `top_k` largest logits (0: all); ties with the k-th are kept."""
    vocab = logits.shape[-1]
    k = torch.where(top_k > 0, top_k, vocab).clamp(max=vocab)
    kth = logits.sort(-1, descending=True).values.gather(-1, (k - 1)[:, None, None].expand(*logits.shape[:2], 1))
    return logits.masked_fill(logits < kth, -math.inf)


def top_p_filter(logits, top_p):
    """Keep the most likely tokens until the mass before the next one exceeds `top_p` (the first always)."""
    ordered = logits.sort(-1, descending=True).values
    probs = ordered.softmax(-1)
    mass_before = probs.cumsum(-1) - probs
    cutoff = ordered.masked_fill(mass_before > top_p[:, None, None], math.inf).min(-1, keepdim=True).values
    return logits.masked_fill(logits < cutoff, -math.inf)


_MIX = (-7046029254386353131, -4658895280553007687, -7723592293110705685)  # splitmix64 constants as int64


def hashed_uniform(seed, step, position, n: int):
    """Uniform (0, 1) numbers [rows, block, n] from a counter-based hash of (seed, step, position, index)."""
    h = seed[:, None, None] * _MIX[0] + step[:, None, None] * _MIX[1] + position[..., None] * _MIX[2]
    h = h + torch.arange(n, device=seed.device) * 0x9E3779B9
    for shift, mult in ((30, _MIX[1]), (27, _MIX[2]), (31, None)):
        h = h ^ ((h >> shift) & ((1 << (64 - shift)) - 1))
        if mult is not None:
            h = h * mult
    return (((h >> 11) & ((1 << 53) - 1)).double() + 0.5) / float(1 << 53)


def _at(probs, tokens):
    return probs.gather(-1, tokens[..., None]).squeeze(-1)
