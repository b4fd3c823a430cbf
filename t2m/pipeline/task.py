"""The Hydra task: configurations decoded start to finish (or resumed, or found already done), one at
a time or several together in one batched decode (a packed job).

    run(cfg)           Hydra's task function: one configuration (a single run, or one job of Hydra's
                       own launchers)
    run.pack(slots)    several configurations in this process and one decode; t2m's launchers call it
                       (t2m.pipeline.launchers). A slot has `.cfg` (the job's config) and `.activate()`
                       (a context manager that makes the job's Hydra context current). Returns one
                       outcome per slot: the configuration's summary, or the exception that stopped it.

Every configuration goes through the same phases, whether it is alone or packed with 108 others: its
config is checked (the device where the job runs, too), its job directory locked, the model loaded
(once per process), its entry in the result store found by fingerprint and claimed, and only the
problems the entry lacks are decoded. In a pack, the missing rows of every configuration (problems ×
configurations) are decoded together, `batch_size` rows per decode call, and after each call every
configuration's finished rows are appended to its own entry; a configuration is finished (summary,
job directory view, W&B run, printed line) as soon as its last row is stored. So a pack killed half-way
leaves its finished configurations complete and the others resumable, and a configuration that is
already complete is neither decoded nor rewritten nor logged again. Locks are taken in a fixed order
(job directories by path, store entries by fingerprint), so two packs never wait on each other in a
circle. With `samples_per_prompt=k` a configuration is k entries, one per sample seed, whose rows
are decoded together; with `trajectory=` the decoding events of the problems asked for are stored in
their entries too (`t2m.pipeline.report.trajectory`). Errors a user can fix end as one line (`t2m.pipeline.cli`); `PROGRESS` tells the command line
what was kept if the process is interrupted.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from t2m.analysis import metrics
from t2m.pipeline import tracking
from t2m.pipeline.checks import preflight
from t2m.pipeline.store import provenance
from t2m.pipeline.store.jobdir import JobDir, subset_digest
from t2m.pipeline.store.lock import Busy, LockUnsupported
from t2m.pipeline.store.root import mark as mark_results_root
from t2m.pipeline.store.samples import sample_record
from t2m.pipeline.store.entries import Entry, SampleSet, StoreError
from t2m.pipeline.report.notes import TRUNCATED_SHARE, truncated_line
from t2m.pipeline.report.trajectory import TRAJECTORIES
from t2m.pipeline.checks.validate import ConfigError, Rejected, check
from t2m.pipeline.paths import absolute, shown

log = logging.getLogger(__name__)

WRITE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG)


class ResultsUnwritable(OSError):
    """The results or store directory refused a write (full, read-only, no permission)."""


# Errors a user can act on: the command line ends with their one line (t2m.pipeline.cli).
USER_ERRORS = (ConfigError, ResultsUnwritable, Busy, LockUnsupported, StoreError)


@dataclass
class Progress:
    """What this process has decoded and kept, for the line printed when it is interrupted."""

    mode: str = "RUN"  # or MULTIRUN
    out_dir: Path | None = None  # hydra.run.dir, or hydra.sweep.dir for a sweep
    finished: int = 0  # configurations completed in this process
    current: list = field(default_factory=list)  # configurations in progress: dicts of label, entry, ids, total


PROGRESS = Progress()


class _Current:
    """A slot whose Hydra context is already current (Hydra's run_job set it)."""

    def __init__(self, cfg: DictConfig):
        self.cfg = cfg

    def activate(self):
        return contextlib.nullcontext()


def run(cfg: DictConfig) -> dict:
    """The Hydra task function: one configuration, start to finish (or resumed)."""
    (outcome,) = run_pack([_Current(cfg)])
    if isinstance(outcome, USER_ERRORS):
        # A BaseException passes Hydra's job runner untouched (an Exception would get Hydra's own
        # "Error executing job" line), so the command line can print exactly one line for it.
        raise Rejected(outcome) from outcome
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def run_pack(slots) -> list:
    """Run the configurations of `slots` together; one outcome per slot (its summary, or the exception
    that stopped it). Ctrl-C and SystemExit (a SLURM job being requeued) are not outcomes: they end
    the pack, and every lock is released on the way out."""
    members = [Member(slot) for slot in slots]
    try:
        _each(members, Member.open)
        _each(sorted(members, key=lambda m: str(m.job.path) if m.job else ""), Member.lock_directory)
        for group in _by_model(members):
            lm = _load(group)
            if lm is None:
                continue
            _each(group, Member.find_entry, lm)
            _claim(group)
            _each(group, Member.plan)
            _each(group, Member.finish_if_complete)
            _decode(lm, [m for m in group if m.alive])
    finally:
        for m in members:
            m.release()
    return [m.outcome for m in members]


run.pack = run_pack  # how t2m's launchers know that this task function can run several configurations at once


class Member:
    """One configuration of a pack: its checks, locks, store entries (one per sample seed) and the
    rows they still lack."""

    def __init__(self, slot):
        self.slot, self.cfg = slot, slot.cfg
        self.outcome = None  # the summary, or the exception that stopped this configuration
        self.locks = contextlib.ExitStack()
        self.job: JobDir | None = None
        self.entries: list[Entry] = []  # one per sample of a problem (samples_per_prompt), entry 0 the run's own seed
        self.missing: list[list[tuple]] = []  # per entry: (problem index, store the sample?, record the trajectory?)

    @property
    def alive(self) -> bool:
        return self.outcome is None

    @property
    def entry(self) -> Entry | None:
        return self.entries[0] if self.entries else None

    def open(self) -> None:
        cfg = self.cfg
        # A single run was checked by the Preflight callback and a sweep's jobs by the sweeper, on the
        # submitting host; this checks again where the job runs (the GPU it asked for, among others).
        self.dcfg = check(cfg)
        if cfg.threads is not None:
            import torch

            torch.set_num_threads(cfg.threads)
        hc = HydraConfig.get()
        self.multirun = hc.mode is not None and hc.mode.name == "MULTIRUN"
        PROGRESS.mode, PROGRESS.out_dir = ("MULTIRUN", absolute(hc.sweep.dir)) if self.multirun else ("RUN", absolute(hc.runtime.output_dir))
        self.job = JobDir(absolute(hc.runtime.output_dir))
        self.num = OmegaConf.select(hc, "job.num", default="run")
        k = cfg.samples_per_prompt
        self.label = describe(self.dcfg) + (f" x{k} samples" if k > 1 else "")
        self.config_yaml, self.record = OmegaConf.to_yaml(cfg, resolve=True), hydra_record(cfg, hc)
        self.wandb_dir = wandb_dir(cfg, hc)
        self.model_key = json.dumps(OmegaConf.to_container(cfg.model, resolve=True), sort_keys=True)

    def lock_directory(self) -> None:
        # before the model loads: a busy directory is known at once
        self.locks.enter_context(self.job.lock.hold(self.cfg.store.if_busy, self.cfg.store.get("wait_timeout_s")))

    def find_entry(self, lm) -> None:
        cfg = self.cfg
        everything, data_digest = preflight.dataset_with_digest(cfg.dataset)
        self.problems = everything if cfg.dataset.limit is None else everything[: cfg.dataset.limit]
        self.prompts = get_prompts(lm, cfg.dataset, self.problems, data_digest)
        self.ids = [p.id for p in self.problems]
        self.lm = lm
        self.control = self.calibrate(data_digest) if cfg.get("control_of") else {}
        # One entry per sample of a problem: sample j decodes with its own seed, so it is the entry of
        # that seed's single run (reused by any run that asks for it); sample 0 is the run's own seed.
        self.dcfgs = [self.dcfg.replace(seed=s) for s in sample_seeds(self.dcfg.seed, cfg.samples_per_prompt)]
        store_dir, about = absolute(cfg.store.dir), provenance.about(cfg, lm)
        self.entries = [Entry(store_dir, provenance.run_key(cfg, d, lm, data_digest), about=about) for d in self.dcfgs]
        self.view = SampleSet(self.entries)
        self.trajectories = trajectory_ids(cfg.trajectory, self.ids)
        self.progress = {"label": self.label, "entry": self.entry, "ids": self.ids, "total": len(self.problems)}
        PROGRESS.current.append(self.progress)

    def calibrate(self, data_digest: str) -> dict:
        """A matched control (t2m.pipeline.control): the tau at which random remasking spends the
        target detector's remasks; this job then decodes at that tau. Returns its summary fields."""
        from t2m.pipeline import control

        cfg, lm = self.cfg, self.lm
        target = control.target_config(self.dcfg, OmegaConf.to_container(cfg.control_of, resolve=True))
        problems = control.calibration_problems(cfg.dataset.name, self.problems)
        calibration = control.calibrate(lm, self.dcfg, target, get_prompts(lm, cfg.dataset, problems, f"calibration:{data_digest}"), cfg.batch_size)
        self.dcfg = self.dcfg.replace(tau=calibration.tau)
        self.label = describe(self.dcfg)
        log.info(f"[{self.num}] {calibration.line(target)}")
        target_key = provenance.run_key(cfg, target, lm, data_digest)
        return control.summary_fields(target, Entry(absolute(cfg.store.dir), target_key).fingerprint, calibration)

    def claim_entry(self, entry: Entry) -> None:
        self.locks.enter_context(entry.claim(self.cfg.store.if_busy, self.cfg.store.get("wait_timeout_s")))

    def plan(self) -> None:
        """Show the job's configuration and list the rows each entry lacks: samples it does not hold,
        and samples decoded again (identically) only to record a trajectory it does not hold."""
        from t2m.pipeline.report.trajectory import stored_ids

        mark_results_root(absolute(self.cfg.results_dir))  # known from inside from now on (checks.preflight.check_anchored)
        self.job.begin(self.view, self.ids, self.config_yaml, self.record)
        self.missing = []
        for entry in self.entries:
            done = entry.done_ids()
            have_trajectory = stored_ids(entry) if self.trajectories else set()
            self.missing.append([(i, p.id not in done, p.id in self.trajectories and p.id not in have_trajectory)
                                 for i, p in enumerate(self.problems)
                                 if p.id not in done or (p.id in self.trajectories and p.id not in have_trajectory)])  # fmt: skip
        total = len(self.problems) * len(self.entries)
        new = sum(store for rows in self.missing for _, store, _ in rows)
        if new < total:
            log.info(f"Resuming {self.label}: {total - new}/{total} samples already in {self.entry.path}")

    def finish_if_complete(self) -> None:
        if not any(self.missing):
            self.finish()

    def finish(self) -> None:
        """Summary, job directory view, printed line and W&B run; then let go of the locks."""
        cfg, dcfg = self.cfg, self.dcfg
        records = self.entry.records(self.ids)
        run_id = tracking.run_id(self.view.fingerprint, subset_digest(self.ids), cfg.experiment)  # entry 0's when k = 1
        wandb_home = tracking.home(cfg.tracker, self.entry.path, run_id, self.wandb_dir)  # while the entry is ours
        summary = {
            **dcfg.to_dict(),
            "experiment": cfg.experiment,
            "model": cfg.model.name_or_path or "bundled:tiny-dllm",
            "dataset": cfg.dataset.name,
            "n_duplicates": preflight.dataset_duplicates(cfg.dataset),  # left out of the dataset: n counts distinct problems
            **metrics.summarize(records, len(self.problems)),
            **_sampling_summary(self.entries, self.ids),
            **self.control,
            "fingerprint": self.view.fingerprint,
            "subset": subset_digest(self.ids),
            "store": str(self.entry.path),
            "repro": provenance.reproducibility(cfg, self.lm, self.entry.key),
            **({"wandb_run": run_id, "wandb_dir": str(wandb_home)} if wandb_home else {}),
        }
        self.job.finish(self.view, self.ids, self.config_yaml, self.record, summary)  # rewrites nothing it already shows
        self.outcome = summary
        PROGRESS.finished += 1
        self._forget_progress()
        self.release()
        log.info(
            f"[{self.num}] {self.label} | acc {100 * summary['accuracy']:5.1f}% "
            f"[{100 * summary['accuracy_ci95'][0]:.1f}, {100 * summary['accuracy_ci95'][1]:.1f}] | {_fidelity(summary)}"
            f"mods {summary['mean_modifications']:.2f} | fwd {summary['mean_forwards']:.1f} | {summary['wall_time_s']:.1f}s"
        )
        if summary["n_truncated"] > TRUNCATED_SHARE * summary["n"]:
            log.warning(truncated_line(f"[{self.num}] {self.label}", summary["n_truncated"], summary["n"], dcfg.gen_length))
        if not self.multirun:
            log.info(f"Results: {shown(self.job.path)} (summary.json, config.yaml; samples in {shown(self.entry.path)})")
        tracking.log_configuration(  # a run that already holds these results is not logged again
            cfg.tracker,
            wandb_dir=self.wandb_dir,
            run_id=run_id,
            home=wandb_home,
            name=self.job.path.name,
            group=cfg.experiment,
            job_type=dcfg.strategy,
            config=OmegaConf.to_container(cfg, resolve=True),
            summary={k: v for k, v in summary.items() if k != "repro"},
            records=records,
        )

    def fail(self, error: BaseException) -> None:
        if self.alive:
            self.outcome = error
            self._forget_progress()
            self.release()

    def release(self) -> None:
        self.locks.close()

    def unwritable(self, e: OSError) -> ResultsUnwritable:
        """A write error as one line: what could not be written and what was kept."""
        where = e.filename or absolute(self.cfg.results_dir)
        if not self.entries:
            return ResultsUnwritable(e.errno, f"cannot write {where} ({e.strerror})")
        kept = len(self.entry.records(self.ids))
        return ResultsUnwritable(e.errno, f"cannot write {where} ({e.strerror}); kept {kept} of {len(self.problems)} samples of "
                                          f"{self.label} in {self.entry.path}")  # fmt: skip

    def _forget_progress(self) -> None:
        with contextlib.suppress(AttributeError, ValueError):
            PROGRESS.current.remove(self.progress)


def _each(members: list[Member], phase, *args) -> None:
    """Run one phase for every configuration still alive, in its own Hydra context; an error stops
    only that configuration."""
    for m in members:
        if not m.alive:
            continue
        try:
            with m.slot.activate():
                phase(m, *args)
        except Exception as e:  # noqa: BLE001 - sorted by the launcher: one line for a user's mistake, a traceback for a bug
            m.fail(_as_unwritable(m, e))


def _claim(members: list[Member]) -> None:
    """Claim every store entry of `members` in one order, by fingerprint, for every process (a
    configuration sampled k times holds k entries): two packs never wait on each other in a circle."""
    claims = sorted(((e.fingerprint, n, e) for n, m in enumerate(members) for e in m.entries), key=lambda c: c[:2])
    for _, n, entry in claims:
        _each([members[n]], Member.claim_entry, entry)


def _as_unwritable(m: Member, e: Exception) -> Exception:
    if isinstance(e, OSError) and e.errno in WRITE_ERRORS and not isinstance(e, (LockUnsupported, ResultsUnwritable)):
        return m.unwritable(e)
    return e


def _by_model(members: list[Member]) -> list[list[Member]]:
    """The configurations grouped by model (rows of one model can share a batch), in pack order."""
    groups: dict[str, list[Member]] = {}
    for m in members:
        if m.alive:
            groups.setdefault(m.model_key, []).append(m)
    return list(groups.values())


def _load(group: list[Member]):
    first = group[0]
    try:
        with first.slot.activate():
            return load(first.cfg)
    except Exception as e:  # noqa: BLE001 - every configuration of this model stops with the same error
        for m in group:
            m.fail(e)
        return None


# ---- decoding the rows of a pack -----------------------------------------------------------------


@dataclass(eq=False)  # rows are grouped by identity
class _EntryRows:
    """The rows one store entry still lacks in this pack (configurations that differ only in keys
    outside the fingerprint, e.g. batch_size, share an entry and its rows; a configuration sampled k
    times has rows in k entries). Each row says whether its sample is new (to store) and whether its
    trajectory is wanted: a row decoded again only for its trajectory is not stored twice."""

    entry: Entry
    dcfg: object
    members: list[Member]
    problems: list = field(default_factory=list)
    prompts: list = field(default_factory=list)
    store: list = field(default_factory=list)  # per row: a new sample, to append to the entry
    trajectory: list = field(default_factory=list)  # per row: record its trajectory next to the samples
    pending: set = field(default_factory=set)  # problem ids whose rows are not written yet
    failed: bool = False

    @property
    def wanted(self) -> bool:
        return not self.failed and any(m.alive for m in self.members)

    def add(self, problem, prompt, store: bool, trajectory: bool) -> None:
        if problem.id in self.pending:  # planned by another configuration sharing this entry
            k = next(k for k, p in enumerate(self.problems) if p.id == problem.id)
            self.store[k] |= store
            self.trajectory[k] |= trajectory
            return
        self.problems.append(problem)
        self.prompts.append(prompt)
        self.store.append(store)
        self.trajectory.append(trajectory)
        self.pending.add(problem.id)

    def fail(self, error: BaseException) -> None:
        self.failed = True
        for m in self.members:
            m.fail(error)


def _entry_rows(members: list[Member]) -> list[_EntryRows]:
    by_entry: dict[str, _EntryRows] = {}
    for m in members:
        m.rows = []
        for entry, dcfg, missing in zip(m.entries, m.dcfgs, m.missing):
            rows = by_entry.get(entry.fingerprint)
            if rows is None:
                rows = by_entry[entry.fingerprint] = _EntryRows(entry, dcfg, [])
            rows.members.append(m)
            m.rows.append(rows)
            for i, store, trajectory in missing:
                rows.add(m.problems[i], m.prompts[i], store, trajectory)
    return [rows for rows in by_entry.values() if rows.problems]


def _decode(lm, members: list[Member]) -> None:
    """Decode the missing rows of `members` together, configuration after configuration, in calls
    of `batch_size` rows (a call holds the rows of one configuration or of several); append each
    entry's rows to it after every call and finish the configurations that are done."""
    from tqdm import tqdm

    from t2m.pipeline.report.trajectory import trajectory_record

    groups = _entry_rows(members)
    rows = [(g, k) for g in groups for k in range(len(g.problems))]
    if not rows:
        return
    batch_size = min(m.cfg.batch_size for m in members)
    n_chunks = -(-len(rows) // batch_size)
    desc = members[0].label if len(members) == 1 else f"{len(members)} configurations"
    with tqdm(total=len(rows), desc=desc, unit="row", mininterval=1.0, dynamic_ncols=True) as bar:
        for c in range(n_chunks):
            chunk = [r for r in rows[c * len(rows) // n_chunks : (c + 1) * len(rows) // n_chunks] if r[0].wanted]  # even chunks
            if not chunk:
                continue
            decoded = _decode_chunk(lm, chunk, batch_size, bar.update)
            for g in dict.fromkeys(g for g, _, _, _ in decoded):
                mine = [(k, r, share) for h, k, r, share in decoded if h is g]
                try:
                    g.entry.append(sample_record(lm, g.problems[k], g.prompts[k], r, share) for k, r, share in mine if g.store[k])
                    g.entry.append((trajectory_record(lm, g.problems[k].id, g.prompts[k], r, g.dcfg) for k, r, _ in mine if g.trajectory[k]),
                                   name=TRAJECTORIES)  # fmt: skip
                except OSError as e:
                    if e.errno not in WRITE_ERRORS:
                        g.fail(e)
                        continue
                    # The disk is full or read-only: every configuration of the pack would fail the same way.
                    error = g.members[0].unwritable(e)
                    for m in members:
                        m.fail(error)
                    return
                g.pending.difference_update(g.problems[k].id for k, _, _ in mine)
                for m in g.members:
                    if m.alive and all(h.pending.isdisjoint(m.ids) for h in m.rows):
                        _each([m], Member.finish)


def _decode_chunk(lm, chunk, batch_size: int, progress) -> list[tuple]:
    """(rows, index, result, this row's share of the call's wall time) for the rows of one call. A
    configuration whose rows make the call fail is decoded alone, so that it fails alone."""
    from t2m.decoding import decode

    t0 = time.perf_counter()
    try:
        results = decode(lm, [g.prompts[k] for g, k in chunk], [g.dcfg for g, _ in chunk], batch_size=batch_size,
                         trajectory=[g.trajectory[k] for g, k in chunk], progress=progress)  # fmt: skip
    except Exception as e:  # noqa: BLE001
        groups = list(dict.fromkeys(g for g, _ in chunk))
        if len(groups) == 1:
            groups[0].fail(e)
            return []
        return [row for g in groups for row in _decode_chunk(lm, [(h, k) for h, k in chunk if h is g], batch_size, progress)]
    share = (time.perf_counter() - t0) / len(chunk)
    return [(g, k, r, share) for (g, k), r in zip(chunk, results)]


# ---- helpers -------------------------------------------------------------------------------------


def sample_seeds(seed: int, k: int) -> list[int]:
    """The seeds of a problem's k samples: the run's own seed first (so sample 0 is the single run with
    that seed), then seeds spread by the golden-ratio constant (distinct for any k < 2**31)."""
    return [seed] + [(seed + j * 0x9E3779B1) % (1 << 31) for j in range(1, k)]


def trajectory_ids(value, ids: list[str]) -> set[str]:
    """The problems whose trajectories to record: `trajectory=true` all, a list those ids, false none."""
    if value is True:
        return set(ids)
    if not value:
        return set()
    return {str(i) for i in value}


def _sampling_summary(entries, ids) -> dict:
    if len(entries) == 1:
        return {"samples_per_prompt": 1}
    from t2m.analysis.sampling import summarize_samples

    per_entry = [{r["id"]: r for r in e.records(ids)} for e in entries]
    groups = {i: [by_id[i] for by_id in per_entry if i in by_id] for i in ids}
    every = [r for g in groups.values() for r in g]
    wall = sum(r.get("decode_share_s", 0.0) for r in every)
    return {
        **summarize_samples({i: g for i, g in groups.items() if len(g) == len(entries)}),
        "wall_time_s": wall,  # all k samples' decoding, not only sample 0's
        "tokens_per_s": sum(r["output_tokens"] for r in every) / wall if wall > 0 else None,
    }



def _fidelity(summary: dict) -> str:
    f = summary.get("fidelity")
    return "" if f is None else f"fid {100 * f:5.1f}% | "


def describe(dcfg) -> str:
    from t2m.pipeline.report.plot import setting

    caps = f"c_max={dcfg.c_max} rho_max={dcfg.rho_max}" if dcfg.is_remask else "c_max=- rho_max=-"  # no remasking: the caps do not apply
    return f"{dcfg.strategy} tau={dcfg.tau} {caps}{setting(dcfg.to_dict())}"


def hydra_record(cfg: DictConfig, hc) -> dict[str, str]:
    """Hydra's own record of the job (what `hydra.output_subdir` would write), put in place by the job
    only once its configuration is accepted (conf/config.yaml sets output_subdir: null)."""
    return {
        "config.yaml": OmegaConf.to_yaml(cfg),
        "hydra.yaml": OmegaConf.to_yaml({"hydra": hc}),
        "overrides.yaml": OmegaConf.to_yaml(hc.overrides.task),
    }


def load(cfg: DictConfig):
    """The model of `cfg`; a checkpoint that cannot be loaded is a ConfigError (one line)."""
    try:
        return get_model(**OmegaConf.to_container(cfg.model, resolve=True))
    except (ValueError, OSError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ConfigError(f"model.name_or_path={cfg.model.name_or_path!r} cannot be loaded: {first}") from None


@lru_cache(maxsize=2)
def get_model(name_or_path=None, revision=None, trust_remote_code=False, dtype="float32", device="cpu", mask_id=None, eos_id=None):
    """The model, loaded once per process and argument set (a sweep's jobs share it)."""
    from t2m.decoding import load_model

    t0 = time.perf_counter()
    path = None if name_or_path is None else (str(absolute(name_or_path)) if Path(str(name_or_path)).expanduser().exists() else name_or_path)
    lm = load_model(path, trust_remote_code=trust_remote_code, dtype=dtype, device=device, mask_id=mask_id, eos_id=eos_id, revision=revision)
    log.info(f"Loaded {shown(lm.name) if Path(lm.name).exists() else lm.name} ({lm.num_parameters / 1e6:.1f}M parameters, {lm.dtype}, {lm.device}) in {time.perf_counter() - t0:.1f}s")
    return lm


_PROMPTS: dict = {}


def get_prompts(lm, ds: DictConfig, problems, data_digest: str) -> list[list[int]]:
    """Prompt token ids of `problems`, built once per process, model, dataset and template."""
    from t2m import data

    template = ds.template if ds.template is not None else data.dataset(ds.name).template
    key = (lm.name, lm.revision, data_digest, template, len(problems))  # the checkpoint decides the tokenizer
    if key not in _PROMPTS:
        _PROMPTS[key] = [data.build_prompt(p, template, lm.tokenizer) for p in problems]
    return _PROMPTS[key]


def wandb_dir(cfg, hc) -> Path:
    if cfg.tracker.dir:
        return absolute(cfg.tracker.dir)
    multirun = hc.mode is not None and hc.mode.name == "MULTIRUN"
    return absolute(hc.sweep.dir if multirun else hc.runtime.output_dir)
