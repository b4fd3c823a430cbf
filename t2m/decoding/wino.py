"""WINO (Wide-In, Narrow-Out; Hong et al. 2025, "revokable decoding"): draft wide, then verify narrow.

    unmasking=wino   wide-in: commit every masked position with p0 > threshold (a low one, 0.6),
                     at most `draft_cap` of them (the most confident), or else the single most
                     confident one
    strategy=wino    narrow-out: on a step that drafted more than one token, re-mask the block's
                     earlier drafts whose probability has fallen below tau (a high one, 0.9), at
                     most one fewer than the step drafted (lowest first), so every step gains a token

`conf/strategy/wino.yaml` picks both with the method's thresholds. The cost is one forward per step,
counted like every policy's.

Where this differs from the public code, and why: WINO's code reads a draft's verification
probability from a shadow copy of the block in the same forward pass, where the draft's own position
is hidden from it (LLaDA 1.x predicts only masked positions). The models t2m decodes - LLaDA2.x and
the bundled model - are trained to judge committed tokens in place (LLaDA2.1's T2T stream), so the
verification reads `p_old`, the probability of the committed token under this step's logits, as the
T2M detectors do; the forward count is the same. The code also bounds the re-masks by the previous
step's drafts minus one; bounding them by this step's drafts minus one makes progress certain.
"""

from __future__ import annotations

import torch

from t2m.decoding.registry import register_strategy, register_unmasking
from t2m.decoding.rules import most_confident

DRAFT_SHARE, DRAFT_MIN, DRAFT_MAX = 0.7, 5, 20  # a step drafts at most clamp(floor(0.7 * masks), 5, 20)


def draft_cap(masked):
    """At most this many drafts per step ([rows, 1]): a share of the block's masks, within [5, 20]."""
    return (masked.sum(1, keepdim=True) * DRAFT_SHARE).floor().long().clamp(DRAFT_MIN, DRAFT_MAX)


@register_unmasking("wino", default_threshold=0.6)  # conf/strategy/wino.yaml reads it
def wide_in(v):
    """WINO's wide-in drafting: commit masked positions with p > threshold (0.6), the most confident first, up to clamp(0.7 * masks, 5, 20); at least one."""
    confident = v.masked & (v.p0 > v.threshold)
    k = torch.where(confident.any(1, keepdim=True), draft_cap(v.masked), torch.ones_like(v.step))
    return most_confident(v.p0, torch.where(confident.any(1, keepdim=True), confident, v.masked), k)


@register_strategy("wino", remasks=True, default_tau=0.9)
def narrow_out(v):
    """WINO's narrow-out verification: after a step drafting several tokens, re-mask earlier drafts with p < tau (0.9), at most one fewer than it drafted."""
    drafted = v.committed.sum(1, keepdim=True)
    doubtful = v.editable & (v.p_old < v.tau) & (drafted > 1)
    flags = most_confident(-v.p_old, doubtful, drafted - 1)  # the least likely drafts first
    return flags, v.p_old
