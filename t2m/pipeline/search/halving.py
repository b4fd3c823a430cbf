"""Cheap rejection: successive halving on growing subsets of problems, by Pareto rank.

A trial is first evaluated on the first `stages[0]` share of the problems (say 20 of 100), then, if
promoted, on more (50), and only then on all of them. Samples are keyed by problem id in the store,
so every stage decodes only the problems the previous one did not. After each stage but the last the
trial is compared with the configurations evaluated on the same problems before it: the trials
numbered below it that reached this stage, and the baseline. Their objective values are sorted into
Pareto layers (feasible ones first when the study has an accuracy constraint), and the trial goes on
only if fewer than ceil(n / reduction_factor) of those n configurations sit in layers ahead of it;
otherwise it is pruned. A trial on the current front of its stage is never pruned, nor one whose
stage holds no more than reduction_factor configurations so far (a 1/reduction_factor share of so few
is not evidence). This is asynchronous successive halving (ASHA) with non-dominated sorting in place of a single score, as multi-objective ASHA does (Schmucker et al., 2021); Optuna's own
pruners read one intermediate value and refuse multi-objective studies.

Why only the trials numbered below it: a verdict is then a function of the trials' points alone, the
same whichever worker takes it and whenever. One worker has that evidence when it judges: a trial
asked earlier reaches each stage in the same round as a later one or an earlier round, and a round
records all its points before its verdicts. A worker sharing the study with others may get there
first; the verdict then waits (`missing`) until each lower-numbered trial still running has recorded
its point at that stage or finished without reaching it. Trials a dead worker left are taken over
meanwhile; after `max_wait` seconds the verdict is taken on what is there (logged). Trials numbered
above it never count, even when their points are there.

What a stage found is kept on the trial (user attribute `stages`: {"20": {"values": [...],
"violation": v}}) and the baseline's on the study (`reference_stages`), so every worker of a study
decides on the same evidence.
"""

from __future__ import annotations

import math

import numpy as np
from optuna.pruners import BasePruner
from optuna.study import StudyDirection
from optuna.trial import TrialState

from t2m.analysis.front import pareto_ranks

STAGES, REFERENCE = "stages", "reference_stages"


def stage_limits(fractions, n_problems: int) -> list[int]:
    """The problem counts of the stages: each fraction of `n_problems` (rounded up), then all of them."""
    limits = sorted({max(1, math.ceil(f * n_problems)) for f in fractions} - {n_problems})
    return [n for n in limits if n < n_problems] + [n_problems]


def check_stages(fractions) -> list[float]:
    from t2m.pipeline.checks.validate import ConfigError

    values = list(fractions or [])
    for f in values:
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 < f < 1:
            raise ConfigError(f"hydra.sweeper.stages={values} holds {f!r}; allowed: shares of the problems in (0, 1), increasing "
                              f"(all problems come last by themselves), or [] for no pruning")  # fmt: skip
    if values != sorted(set(values)):
        raise ConfigError(f"hydra.sweeper.stages={values} is not increasing; allowed: increasing shares in (0, 1), e.g. [0.2, 0.5]")
    return [float(f) for f in values]


class ParetoHalvingPruner(BasePruner):
    """Prune a trial whose last stage puts it behind the best 1/reduction_factor of the trials numbered
    below it (and the baseline) at that stage."""

    def __init__(self, reduction_factor: float = 3):
        self.reduction_factor = reduction_factor

    def prune(self, study, trial) -> bool:
        stage = trial.user_attrs.get("stage")
        key = str(stage)
        mine = trial.user_attrs.get(STAGES, {}).get(key)
        if mine is None:
            return False
        points = [mine]
        for other in study.get_trials(deepcopy=False):
            if other.number >= trial.number or other.user_attrs.get("duplicate_of") is not None:
                continue  # only trials asked before it: the same evidence whichever worker judges it, and whenever
            found = other.user_attrs.get(STAGES, {}).get(key)
            if found is not None:
                points.append(found)
        points += study.user_attrs.get(REFERENCE, {}).get(key, [])
        signs = np.array([-1.0 if d == StudyDirection.MAXIMIZE else 1.0 for d in study.directions])
        losses = np.array([p["values"] for p in points], float) * signs
        if len(points) <= self.reduction_factor:
            return False  # too few configurations on these problems to keep a 1/reduction_factor share of (ASHA's first rungs)
        ranks = pareto_ranks(losses, [p.get("violation", 0.0) for p in points])
        keep = math.ceil(len(points) / self.reduction_factor)
        ahead = int(np.sum(ranks < ranks[0]))
        return ahead >= keep


def missing(study, number: int, stage: int) -> list[int]:
    """The trials a verdict on trial `number` after the stage of `stage` problems waits for: those
    numbered below it that are still running and have no point at that stage yet (a trial pruned at an
    earlier stage, failed or a repeat has finished, and never will have one; a trial asked but never
    configured, by a worker that died at that moment, is never run, so it is not waited for either)."""
    key = str(stage)
    return [t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if t.number < number and "config" in t.user_attrs and "duplicate_of" not in t.user_attrs
            and key not in t.user_attrs.get(STAGES, {})]  # fmt: skip
