"""A Hydra sweeper that searches with Optuna instead of enumerating a grid: `hydra/sweeper=optuna`.

    python -m t2m.sweep -m search=cheaper                                 # conf/search/cheaper.yaml
    python -m t2m.sweep -m sweep=paper_ablation hydra/sweeper=optuna      # a named sweep's grids as the space

It asks Optuna (5.x, the study in a journal file or a database) for a batch of configurations, runs
them through whatever launcher Hydra is configured with (`self.launcher.launch(batch, ...)`: the
local one, submitit, SLURM), reads each job's summary.json and tells Optuna the result. So every
trial is an ordinary t2m job: its own job directory, its samples in the store (a configuration decoded
before, by a grid or an earlier trial, is not decoded again), its summary, its W&B run.

Rounds: each round fills up to `n_jobs` slots, first with trials promoted to their next stage, then
with new trials; a trial runs on the first `stages[0]` share of the problems, then more, then all, and
is pruned after a stage when it falls behind the best 1/reduction_factor of the trials numbered below
it at that stage (t2m.pipeline.search.halving); a verdict whose evidence other workers have not
recorded yet waits for it, while this worker runs whatever else it has. A proposal that composes like
a configuration already evaluated is told that configuration's result without running anything and
does not count against `n_trials`.

Resumable: finished trials are in the study; running the same command again asks only for the rest of
the budget, and a trial a killed worker left running is taken over at the stage it had reached (its
samples are in the store). Several workers may run at once on one study (t2m.pipeline.search.storage).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf, open_dict

from t2m.pipeline.checks.validate import ConfigError, check

log = logging.getLogger(__name__)

ROLE_BASELINE = "baseline"
MAX_FAILURES_IN_A_ROW = 3
MAX_REPEATS_IN_A_ROW = 100  # proposals of configurations already evaluated before the space counts as exhausted
POLL_S = 2.0  # how often a worker with nothing to run but verdicts to take looks at the storage again


@dataclass
class Slot:
    """One trial at one stage, to run."""

    trial: Any  # optuna.trial.Trial
    values: dict  # its decoding values
    job: str  # its job directory's name (hydra.sweep.subdir)
    stage: int  # index into plan.limits


@dataclass
class Waiting:
    """A trial whose verdict after a stage waits for lower-numbered trials (of other workers) to reach that stage."""

    slot: Slot
    since: float  # time.monotonic() when it began waiting
    on: tuple = ()  # the trials it waited for when last logged


@dataclass
class Earlier:
    """A trial whose configuration a new proposal repeats."""

    number: int
    job: str | None
    constraints: dict
    state: str  # complete, pruned or running
    values: list | None = None  # a complete trial's objective values


class OptunaSearch:
    """The search, mixed into Hydra's Sweeper base class as `hydra_plugins.t2m_sweepers.OptunaSweeper`."""

    def __init__(self, study_name: str, storage: str | None = None, n_trials: int = 30, n_jobs: int = 4, objectives=("accuracy", "forwards"),
                 max_accuracy_drop: float | None = None, stages=(0.2, 0.5), reduction_factor: float = 3, resolution: float | None = 0.01,
                 sampler=None, space=None, grids=None, grid: str | None = None, max_batch_size=None, params=None,
                 max_wait: float | None = 3600):  # fmt: skip
        super().__init__()
        self.study_name, self.storage, self.n_trials, self.n_jobs = study_name, storage, n_trials, n_jobs
        self.objectives, self.max_accuracy_drop, self.stages, self.reduction_factor = objectives, max_accuracy_drop, stages, reduction_factor
        self.resolution, self.sampler, self.space, self.grids, self.grid = resolution, sampler, space, grids, grid
        self.max_wait = max_wait
        self.params = params  # Hydra's Optuna sweeper's name for `space` (t2m.pipeline.search.space reads either)
        self.hydra_context = self.config = self.launcher = None
        self.job_idx = 0

    def setup(self, *, hydra_context, task_function, config) -> None:
        from hydra.core.plugins import Plugins

        self.hydra_context, self.config = hydra_context, config
        self.launcher = Plugins.instance().instantiate_launcher(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> list:
        import optuna

        from t2m.pipeline.search import outputs, plan as plans, storage

        optuna.logging.set_verbosity(optuna.logging.WARNING)  # t2m prints its own line per trial
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # TPE's `group`, once per ask
        plan = plans.make(self, arguments)  # every check; nothing written yet
        db = storage.open_storage(plan.storage_url, plan.dir)
        with storage.Workers(plan.dir) as workers:
            study = self._study(plan, db, workers)
            self._write_multirun(plan)
            run = _Run(self, plan, study, workers)
            run.reference()
            run.loop()
            # One worker at a time writes the table, plots and shortlist, each from what the storage and job
            # directories hold once it has the lock: the last to take it comes after every worker's loop has
            # ended, so its outputs (written last) have every verdict. Unserialized, two workers ending together
            # wrote tables of each other's trials mid-stage, the later write not always the fuller one.
            with workers.finish_lock.hold("wait"):
                outputs.finish(self, plan, optuna.load_study(study_name=plan.study_name, storage=db))
        return []

    # ---- the study ---------------------------------------------------------------------------------

    def _study(self, plan, db, workers):
        import optuna

        signature = plan.signature()
        with workers.ask_lock.hold("wait"):
            study = optuna.create_study(storage=db, study_name=plan.study_name, directions=plan.directions, load_if_exists=True)
            saved = study.user_attrs.get("t2m")
            if saved is None:
                study.set_user_attr("t2m", signature)
            elif saved != signature:
                key = next(k for k in signature if saved.get(k) != signature.get(k))
                raise ConfigError(f"study {plan.study_name!r} in {plan.storage_name} was started with another {key} ({saved.get(key)} vs now "
                                  f"{signature.get(key)}); allowed: the same settings to continue it, or a new study with "
                                  f"experiment=NAME (or hydra.sweeper.study_name=NAME and hydra.sweep.dir=DIR)")  # fmt: skip
        done = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]
        log.info(f"Study {plan.study_name} ({plan.storage_name}): {'continuing, ' + str(len(done)) + ' trials finished' if done else 'new'}; "
                 f"space {plan.space.describe()}; objectives {', '.join(o.name for o in plan.objectives)}; stages {plan.limits} problems")  # fmt: skip
        return study

    def _write_multirun(self, plan) -> None:
        """multirun.yaml, as Hydra's own sweeper writes it, with the baseline this search compares with
        (so `python -m t2m.report <study dir>` compares the same way)."""
        from t2m.pipeline.store.entries import atomic_write_text

        cfg = OmegaConf.create(OmegaConf.to_container(self.config, resolve=False))
        with open_dict(cfg):
            cfg.baseline = plan.baseline_spec if plan.baseline_spec is not None else "none"
        plan.dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(plan.dir / "multirun.yaml", OmegaConf.to_yaml(cfg))

    # ---- launching -------------------------------------------------------------------------------

    def launch(self, jobs: list[list[str]]) -> list:
        returns = self.launcher.launch(jobs, initial_job_idx=self.job_idx)
        self.job_idx += len(jobs)
        return list(returns)

    def compose(self, overrides: list[str]):
        cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
        return cfg, check(cfg)


class _Run:
    """One worker's part of a study: the reference runs, then rounds of trials until the budget is spent."""

    def __init__(self, sweeper: OptunaSearch, plan, study, workers):
        self.sweeper, self.plan, self.study, self.workers = sweeper, plan, study, workers
        self.pending: list[Slot] = []
        self.waiting: list[Waiting] = []  # stages run and recorded, verdicts not yet taken (halving.missing)
        self.failures_in_a_row = 0
        self.repeats_in_a_row = 0
        self.exhausted = False
        self.baseline_accuracy: dict[int, float] = {}  # the baseline's accuracy per stage (for the constraint)

    # ---- the baseline ------------------------------------------------------------------------------

    def reference(self) -> None:
        """Decode the baseline on every problem (once; a finished one is read back), keep its value at
        each stage for the pruner and the constraint, and add it to the study as a trial when it is a
        point of the space."""
        from t2m.pipeline.search import halving

        plan = self.plan
        if plan.baseline_spec is None:
            return
        if plan.baseline_job is not None:
            name = job_name(None, plan.baseline_values, plan.extra_keys)
            job_dir = plan.dir / name
            if not _finished(job_dir, plan.limits[-1]):
                log.info(f"Search: the baseline, {name}, on {plan.limits[-1]} problems")
                self.sweeper.launch([[*plan.baseline_job, _subdir(name)]])
            if not _finished(job_dir, plan.limits[-1]):
                raise ConfigError(f"the baseline's job ({job_dir}) did not finish; see its log, fix the cause and run the command again")
        else:
            job_dir = Path(plan.baseline_spec)
        self.baseline_dir = job_dir
        stages = {str(n): [stage_point(job_dir, n, plan)] for n in plan.limits}
        self.baseline_accuracy = {n: stages[str(n)][0]["accuracy"] for n in plan.limits}
        with self.workers.ask_lock.hold("wait"):
            if self.study.user_attrs.get(halving.REFERENCE) != stages:
                self.study.set_user_attr(halving.REFERENCE, stages)
            if plan.baseline_values is not None and plan.space.contains(plan.baseline_values) and not self._baseline_trial():
                self._add_baseline_trial(job_dir, stages[str(plan.limits[-1])][0])

    def _baseline_trial(self):
        return next((t for t in self.study.get_trials(deepcopy=False) if t.user_attrs.get("role") == ROLE_BASELINE), None)

    def _add_baseline_trial(self, job_dir: Path, point: dict) -> None:
        import optuna

        params, dists = self.plan.space.params(self.plan.baseline_values)
        constraints = {"accuracy_drop": point["violation"]} if self.plan.max_accuracy_drop is not None else None
        trial = optuna.trial.create_trial(params=params, distributions=dists, values=point["values"], constraints=constraints,
                                          user_attrs={"role": ROLE_BASELINE, "job": job_dir.name, "identity": self.baseline_identity(),
                                                      "config": _jsonable(self.plan.baseline_values)})  # fmt: skip
        self.study.add_trial(trial)
        log.info(f"Search: the baseline is a point of the space; added to the study as trial #{self._baseline_trial().number}")

    def baseline_identity(self) -> str | None:
        if self.plan.baseline_job is None:
            return None
        return identity(self.sweeper.compose(self.plan.baseline_job)[1])

    # ---- rounds --------------------------------------------------------------------------------

    def loop(self) -> None:
        while True:
            self.adopt()
            self.settle()
            room = self.plan.n_jobs - len(self.pending)
            asking = not self.exhausted and self.failures_in_a_row < MAX_FAILURES_IN_A_ROW
            budget_left = self.ask(room) if room > 0 and asking else False
            if not self.pending:
                if asking and budget_left:
                    continue  # every proposal of this round was a repeat: ask again
                if self.waiting:
                    time.sleep(POLL_S)  # nothing to run: verdicts wait for other workers' trials (or their takeover)
                    continue
                break
            batch, self.pending = self.pending[: self.plan.n_jobs], self.pending[self.plan.n_jobs :]
            self.run(batch)
        if self.failures_in_a_row >= MAX_FAILURES_IN_A_ROW:
            log.error(f"Search: {self.failures_in_a_row} trials in a row failed (job directories under {self.plan.dir}); fix the cause "
                      f"and run the same command again: failed trials do not count against n_trials")  # fmt: skip

    def adopt(self) -> None:
        """Take over the trials a killed worker left running: decide again on the last stage they
        finished (its samples are in the store), or start them if they had not finished one."""
        import optuna
        from optuna.trial import TrialState

        from t2m.pipeline.search import halving

        mine = {s.trial.number for s in self.pending} | {w.slot.trial.number for w in self.waiting}
        orphans = []
        with self.workers.ask_lock.hold("wait"):
            for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                if t.number in mine or "config" not in t.user_attrs or self.workers.alive(t.user_attrs.get("worker")):
                    continue
                trial = optuna.trial.Trial(self.study, t._trial_id)
                trial.set_user_attr("worker", self.workers.me)
                orphans.append((t, trial))
        for t, trial in orphans:
            values = t.user_attrs["config"]
            name = t.user_attrs.get("job") or job_name(t.number, values, self.plan.extra_keys)
            trial.set_user_attr("job", name)
            reached = [i for i, n in enumerate(self.plan.limits) if str(n) in t.user_attrs.get(halving.STAGES, {})]
            log.info(f"Search: trial #{t.number} was left running by {t.user_attrs.get('worker')}, which stopped; taken over "
                     f"({'after stage ' + str(reached[-1] + 1) if reached else 'from the start'})")  # fmt: skip
            if reached:
                trial.set_user_attr("stage", self.plan.limits[reached[-1]])
                self.judge(Slot(trial, values, name, reached[-1]))
            else:
                self.pending.append(Slot(trial, values, name, 0))

    def ask(self, room: int) -> bool:
        """Ask for up to `room` new trials within the budget; returns whether budget is left after them."""
        from optuna.trial import TrialState

        with self.workers.ask_lock.hold("wait"):
            trials = self.study.get_trials(deepcopy=False)
            left = self.plan.n_trials - sum(counts_against_budget(t) for t in trials)
            asked = []
            for _ in range(max(0, min(room, left))):
                left -= 1
                self.study.sampler = self.sampler(len(self.study.get_trials(deepcopy=False)))
                trial = self.study.ask()
                values = self.plan.space.suggest(trial)
                trial.set_user_attr("worker", self.workers.me)
                trial.set_user_attr("config", _jsonable(values))
                asked.append((trial, values))
            # Configurations evaluated or being evaluated (by any worker, or earlier in this batch): a proposal
            # of one of them is a repeat and runs nothing. Told under the lock, so that whether a trial is a
            # repeat depends on the trials asked before it, not on which worker asked it.
            known = {t.user_attrs.get("identity"): Earlier(t.number, t.user_attrs.get("job"), t.constraints, t.state.name.lower(), t.values)
                     for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING))
                     if t.user_attrs.get("identity") and "duplicate_of" not in t.user_attrs}  # fmt: skip
            for trial, values in asked:
                name = job_name(trial.number, values, self.plan.extra_keys)
                cfg, dcfg = self.sweeper.compose(self.job_overrides(values, name, len(self.plan.limits) - 1))
                ident = identity(dcfg)
                trial.set_user_attr("identity", ident)
                earlier = known.get(ident)
                if earlier is not None:
                    self.repeat(trial, earlier)
                    continue
                self.repeats_in_a_row = 0
                trial.set_user_attr("job", name)
                self.pending.append(Slot(trial, values, name, 0))
                known[ident] = Earlier(trial.number, name, {}, "running")
        return left + sum(1 for t, _ in asked if "duplicate_of" in t.user_attrs) > 0  # repeats gave their place back

    def repeat(self, trial, earlier: Earlier) -> None:
        """A proposal of a configuration the study has evaluated or is evaluating: nothing runs, and it
        does not count against n_trials (user attr duplicate_of: the earlier trial)."""
        self.repeats_in_a_row += 1
        if self.repeats_in_a_row >= MAX_REPEATS_IN_A_ROW:
            self.exhausted = True
            log.warning(f"Search: the sampler proposed {self.repeats_in_a_row} configurations in a row that were already evaluated; "
                        f"the space looks exhausted, no more trials are asked for")  # fmt: skip
        tell_repeat(self.study, trial, earlier)
        log.info(f"Trial #{trial.number} {describe(self.plan.shown(trial.user_attrs['config']))}: the configuration of trial #{earlier.number} "
                 f"({earlier.state}); a repeat, nothing run")  # fmt: skip

    def sampler(self, n_trials_so_far: int):
        """The configured sampler, seeded by how many trials the study has: a resumed study or a second
        worker continues the sequence instead of proposing the first configurations again."""
        from hydra.utils import instantiate

        seed = None if self.plan.seed is None else int(self.plan.seed) + n_trials_so_far
        return instantiate(self.plan.sampler, **({"seed": seed} if seed is not None else {}))

    def job_overrides(self, values: dict, name: str, stage: int) -> list[str]:
        from t2m.pipeline.search.space import override

        final = stage == len(self.plan.limits) - 1
        keys = set(values)
        job = [a for a in self.plan.fixed if a.split("=", 1)[0].lstrip("+~") not in keys and (final or a.split("=", 1)[0] != "dataset.limit")]
        job += [override(k, v) for k, v in values.items()]
        if not final:
            job += [f"dataset.limit={self.plan.limits[stage]}"]
        # One W&B run per trial, logged once its verdict is known (complete or pruned), not one per stage.
        job += ["tracker.mode=disabled", _subdir(name)]
        return job

    def run(self, batch: list[Slot]) -> None:
        jobs = [self.job_overrides(s.values, s.job, s.stage) for s in batch]
        for slot in batch:
            log.info(f"Trial #{slot.trial.number} {describe(self.plan.shown(slot.values))}: stage {slot.stage + 1}/{len(self.plan.limits)}, "
                     f"{self.plan.limits[slot.stage]} problems")  # fmt: skip
        returns = self.sweeper.launch(jobs)
        recorded = [slot for slot, ret in zip(batch, returns) if self.record(slot, ret)]
        for slot in sorted(recorded, key=lambda s: s.trial.number):  # every point of the batch first, then the verdicts
            self.judge(slot)

    def record(self, slot: Slot, ret) -> bool:
        """Keep what a stage found on the trial (its point), or tell Optuna it failed; whether it was kept."""
        from hydra.core.utils import JobStatus
        from optuna.trial import TrialState

        from t2m.pipeline.search import halving

        n = self.plan.limits[slot.stage]
        job_dir = self.plan.dir / slot.job
        if getattr(ret, "status", JobStatus.COMPLETED) == JobStatus.FAILED or not _finished(job_dir, n):
            error = getattr(ret, "_return_value", None)
            self.failures_in_a_row += 1
            self.study.tell(slot.trial, state=TrialState.FAIL)
            log.error(f"Trial #{slot.trial.number} {describe(self.plan.shown(slot.values))} failed at stage {slot.stage + 1} "
                      f"({type(error).__name__ + ': ' + str(error) if isinstance(error, BaseException) else 'no summary in ' + str(job_dir)})")  # fmt: skip
            return False
        self.failures_in_a_row = 0
        point = stage_point(job_dir, n, self.plan, self.baseline_accuracy.get(n))
        stages = dict(slot.trial.user_attrs.get(halving.STAGES, {}))
        stages[str(n)] = point
        slot.trial.set_user_attr(halving.STAGES, stages)
        slot.trial.set_user_attr("stage", n)
        return True

    def judge(self, slot: Slot, waiting: Waiting | None = None) -> None:
        """Decide after a stage, once every lower-numbered trial still running has its point at that stage
        (halving.missing): one worker would have them all by now; another worker's may be behind. Until
        then the verdict waits (self.waiting, looked at again each round); after max_wait seconds it is
        taken on what is there."""
        from t2m.pipeline.search import halving

        n = self.plan.limits[slot.stage]
        missing = halving.missing(self.study, slot.trial.number, n) if slot.stage < len(self.plan.limits) - 1 else []
        if missing:
            waiting = waiting or Waiting(slot, time.monotonic())
            waited = time.monotonic() - waiting.since
            if self.plan.max_wait is None or waited < self.plan.max_wait:
                if tuple(missing) != waiting.on:
                    log.info(f"Trial #{slot.trial.number} on {n} problems: its verdict waits for {_numbers(missing)} (asked before it, still "
                             f"running) to reach {n} problems or stop before, as one worker would have them")  # fmt: skip
                    waiting.on = tuple(missing)
                self.waiting.append(waiting)
                return
            log.warning(f"Trial #{slot.trial.number} on {n} problems: waited {waited:.0f} s (hydra.sweeper.max_wait) for {_numbers(missing)}; "
                        f"decided without them")  # fmt: skip
        self.decide(slot)

    def settle(self) -> None:
        """Take the verdicts that were waiting and can be taken now."""
        waiting, self.waiting = self.waiting, []
        for w in sorted(waiting, key=lambda w: w.slot.trial.number):
            self.judge(w.slot, w)

    def decide(self, slot: Slot) -> None:
        """After a stage: complete (the last stage), pruned, or promoted to the next stage."""
        from optuna.trial import TrialState

        from t2m.pipeline.search import halving, outputs

        plan = self.plan
        n = plan.limits[slot.stage]
        point = slot.trial.user_attrs[halving.STAGES][str(n)]
        if plan.max_accuracy_drop is not None:
            slot.trial.set_constraint("accuracy_drop", point["violation"])
        shown = " | ".join(f"{o.name} {_fmt(o, v)}" for o, v in zip(plan.objectives, point["values"]))
        if slot.stage == len(plan.limits) - 1:
            self.study.tell(slot.trial, point["values"])
            state = "complete"
        elif halving.ParetoHalvingPruner(plan.reduction_factor).prune(self.study, slot.trial):
            self.study.tell(slot.trial, state=TrialState.PRUNED)
            state = "pruned"
        else:
            self.pending.insert(0, Slot(slot.trial, slot.values, slot.job, slot.stage + 1))
            log.info(f"Trial #{slot.trial.number} on {n} problems: {shown} -> promoted")
            return
        infeasible = plan.max_accuracy_drop is not None and point["violation"] > 0
        log.info(f"Trial #{slot.trial.number} on {n} problems: {shown} -> {state}" + (" (infeasible: too far below the baseline)" if infeasible else ""))
        outputs.mark_trial(self.sweeper, plan, slot.trial.number, plan.dir / slot.job, state, n)


# ---- helpers -------------------------------------------------------------------------------------


def tell_repeat(study, trial, earlier: Earlier) -> None:
    """Tell Optuna what is known of a repeated configuration: a complete one's values (and constraints)
    as COMPLETE, as Optuna's FAQ does for duplicates; a pruned or still running one has no result, so
    FAIL, which samplers skip (TPE already counts such a point as bad: pruned, or running under the
    constant liar). Not PRUNED: a dashboard would count a repeat of a front point as a pruned trial. Not
    FAIL throughout: a sampler told nothing proposes the same configuration again (TPE on the paper's
    grid: 300 repeats in a row). The user attr duplicate_of tells repeats apart, in trials.csv and as a
    column of optuna-dashboard's trial table."""
    from optuna.trial import TrialState

    trial.set_user_attr("duplicate_of", earlier.number)
    trial.set_user_attr("job", earlier.job)
    if earlier.state != "complete" or earlier.values is None:
        study.tell(trial, state=TrialState.FAIL)
        return
    for key, value in earlier.constraints.items():
        trial.set_constraint(key, value)
    study.tell(trial, earlier.values)


def counts_against_budget(trial) -> bool:
    """Whether a trial counts against n_trials: a proposal that ran or runs (not a repeat, not the
    baseline, not a failure, which the next run replaces)."""
    from optuna.trial import TrialState

    return trial.state != TrialState.FAIL and "duplicate_of" not in trial.user_attrs and trial.user_attrs.get("role") != ROLE_BASELINE


def stage_point(job_dir: Path, n: int, plan, baseline_accuracy: float | None = None) -> dict:
    """A configuration's objective values on the first `n` problems (and, with a constraint, its violation)."""
    from t2m.analysis.metrics import summarize
    from t2m.pipeline.store.jobdir import job_records
    from t2m.pipeline.search import objectives as objs

    records = job_records(job_dir)[:n]
    summary = summarize(records, n)
    point = {"values": objs.values(summary, plan.objectives), "accuracy": summary["accuracy"], "violation": 0.0}
    if plan.max_accuracy_drop is not None:
        base = summary["accuracy"] if baseline_accuracy is None else baseline_accuracy
        point["violation"] = objs.violation(summary["accuracy"], base, plan.max_accuracy_drop)
    return point


def identity(dcfg) -> str:
    """What makes two proposals the same configuration (within one study's fixed context)."""
    return hashlib.sha256(json.dumps(dcfg.to_dict(), sort_keys=True, default=str).encode()).hexdigest()[:16]


def job_name(number: int | None, values: dict, extra_keys=()) -> str:
    """`trial007_lowprob_tau0.3_c1_rho0.25` (`baseline_t2t_tau0.5` for the baseline): like a grid's job
    directories, with the trial number in front and any other searched key at the end."""
    from t2m.pipeline.search.space import applies

    strategy = str(values["strategy"])
    parts = ["baseline" if number is None else f"trial{number:03d}", strategy]
    for key, short in (("tau", "tau"), ("c_max", "c"), ("rho_max", "rho")):
        if key in values and applies(key, strategy):
            parts.append(f"{short}{_short(values[key])}")
    parts += [f"{k}{_short(values[k])}" for k in extra_keys if k in values]
    return "_".join(parts)


def _numbers(numbers) -> str:
    return ("trial " if len(numbers) == 1 else "trials ") + ", ".join(f"#{n}" for n in numbers)


def describe(values: dict) -> str:
    return " ".join(f"{k}={_short(v)}" for k, v in values.items())


def _short(v) -> str:
    if v is None:
        return "None"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _subdir(name: str) -> str:
    return f"hydra.sweep.subdir='{name}'"


def _finished(job_dir: Path, n: int) -> bool:
    try:
        summary = json.loads((job_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return False
    return summary.get("n") == n and bool(summary.get("complete"))


def _fmt(objective, value: float) -> str:
    return f"{100 * value:.1f}%" if "accuracy" in objective.name else f"{value:.2f}"


def _jsonable(values: dict) -> dict:
    return json.loads(json.dumps(values, default=str))
