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
circle. Errors a user can fix end as one line (`t2m.pipeline.cli`); `PROGRESS` tells the command line
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
from t2m.pipeline import preflight, provenance, tracking
from t2m.pipeline.jobdir import JobDir, subset_digest
from t2m.pipeline.lock import Busy, LockUnsupported
from t2m.pipeline.samples import sample_record
from t2m.pipeline.store import Entry, StoreError
from t2m.pipeline.validate import ConfigError, Rejected, absolute, check

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
            _each(sorted(group, key=lambda m: m.entry.fingerprint if m.entry else ""), Member.claim)
            _each(group, Member.finish_if_complete)
            _decode(lm, [m for m in group if m.alive])
    finally:
        for m in members:
            m.release()
    return [m.outcome for m in members]


run.pack = run_pack  # how t2m's launchers know that this task function can run several configurations at once


class Member:
    """One configuration of a pack: its checks, locks, store entry and the problems it still lacks."""

    def __init__(self, slot):
        self.slot, self.cfg = slot, slot.cfg
        self.outcome = None  # the summary, or the exception that stopped this configuration
        self.locks = contextlib.ExitStack()
        self.job: JobDir | None = None
        self.entry: Entry | None = None
        self.missing: list[int] = []  # indexes into self.problems

    @property
    def alive(self) -> bool:
        return self.outcome is None

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
        self.label = describe(self.dcfg)
        self.config_yaml, self.record = OmegaConf.to_yaml(cfg, resolve=True), hydra_record(cfg, hc)
        self.wandb_dir = wandb_dir(cfg, hc)
        self.model_key = json.dumps(OmegaConf.to_container(cfg.model, resolve=True), sort_keys=True)

    def lock_directory(self) -> None:
        # before the model loads: a busy directory is known at once
        self.locks.enter_context(self.job.lock.hold(self.cfg.store.if_busy))

    def find_entry(self, lm) -> None:
        cfg = self.cfg
        everything, data_digest = preflight.dataset_with_digest(cfg.dataset)
        self.problems = everything if cfg.dataset.limit is None else everything[: cfg.dataset.limit]
        self.prompts = get_prompts(lm, cfg.dataset, self.problems, data_digest)
        self.ids = [p.id for p in self.problems]
        self.lm = lm
        self.entry = Entry(absolute(cfg.store.dir), provenance.run_key(cfg, self.dcfg, lm, data_digest), about=provenance.about(cfg, lm))
        self.progress = {"label": self.label, "entry": self.entry, "ids": self.ids, "total": len(self.problems)}
        PROGRESS.current.append(self.progress)

    def claim(self) -> None:
        self.locks.enter_context(self.entry.claim(self.cfg.store.if_busy))
        self.job.begin(self.entry, self.ids, self.config_yaml, self.record)
        done = self.entry.done_ids()
        self.missing = [i for i, p in enumerate(self.problems) if p.id not in done]
        if len(self.missing) < len(self.problems):
            log.info(f"Resuming {self.label}: {len(self.problems) - len(self.missing)}/{len(self.problems)} samples already in {self.entry.path}")

    def finish_if_complete(self) -> None:
        if not self.missing:
            self.finish()

    def finish(self) -> None:
        """Summary, job directory view, printed line and W&B run; then let go of the locks."""
        cfg, dcfg = self.cfg, self.dcfg
        records = self.entry.records(self.ids)
        summary = {
            **dcfg.to_dict(),
            "experiment": cfg.experiment,
            "model": cfg.model.name_or_path or "bundled:tiny-dllm",
            "dataset": cfg.dataset.name,
            **metrics.summarize(records, len(self.problems)),
            "fingerprint": self.entry.fingerprint,
            "subset": subset_digest(self.ids),
            "store": str(self.entry.path),
            "repro": provenance.reproducibility(cfg, self.lm, self.entry.key),
        }
        self.job.finish(self.entry, self.ids, self.config_yaml, self.record, summary)  # rewrites nothing it already shows
        self.outcome = summary
        PROGRESS.finished += 1
        self._forget_progress()
        self.release()
        log.info(
            f"[{self.num}] {self.label} | acc {100 * summary['accuracy']:5.1f}% "
            f"[{100 * summary['accuracy_ci95'][0]:.1f}, {100 * summary['accuracy_ci95'][1]:.1f}] | "
            f"mods {summary['mean_modifications']:.2f} | fwd {summary['mean_forwards']:.1f} | {summary['wall_time_s']:.1f}s"
        )
        if not self.multirun:
            log.info(f"Results: {self.job.path} (summary.json, config.yaml; samples in {self.entry.path})")
        tracking.log_configuration(  # a run that already holds these results is not logged again
            cfg.tracker,
            wandb_dir=self.wandb_dir,
            run_id=tracking.run_id(self.entry.fingerprint, summary["subset"], cfg.experiment),
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
        if self.entry is None:
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
    outside the fingerprint, e.g. batch_size, share an entry and its rows)."""

    entry: Entry
    dcfg: object
    members: list[Member]
    problems: list = field(default_factory=list)
    prompts: list = field(default_factory=list)
    done: set = field(default_factory=set)
    failed: bool = False

    def fail(self, error: BaseException) -> None:
        self.failed = True
        for m in self.members:
            m.fail(error)


def _entry_rows(members: list[Member]) -> list[_EntryRows]:
    by_entry: dict[str, _EntryRows] = {}
    for m in members:
        rows = by_entry.get(m.entry.fingerprint)
        if rows is None:
            rows = by_entry[m.entry.fingerprint] = _EntryRows(m.entry, m.dcfg, [], done=m.entry.done_ids())
        rows.members.append(m)
        planned = {p.id for p in rows.problems}
        for i in m.missing:
            if m.problems[i].id not in planned:
                rows.problems.append(m.problems[i])
                rows.prompts.append(m.prompts[i])
    return [rows for rows in by_entry.values() if rows.problems]


def _decode(lm, members: list[Member]) -> None:
    """Decode the missing rows of `members` together, configuration after configuration, in calls
    of `batch_size` rows (a call holds the rows of one configuration or of several); append each
    configuration's rows to its entry after every call and finish the configurations that are done."""
    from tqdm import tqdm

    groups = _entry_rows(members)
    rows = [(g, k) for g in groups for k in range(len(g.problems))]
    if not rows:
        return
    batch_size = min(m.cfg.batch_size for m in members)
    n_chunks = -(-len(rows) // batch_size)
    desc = members[0].label if len(groups) == 1 else f"{len(groups)} configurations"
    with tqdm(total=len(rows), desc=desc, unit="row", mininterval=1.0, dynamic_ncols=True) as bar:
        for c in range(n_chunks):
            chunk = [r for r in rows[c * len(rows) // n_chunks : (c + 1) * len(rows) // n_chunks] if not r[0].failed]  # even chunks
            if not chunk:
                continue
            decoded = _decode_chunk(lm, chunk, batch_size, bar.update)
            for g in dict.fromkeys(g for g, _, _, _ in decoded):
                mine = [(k, r, share) for h, k, r, share in decoded if h is g]
                try:
                    g.entry.append(sample_record(lm, g.problems[k], g.prompts[k], r, share) for k, r, share in mine)
                except OSError as e:
                    if e.errno not in WRITE_ERRORS:
                        g.fail(e)
                        continue
                    # The disk is full or read-only: every configuration of the pack would fail the same way.
                    error = g.members[0].unwritable(e)
                    for m in members:
                        m.fail(error)
                    return
                g.done.update(g.problems[k].id for k, _, _ in mine)
                for m in g.members:
                    if m.alive and g.done.issuperset(m.ids):
                        _each([m], Member.finish)


def _decode_chunk(lm, chunk, batch_size: int, progress) -> list[tuple]:
    """(rows, index, result, this row's share of the call's wall time) for the rows of one call. A
    configuration whose rows make the call fail is decoded alone, so that it fails alone."""
    from t2m.decoding import decode

    t0 = time.perf_counter()
    try:
        results = decode(lm, [g.prompts[k] for g, k in chunk], [g.dcfg for g, _ in chunk], batch_size=batch_size, progress=progress)
    except Exception as e:  # noqa: BLE001
        groups = list(dict.fromkeys(g for g, _ in chunk))
        if len(groups) == 1:
            groups[0].fail(e)
            return []
        return [row for g in groups for row in _decode_chunk(lm, [(h, k) for h, k in chunk if h is g], batch_size, progress)]
    share = (time.perf_counter() - t0) / len(chunk)
    return [(g, k, r, share) for (g, k), r in zip(chunk, results)]


# ---- helpers -------------------------------------------------------------------------------------


def describe(dcfg) -> str:
    if dcfg.is_remask:
        return f"{dcfg.strategy} tau={dcfg.tau} c_max={dcfg.c_max} rho_max={dcfg.rho_max}"
    return f"{dcfg.strategy} tau={dcfg.tau} c_max=- rho_max=-"  # no remasking: the caps do not apply


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
        return get_model(**OmegaConf.to_container(cfg.model))
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
    log.info(f"Loaded {lm.name} ({lm.num_parameters / 1e6:.1f}M parameters, {lm.dtype}, {lm.device}) in {time.perf_counter() - t0:.1f}s")
    return lm


_PROMPTS: dict = {}


def get_prompts(lm, ds: DictConfig, problems, data_digest: str) -> list[list[int]]:
    """Prompt token ids of `problems`, built once per process, model, dataset and template."""
    from t2m import data

    template = ds.template if ds.template is not None else data.PROMPT_TEMPLATES[ds.name]
    key = (lm.name, lm.revision, data_digest, template, len(problems))  # the checkpoint decides the tokenizer
    if key not in _PROMPTS:
        _PROMPTS[key] = [data.build_prompt(p, template, lm.tokenizer) for p in problems]
    return _PROMPTS[key]


def wandb_dir(cfg, hc) -> Path:
    if cfg.tracker.dir:
        return absolute(cfg.tracker.dir)
    multirun = hc.mode is not None and hc.mode.name == "MULTIRUN"
    return absolute(hc.sweep.dir if multirun else hc.runtime.output_dir)
