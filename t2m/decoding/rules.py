"""The step rules every policy shares, as pure tensor functions over [rows, block] (per-row knobs
[rows] or [rows, 1]). No model, no state: the engine feeds them and keeps what they return."""

from __future__ import annotations

import math

import torch


def most_confident(score, among, k):
    """The `k` (per row, [rows, 1]) highest-scoring positions of `among`; ties go to the lower position."""
    order = score.masked_fill(~among, -math.inf).argsort(dim=1, descending=True, stable=True)
    return among & (_rank(order) < k)


def block_goes_on(active, no_mask, post_steps, holds_eos, eos_stop, max_post_steps, steps_taken, step_cap, verify_steps=0):
    """Which rows take another step of their block. A step that begins with no mask is a post step;
    then, with `eos_early_stop`, a generated part that already holds EOS ends the block, and so does
    going past `max_post_steps`. (A no-mask step that changed nothing ends it too; see `decode_step`.)
    The first `verify_steps` post steps are verification: neither rule ends the block before them."""
    post_limit = no_mask & (post_steps > verify_steps) & ((eos_stop & holds_eos) | (post_steps > max_post_steps))
    return active & ~post_limit & (steps_taken < step_cap)


def still_verifying(no_mask, post_steps, verify_steps):
    """Rows whose step began with no mask and that owe more verification steps: a step of theirs that
    changed nothing does not end the block."""
    return no_mask & (post_steps < verify_steps)


def cap_remasks(candidate, score, editable, count, c_max, rho_max):
    """T2M caps: drop positions already remasked `c_max` times in this block, then keep the
    `max(1, floor(|editable| * rho_max))` lowest scores (all of them when rho_max >= 1)."""
    candidate = candidate & (count < c_max[:, None])
    width = candidate.shape[1]
    limit = torch.where(rho_max >= 1, width, (editable.sum(1).double() * rho_max).floor().clamp(min=1).long())
    order = score.masked_fill(~candidate, math.inf).argsort(dim=1, stable=True)
    return candidate & (_rank(order) < limit[:, None])


def logitdiff_memory(new, old, x0, p0, p_old):
    """Each position's token probability under this step's logits, for LogitDiff's next step: the
    kept token's, or the committed proposal's; NaN where the position went back to the mask."""
    return torch.where(new == old, p_old, torch.where(new == x0, p0, math.nan))


def finished(tokens, generated, mask_id: int, eos_id: int, eos_early_stop):
    """Rows whose generated part so far (the canvas after the prompt, its tail beyond gen_length
    included, as in the reference) has no mask left and holds EOS, where early stopping is on."""
    complete = ~((tokens == mask_id) & generated).any(1)
    return eos_early_stop & complete & ((tokens == eos_id) & generated).any(1)


def _rank(order):
    """Position of each column in `order` (the inverse permutation), per row."""
    ranks = torch.arange(order.shape[1], device=order.device).expand_as(order)
    return torch.empty_like(order).scatter_(1, order, ranks)
