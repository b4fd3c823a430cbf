"""Edit-phase strategies: the registry every DecodeConfig.strategy names.

A strategy sees one decoding step of a whole batch as [rows, block] tensors (`StepView`) and returns
`(flags, scores)`: which editable positions it proposes to change and, for Token-to-Mask strategies,
a score where lower means "remask first" (the ratio cap keeps the lowest). The engine applies the
common rules (editable set, C_max, ρ_max, counting) so a strategy is only its detector.

Adding a detector is one function and one `register` call, e.g. a ReMDM-style random remasker:

    @register("random", remasks=True)
    def random_remask(v):
        u = uniform_like(v.p_old)  # any [rows, block] score; flag with u < tau
        return u < v.tau, u
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch


@dataclass(frozen=True)
class StepView:
    """One step of one block, every tensor [rows, block] (per-row knobs are [rows, 1])."""

    old: torch.Tensor  # tokens at the start of the step
    x0: torch.Tensor  # the model's proposal (argmax, or a sample)
    p0: torch.Tensor  # probability of x0
    p_old: torch.Tensor  # probability of the token already there, under the current logits
    p_prev_old: torch.Tensor  # probability of that token under the previous step's logits (NaN: unknown)
    editable: torch.Tensor  # committed before this step and not prompt
    tau: torch.Tensor


Detector = Callable[[StepView], "tuple[torch.Tensor, torch.Tensor]"]


@dataclass(frozen=True)
class Strategy:
    name: str
    remasks: bool  # True: flagged tokens go back to the mask (T2M); False: overwritten with x0 (T2T)
    detect: Detector | None  # None: no edit phase
    needs_previous_step: bool = False  # abstains on a block's first editable step (LogitDiff)


STRATEGIES: dict[str, Strategy] = {}


def register(name: str, *, remasks: bool, needs_previous_step: bool = False):
    def wrap(fn: Detector | None):
        STRATEGIES[name] = Strategy(name, remasks, fn, needs_previous_step)
        return fn

    return wrap


register("none", remasks=False)(None)


@register("t2t", remasks=False)
def t2t(v: StepView):
    # LLaDA2.1 editing: overwrite where the model is confident in a different token.
    return (v.p0 > v.tau) & (v.x0 != v.old), -v.p0


@register("lowprob", remasks=True)
def lowprob(v: StepView):
    # The committed token has become unlikely under the current context.
    return v.p_old < v.tau, v.p_old


@register("t2t_remask", remasks=True)
def t2t_remask(v: StepView):
    # T2T's trigger, but reset to the mask instead of trusting the replacement.
    return (v.p0 > v.tau) & (v.x0 != v.old), 1.0 - v.p0


@register("logitdiff", remasks=True, needs_previous_step=True)
def logitdiff(v: StepView):
    # The committed token lost probability since the previous step (NaN memory compares False).
    drop = v.p_prev_old - v.p_old
    return drop > v.tau, -drop
