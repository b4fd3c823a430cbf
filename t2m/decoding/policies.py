"""The built-in policies: the paper's edit strategies and the two published unmasking rules.

Each is a few lines over a `StepView` (see `t2m.decoding.registry`); the engine applies what all
strategies share (the editable set, C_max and rho_max for remasking, counting), so a strategy is
only its detector. Scores: lower means "act first" (the rho_max cap keeps the lowest).
"""

from __future__ import annotations

import torch

from t2m.decoding.registry import register_strategy, register_unmasking
from t2m.decoding.rules import most_confident

# ---- edit strategies ------------------------------------------------------------------------------

register_strategy("none", remasks=False, default_tau=0.0)(None)  # plain confidence decoding: M2T only


@register_strategy("t2t", remasks=False, default_tau=0.5, baseline=True)
def t2t(v):
    """LLaDA2.1's Token-to-Token editing: overwrite where the model is confident (p > tau) in another token."""
    return (v.p0 > v.tau) & (v.x0 != v.old), -v.p0


@register_strategy("lowprob", remasks=True, default_tau=0.3)
def lowprob(v):
    """LowProb: remask a committed token whose probability under the current context fell below tau."""
    return v.p_old < v.tau, v.p_old


@register_strategy("t2t_remask", remasks=True, default_tau=0.7)
def t2t_remask(v):
    """T2T-Remask: where T2T would overwrite (p > tau, another token), reset to the mask instead."""
    return (v.p0 > v.tau) & (v.x0 != v.old), 1.0 - v.p0


@register_strategy("logitdiff", remasks=True, default_tau=0.2, needs_previous_step=True)
def logitdiff(v):
    """LogitDiff: remask a committed token whose probability dropped by more than tau since the previous step."""
    drop = v.p_prev_old - v.p_old  # NaN where the previous step is unknown: compares False
    return drop > v.tau, -drop


@register_strategy("random_remask", remasks=True, default_tau=0.05)
def random_remask(v):
    """The control every detector should beat: remask each committed token with probability tau,
    whatever the model thinks (seeded per row, step and position, so the same in any batch). At the
    tau whose remask count matches a detector's (t2m.pipeline.control), a detector's gain over it is
    detection's, not refilling's."""
    u = v.uniform()
    return u < v.tau, u  # a random order for the rho_max cap too


# ---- unmasking (M2T) ------------------------------------------------------------------------------


@register_unmasking("threshold")
def threshold(v):
    """LLaDA2.1 (Q mode 0.7): commit every masked position with p > threshold, or else the single most confident one."""
    confident = v.masked & (v.p0 > v.threshold)
    stuck = ~confident.any(1, keepdim=True)  # every step makes progress
    return confident | (most_confident(v.p0, v.masked, torch.ones_like(v.step)) & stuck)


@register_unmasking("low_confidence")
def low_confidence(v):
    """LLaDA 1.x: `steps` steps per block, each committing its share of the block's masks, most confident first."""
    steps = v.knob("steps", default=v.old.shape[1]).long().clamp(min=1)
    start = v.masked_at_start
    share = start // steps + (v.step < start % steps).long()  # the remainder goes to the first steps
    return most_confident(v.p0, v.masked, share.clamp(min=1))  # after a remask, one at a time
