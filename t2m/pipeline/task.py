"""The Hydra task: one configuration, start to finish (or resumed, or found already done).

A job checks its config, loads the model (once per process: the basic launcher runs every job of a
sweep in this process and reuses it), finds its configuration's entry in the result store by
fingerprint, takes the entry's lock, decodes only the problems the entry does not hold yet in chunks
of `batch_size` rows (appending each finished chunk), and writes its job directory's view, a W&B run
and one summary line. With `samples_per_prompt=k` a configuration is k entries, one per sample seed,
decoded together; with `trajectory=` the decoding events of the problems asked for are stored in
their entries too (`t2m.pipeline.trajectory`). Errors a user can fix end as one line (`t2m.pipeline.cli`); `PROGRESS` tells the
command line what was kept if the job is interrupted.
"""

from __future__ import annotations

import contextlib
import errno
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
from t2m.pipeline.store import Entry, SampleSet, StoreError
from t2m.pipeline.trajectory import TRAJECTORIES
from t2m.pipeline.validate import ConfigError, Rejected, absolute, check

log = logging.getLogger(__name__)

WRITE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG)


class ResultsUnwritable(OSError):
    """The results or store directory refused a write (full, read-only, no permission)."""


@dataclass
class Progress:
    """What this process has decoded and kept, for the line printed when it is interrupted."""

    mode: str = "RUN"  # or MULTIRUN
    out_dir: Path | None = None  # hydra.run.dir, or hydra.sweep.dir for a sweep
    finished: int = 0  # configurations completed in this process
    current: dict = field(default_factory=dict)  # the configuration in progress: label, entry, kept, total


PROGRESS = Progress()


def run(cfg: DictConfig) -> dict:
    """The Hydra task function: one configuration, start to finish (or resumed)."""
    try:
        return _run(cfg)
    except (ConfigError, ResultsUnwritable, Busy, LockUnsupported, StoreError) as e:
        # A BaseException passes Hydra's job runner untouched (an Exception would get Hydra's own
        # "Error executing job" line), so the command line can print exactly one line for it.
        raise Rejected(e) from e


def _run(cfg: DictConfig) -> dict:
    dcfg = check(cfg)  # a single run was checked by the Preflight callback, a sweep's jobs by the sweeper; cheap to repeat
    if cfg.threads is not None:
        import torch

        torch.set_num_threads(cfg.threads)
    hc = HydraConfig.get()
    multirun = hc.mode is not None and hc.mode.name == "MULTIRUN"
    PROGRESS.mode, PROGRESS.out_dir = ("MULTIRUN", absolute(hc.sweep.dir)) if multirun else ("RUN", absolute(hc.runtime.output_dir))
    job = JobDir(absolute(hc.runtime.output_dir))
    with job.lock.hold(cfg.store.if_busy):  # before the model loads: a busy directory is known at once
        summary, records, entry = _run_locked(cfg, dcfg, hc, job)
    PROGRESS.finished += 1
    PROGRESS.current = {}

    label = describe(dcfg)
    log.info(
        f"[{OmegaConf.select(hc, 'job.num', default='run')}] {label} | acc {100 * summary['accuracy']:5.1f}% "
        f"[{100 * summary['accuracy_ci95'][0]:.1f}, {100 * summary['accuracy_ci95'][1]:.1f}] | "
        f"mods {summary['mean_modifications']:.2f} | fwd {summary['mean_forwards']:.1f} | {summary['wall_time_s']:.1f}s"
    )
    if not multirun:
        log.info(f"Results: {job.path} (summary.json, config.yaml; samples in {entry.path})")
    tracking.log_configuration(
        cfg.tracker,
        wandb_dir=wandb_dir(cfg, hc),
        run_id=tracking.run_id(entry.fingerprint, summary["subset"], cfg.experiment),  # the SampleSet's: entry 0's when k = 1
        name=job.path.name,
        group=cfg.experiment,
        job_type=dcfg.strategy,
        config=OmegaConf.to_container(cfg, resolve=True),
        summary={k: v for k, v in summary.items() if k != "repro"},
        records=records,
    )
    return summary


def _run_locked(cfg: DictConfig, dcfg, hc, job: JobDir):
    """Load, find the configuration's entries, decode what they lack, write the job's view."""
    lm = load(cfg)
    everything, data_digest = preflight.dataset_with_digest(cfg.dataset)
    problems = everything if cfg.dataset.limit is None else everything[: cfg.dataset.limit]
    prompts = get_prompts(lm, cfg.dataset, problems, data_digest)
    ids = [p.id for p in problems]
    # One entry per sample of a problem: sample j decodes with its own seed, so it is the entry of
    # that seed's single run (reused by any run that asks for it); sample 0 is the run's own seed.
    dcfgs = [dcfg.replace(seed=s) for s in sample_seeds(dcfg.seed, cfg.samples_per_prompt)]
    store_dir, about = absolute(cfg.store.dir), provenance.about(cfg, lm)
    entries = [Entry(store_dir, provenance.run_key(cfg, d, lm, data_digest), about=about) for d in dcfgs]
    view = SampleSet(entries)
    label = describe(dcfg) + (f" x{len(entries)} samples" if len(entries) > 1 else "")
    config_yaml, record = OmegaConf.to_yaml(cfg, resolve=True), hydra_record(cfg, hc)

    PROGRESS.current = {"label": label, "entry": entries[0], "ids": ids, "total": len(problems)}
    try:
        with contextlib.ExitStack() as held:
            for entry in sorted(entries, key=lambda e: e.fingerprint):  # one order for every process: no deadlock
                held.enter_context(entry.claim(cfg.store.if_busy))
            job.begin(view, ids, config_yaml, record)
            decode_missing(lm, problems, prompts, list(zip(dcfgs, entries)), cfg.batch_size, label, trajectory_ids(cfg.trajectory, ids))
            records = entries[0].records(ids)
            summary = {
                **dcfg.to_dict(),
                "experiment": cfg.experiment,
                "model": cfg.model.name_or_path or "bundled:tiny-dllm",
                "dataset": cfg.dataset.name,
                **metrics.summarize(records, len(problems)),
                **_sampling_summary(entries, ids),
                "fingerprint": view.fingerprint,
                "subset": subset_digest(ids),
                "store": str(entries[0].path),
                "repro": provenance.reproducibility(cfg, lm, entries[0].key),
            }
            job.finish(view, ids, config_yaml, record, summary)
    except OSError as e:
        if e.errno in WRITE_ERRORS and not isinstance(e, LockUnsupported):
            kept = len(entries[0].records(ids))
            raise ResultsUnwritable(e.errno, f"cannot write {e.filename or absolute(cfg.results_dir)} ({e.strerror}); kept {kept} of "
                                             f"{len(problems)} samples of {label} in {entries[0].path}") from None  # fmt: skip
        raise
    return summary, records, view


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


def decode_missing(lm, problems, prompts, configs_and_entries, batch_size: int, label: str, trajectories: set[str] = frozenset()) -> None:
    """Decode, for each (DecodeConfig, entry), the problems the entry does not hold yet, appending
    every finished chunk; problems in `trajectories` whose entry lacks their trajectory are decoded
    (again, with identical results) to record it next to the samples."""
    from tqdm import tqdm

    from t2m.decoding import decode
    from t2m.pipeline.trajectory import stored_ids, trajectory_record

    todo = []  # (entry index, problem index, store the sample?, record the trajectory?)
    total = len(problems) * len(configs_and_entries)
    for j, (_, entry) in enumerate(configs_and_entries):
        done = entry.done_ids()
        have_traj = stored_ids(entry) if trajectories else set()
        for i, p in enumerate(problems):
            want_traj = p.id in trajectories and p.id not in have_traj
            if p.id not in done or want_traj:
                todo.append((j, i, p.id not in done, want_traj))
    n_new = sum(t[2] for t in todo)
    if n_new < total:
        log.info(f"Resuming {label}: {total - n_new}/{total} samples already in {configs_and_entries[0][1].path}")
    if not todo:
        return
    n_chunks = -(-len(todo) // batch_size)
    with tqdm(total=total, initial=total - n_new, desc=label, unit="row", mininterval=1.0, dynamic_ncols=True) as bar:
        for c in range(n_chunks):
            chunk = todo[c * len(todo) // n_chunks : (c + 1) * len(todo) // n_chunks]  # even chunks, no tiny tail
            t0 = time.perf_counter()
            all_new = all(new for _, _, new, _ in chunk)  # else rows decoded again for a trajectory would count
            results = decode(lm, [prompts[i] for _, i, _, _ in chunk], [configs_and_entries[j][0] for j, _, _, _ in chunk],
                             batch_size=batch_size, trajectory=[t for *_, t in chunk], progress=bar.update if all_new else None)  # fmt: skip
            share = (time.perf_counter() - t0) / len(chunk)
            if not all_new:
                bar.update(sum(new for _, _, new, _ in chunk))
            for j, (dcfg, entry) in enumerate(configs_and_entries):
                mine = [(i, new, traj, r) for (jj, i, new, traj), r in zip(chunk, results) if jj == j]
                entry.append(sample_record(lm, problems[i], prompts[i], r, share) for i, new, _, r in mine if new)
                entry.append((trajectory_record(lm, problems[i].id, prompts[i], r, dcfg) for i, _, traj, r in mine if traj), name=TRAJECTORIES)


def describe(dcfg) -> str:
    from t2m.pipeline.plot import setting

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
