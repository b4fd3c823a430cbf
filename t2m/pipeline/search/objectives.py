"""What a search scores a configuration on: the objectives, and the accuracy constraint.

Each objective is a number of a configuration's summary (t2m.analysis.metrics.summarize) and a
direction. `objectives: [accuracy, forwards]` (the default) asks for the configurations that no other
beats on both accuracy and mean forward passes per sample; any of the names below can be combined.
The constraint `max_accuracy_drop: δ` makes a configuration feasible only when its accuracy is at
most δ below the baseline's on the same problems (Optuna's constraint support: the sampler steers
away from infeasible regions and the study's front holds feasible trials only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from t2m.pipeline.checks.validate import ConfigError


@dataclass(frozen=True)
class Objective:
    name: str  # as written in `objectives: [...]`
    column: str  # the summary / table column it reads
    direction: str  # "maximize" or "minimize"
    label: str  # how plots and printed lines name it

    def loss(self, value: float) -> float:
        """The value as something to minimise (fronts and ranks are computed on losses)."""
        return -float(value) if self.direction == "maximize" else float(value)


OBJECTIVES = {
    o.name: o
    for o in (
        Objective("accuracy", "accuracy", "maximize", "accuracy"),
        Objective("strict_accuracy", "strict_accuracy", "maximize", "strict accuracy"),
        Objective("forwards", "mean_forwards", "minimize", "forward passes per sample"),
        Objective("modifications", "mean_modifications", "minimize", "modifications per sample"),
        Objective("remasks", "mean_remasks", "minimize", "remasks per sample"),
        Objective("output_tokens", "mean_output_tokens", "minimize", "output tokens per sample"),
    )
}
ACCURACY = OBJECTIVES["accuracy"]


def parse(names) -> list[Objective]:
    """The objectives named in the sweeper's `objectives`; a bad list is a ConfigError (one line)."""
    if isinstance(names, str):
        names = [names]
    names = list(names or [])
    allowed = ", ".join(OBJECTIVES)
    if not names:
        raise ConfigError(f"hydra.sweeper.objectives is empty; allowed: one or more of {allowed}")
    for name in names:
        if name not in OBJECTIVES:
            raise ConfigError(f"hydra.sweeper.objectives: {name!r} is unknown; allowed: {allowed}")
    if len(set(names)) != len(names):
        raise ConfigError(f"hydra.sweeper.objectives={names} names an objective twice; allowed: each of {allowed} at most once")
    return [OBJECTIVES[n] for n in names]


def check_drop(delta) -> float | None:
    """`max_accuracy_drop`: None, or a share of problems in [0, 1] (0.02 = two points)."""
    if delta is None:
        return None
    if isinstance(delta, bool) or not isinstance(delta, (int, float)) or not 0 <= delta <= 1:
        raise ConfigError(f"hydra.sweeper.max_accuracy_drop={delta!r} is invalid; allowed: null, or a share of problems "
                          f"in [0, 1] (0.02 = at most two points below the baseline)")  # fmt: skip
    return float(delta)


def values(summary: dict, objectives: Sequence[Objective]) -> list[float]:
    """The objective values of one configuration's summary, in the study's order."""
    return [float(summary[o.column]) for o in objectives]


def violation(accuracy: float, baseline_accuracy: float, delta: float) -> float:
    """How far a configuration breaks "accuracy >= baseline - delta" (<= 0: it does not)."""
    return round(baseline_accuracy - delta - accuracy, 12)
