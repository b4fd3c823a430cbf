"""What the model proposes at a step: x0, its probability, and the probabilities detectors read.

As in the reference implementation, probabilities are the softmax of the logits over the whole
vocabulary (the mask token is not suppressed: a model may propose it, and committing it is no
progress), `x0` is the argmax, and `p_old` (the committed token's probability, read by LowProb and
LogitDiff) comes from the untempered distribution even when sampling. At temperature > 0, `x0` is a
sample from the tempered distribution filtered by top-k then top-p, and `p0` its probability there.
Samples use Gumbel-max noise hashed from (seed, the row's forward count, position, token), so a
row draws the same numbers whatever batch it is in (the reference draws from torch's global RNG).

Memory. Everything here is per position: a softmax, an argmax, a few gathers over one position's
vocabulary. So the logits are read in chunks of positions (`CHUNK_BYTES` of working set each) and
only [rows, block] results are kept: the float32 copies, the probabilities, the sort top-p needs and
the int64 hashed noise exist for one chunk at a time, and a step costs the model's logits plus a
fixed working set, at temperature 0 or not. Every operation is row-wise, so the tokens and
probabilities do not depend on the chunking (tests/test_proposals.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

# The working set of one chunk, and what each logit of a chunk keeps alive at the peak (measured
# with tests/test_proposals.py's tensor-byte counter): greedy a float32 copy and its softmax;
# sampling also the tempered copy, the int64 hash and the float64 noise. At LLaDA2.1's 157,184-token
# vocabulary that is 106 positions a chunk greedy, 26 sampling: the same bytes either way.
CHUNK_BYTES = 128 << 20
BYTES_PER_LOGIT = {"greedy": 8, "sampling": 32}


@dataclass
class Proposal:
    x0: torch.Tensor  # [rows, block] proposed tokens
    p0: torch.Tensor  # their probabilities
    p_old: torch.Tensor  # probabilities of the tokens already there
    entropy: torch.Tensor | None = None
    margin: torch.Tensor | None = None


class Proposer:
    def __init__(self, configs, device, needs: frozenset, chunk_bytes: int | None = None):
        self.needs = needs
        self.sampling = any(c.temperature > 0 for c in configs)
        self.chunk_logits = (chunk_bytes or CHUNK_BYTES) // BYTES_PER_LOGIT["sampling" if self.sampling else "greedy"]
        if self.sampling:
            hot = [c for c in configs if c.temperature > 0]
            self.temperature = torch.tensor([c.temperature for c in configs], device=device)
            self.top_k = torch.tensor([c.top_k or 0 for c in configs], device=device)
            self.top_p = torch.tensor([c.top_p or 1.0 for c in configs], device=device)
            self.seed = torch.tensor([c.seed for c in configs], device=device)
            self.max_top_k = max((c.top_k or 0 for c in hot), default=0)  # 0: no row filters by top-k
            self.uses_top_p = any((c.top_p or 1.0) < 1.0 for c in hot)

    def __call__(self, logits, old, rows, noise_step, positions) -> Proposal:
        """Proposals for `logits` [rows, block, vocab] (any dtype, any strides), chunk by chunk."""
        n_rows, width = old.shape
        out = Proposal(
            x0=torch.empty_like(old), p0=old.new_empty(old.shape, dtype=torch.float32),
            p_old=old.new_empty(old.shape, dtype=torch.float32),
            entropy=old.new_empty(old.shape, dtype=torch.float32) if "entropy" in self.needs else None,
            margin=old.new_empty(old.shape, dtype=torch.float32) if "margin" in self.needs else None,
        )  # fmt: skip
        for r, p in _chunks(n_rows, width, max(1, self.chunk_logits // logits.shape[-1])):
            values = logits[r, p].float()
            chunk = Proposal(*self._greedy(values, old[r, p]))
            if self.sampling:
                self._sample(chunk, values, rows[r], noise_step[r], positions[r, p])
            for name in ("x0", "p0", "p_old", "entropy", "margin"):
                if getattr(out, name) is not None:
                    getattr(out, name)[r, p] = getattr(chunk, name)
        return out

    def _greedy(self, logits, old):
        probs = logits.softmax(-1)
        x0 = logits.argmax(-1)
        entropy = torch.special.entr(probs).sum(-1) if "entropy" in self.needs else None
        margin = None
        if "margin" in self.needs:
            top2 = probs.topk(2, dim=-1).values
            margin = top2[..., 0] - top2[..., 1]
        return x0, _at(probs, x0), _at(probs, old), entropy, margin

    def _sample(self, out: Proposal, logits, rows, noise_step, positions) -> None:
        temperature = self.temperature[rows]
        hot = temperature > 0
        scaled = logits / torch.where(hot, temperature, 1.0)[:, None, None]
        if self.max_top_k:
            scaled = top_k_filter(scaled, self.top_k[rows], self.max_top_k)
        if self.uses_top_p:
            scaled = top_p_filter(scaled, self.top_p[rows])
        sample = gumbel_argmax(scaled, hashed_uniform(self.seed[rows], noise_step, positions, logits.shape[-1]))
        out.x0 = torch.where(hot[:, None], sample, out.x0)
        out.p0 = torch.where(hot[:, None], _at(scaled.softmax(-1), sample), out.p0)


def _chunks(n_rows: int, width: int, positions: int):
    """(row slice, position slice) pairs covering [n_rows, width], about `positions` positions each:
    whole rows when a row fits, else pieces of one row."""
    if positions >= width:
        step = positions // width
        for r in range(0, n_rows, step):
            yield slice(r, r + step), slice(0, width)
        return
    for r in range(n_rows):
        for p in range(0, width, positions):
            yield slice(r, r + 1), slice(p, p + positions)


def top_k_filter(logits, top_k, max_top_k: int | None = None):
    """Keep each row's `top_k` largest logits (0: all); ties with the k-th are kept. `max_top_k`,
    the largest k of any row, lets a partial top-k stand in for a sort of the whole vocabulary."""
    vocab = logits.shape[-1]
    k = torch.where(top_k > 0, top_k, vocab).clamp(max=vocab)
    largest = min(vocab, max_top_k or vocab)
    ordered = logits.topk(largest, dim=-1).values  # sorted, descending
    kth = ordered.gather(-1, (k.clamp(max=largest) - 1)[:, None, None].expand(*logits.shape[:2], 1))
    kth = torch.where((k < vocab)[:, None, None], kth, -math.inf)  # k = vocab (or 0) keeps everything
    return logits.masked_fill(logits < kth, -math.inf)


def top_p_filter(logits, top_p):
    """Keep the most likely tokens until the mass before the next one exceeds `top_p` (the first
    always); rows with top_p = 1 keep everything (float rounding of the cumulative sum aside)."""
    ordered = logits.sort(-1, descending=True).values
    probs = ordered.softmax(-1)
    mass_before = probs.cumsum(-1).sub_(probs)
    cutoff = ordered.masked_fill_(mass_before > top_p[:, None, None], math.inf).min(-1, keepdim=True).values
    cutoff = torch.where((top_p < 1)[:, None, None], cutoff, -math.inf)
    return logits.masked_fill(logits < cutoff, -math.inf)


def gumbel_argmax(scaled, uniform):
    """argmax(scaled + Gumbel noise) for uniform noise in (0, 1); in float64 as the noise is."""
    return uniform.log_().neg_().log_().neg_().add_(scaled).argmax(-1)


_MIX = (-7046029254386353131, -4658895280553007687, -7723592293110705685)  # splitmix64 constants as int64


def hashed_uniform(seed, step, position, n: int):
    """Uniform (0, 1) numbers [rows, block, n] from a counter-based hash of (seed, step, position, index)."""
    h = seed[:, None, None] * _MIX[0] + step[:, None, None] * _MIX[1] + position[..., None] * _MIX[2]
    h = h + torch.arange(n, device=seed.device) * 0x9E3779B9
    for shift, mult in ((30, _MIX[1]), (27, _MIX[2]), (31, None)):
        h.bitwise_xor_((h >> shift).bitwise_and_((1 << (64 - shift)) - 1))  # in place: one temporary, not three
        if mult is not None:
            h.mul_(mult)
    return h.bitwise_right_shift_(11).bitwise_and_((1 << 53) - 1).double().add_(0.5).div_(float(1 << 53))


def _at(probs, tokens):
    return probs.gather(-1, tokens[..., None]).squeeze(-1)
