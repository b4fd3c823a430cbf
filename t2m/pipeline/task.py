"""The Hydra task: one configuration, start to finish (or resumed).

A job validates its config (before anything heavy), loads the model (once per process: the basic
launcher runs every job of a sweep in this process and reuses it), decodes the problems its store
does not hold yet in chunks of `batch_size` rows, appends each finished chunk to the store, and
writes the summary, a W&B run and one summary line.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from functools import lru_cache
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from t2m.analysis import metrics
from t2m.pipeline import provenance, tracking
from t2m.pipeline import store as result_store
from t2m.pipeline.validate import ConfigError, absolute, check, exit_on_error

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> dict:
    """The Hydra task function: one configuration, start to finish (or resumed)."""
    try:
        dcfg = check(cfg)  # a sweep's jobs were checked by the sweeper already; a single run is checked here
    except ConfigError as e:
        exit_on_error(str(e))  # SystemExit: Hydra would otherwise add its own "Error executing job" line
    if cfg.threads is not None:
        import torch

        torch.set_num_threads(cfg.threads)
    hc = HydraConfig.get()
    out_dir = absolute(hc.runtime.output_dir)
    lm = get_model(**OmegaConf.to_container(cfg.model))
    problems, prompts, data_digest = get_problems(lm, **OmegaConf.to_container(cfg.dataset))
    key = provenance.run_key(cfg, dcfg, lm, data_digest)
    store = result_store.RunStore(out_dir, key)
    store.write_config(OmegaConf.to_yaml(cfg, resolve=True))

    label = describe(dcfg)
    decode_missing(lm, problems, prompts, dcfg, store, cfg.batch_size, label)

    wanted = {p.id: i for i, p in enumerate(problems)}
    records = sorted((r for r in store.records() if r["id"] in wanted), key=lambda r: wanted[r["id"]])
    summary = {
        **dcfg.to_dict(),
        "experiment": cfg.experiment,
        "model": cfg.model.name_or_path or "bundled:tiny-dllm",
        "dataset": cfg.dataset.name,
        **metrics.summarize(records, len(problems)),
        "fingerprint": store.fingerprint,
        "repro": provenance.reproducibility(cfg, lm, key),
    }
    store.write_summary(summary)
    log.info(
        f"[{OmegaConf.select(hc, 'job.num', default='run')}] {label} | acc {100 * summary['accuracy']:5.1f}% "
        f"[{100 * summary['accuracy_ci95'][0]:.1f}, {100 * summary['accuracy_ci95'][1]:.1f}] | "
        f"mods {summary['mean_modifications']:.2f} | fwd {summary['mean_forwards']:.1f} | {summary['wall_time_s']:.1f}s"
    )
    tracking.log_configuration(
        cfg.tracker,
        wandb_dir=wandb_dir(cfg, hc),
        name=out_dir.name,
        group=cfg.experiment,
        job_type=dcfg.strategy,
        config=OmegaConf.to_container(cfg, resolve=True),
        summary={k: v for k, v in summary.items() if k != "repro"},
        records=records,
    )
    return summary


def decode_missing(lm, problems, prompts, dcfg, store, batch_size: int, label: str) -> None:
    """Decode the problems `store` does not hold yet, appending every finished chunk."""
    from tqdm import tqdm

    from t2m.decoding import decode

    done = store.done_ids()
    todo = [i for i, p in enumerate(problems) if p.id not in done]
    if len(todo) < len(problems):
        log.info(f"Resuming {label}: {len(problems) - len(todo)}/{len(problems)} samples already in {store.root}")
    n_chunks = -(-len(todo) // batch_size)
    with tqdm(total=len(problems), initial=len(problems) - len(todo), desc=label, unit="row", mininterval=1.0, dynamic_ncols=True) as bar:
        for c in range(n_chunks):
            chunk = todo[c * len(todo) // n_chunks : (c + 1) * len(todo) // n_chunks]  # even chunks, no tiny tail
            t0 = time.perf_counter()
            results = decode(lm, [prompts[i] for i in chunk], dcfg, batch_size=batch_size, progress=bar.update)
            share = (time.perf_counter() - t0) / len(chunk)
            store.append(sample_record(lm, problems[i], prompts[i], r, share) for i, r in zip(chunk, results))


def sample_record(lm, problem, prompt: list[int], r, decode_share_s: float) -> dict:
    from t2m.scoring import extract_answer, is_correct

    text = lm.tokenizer.decode(r.tokens, skip_special_tokens=True)
    return {
        "id": problem.id,
        "prompt": lm.tokenizer.decode(prompt),
        "gold": problem.gold,
        "generation": text,
        "extracted": extract_answer(text),
        "correct": bool(is_correct(text, problem.gold)),
        "strict_correct": bool(is_correct(text, problem.gold, strict=True)),
        "tokens": list(r.tokens),
        "forwards": r.forwards,
        "t2t_edits": r.t2t_edits,
        "remasks": r.remasks,
        "modifications": r.t2t_edits + r.remasks,  # the paper's cost: edits for T2T, remasks for T2M
        "output_tokens": r.output_tokens,
        "steps_per_block": list(r.steps_per_block),
        "wall_time_s": r.wall_time_s,
        "decode_share_s": decode_share_s,  # this sample's share of its decode call's wall time
    }


def describe(dcfg) -> str:
    if dcfg.is_remask:
        return f"{dcfg.strategy} tau={dcfg.tau} c_max={dcfg.c_max} rho_max={dcfg.rho_max}"
    return f"{dcfg.strategy} tau={dcfg.tau} c_max=- rho_max=-"  # no remasking: the caps do not apply


@lru_cache(maxsize=2)
def get_model(name_or_path=None, revision=None, trust_remote_code=False, dtype="float32", device="cpu", mask_id=None, eos_id=None):
    """The model, loaded once per process and argument set (a sweep's jobs share it)."""
    from t2m.decoding import load_model

    t0 = time.perf_counter()
    path = None if name_or_path is None else (str(absolute(name_or_path)) if Path(str(name_or_path)).expanduser().exists() else name_or_path)
    lm = load_model(path, trust_remote_code=trust_remote_code, dtype=dtype, device=device, mask_id=mask_id, eos_id=eos_id, revision=revision)
    log.info(f"Loaded {lm.name} ({lm.num_parameters / 1e6:.1f}M parameters, {lm.dtype}, {lm.device}) in {time.perf_counter() - t0:.1f}s")
    return lm


_PROBLEMS: dict = {}


def get_problems(lm, name, path=None, limit=None, template=None, gen_length=None):
    """(problems, prompt ids, digest of the whole dataset) for a dataset config, built once per
    process and model."""
    key = (lm.name, lm.revision, name, path, limit, template)  # the checkpoint decides the tokenizer
    if key not in _PROBLEMS:
        _PROBLEMS[key] = _load_problems(lm, name, path, limit, template)
    return _PROBLEMS[key]


def _load_problems(lm, name, path, limit, template):
    from t2m import data

    everything = data.load_problems(name, str(absolute(path)) if path else None)
    digest = hashlib.sha256(json.dumps([(p.id, p.question, p.gold) for p in everything]).encode()).hexdigest()[:16]
    problems = everything if limit is None else everything[:limit]
    template = template if template is not None else data.PROMPT_TEMPLATES[name]
    prompts = [data.build_prompt(p, template, lm.tokenizer) for p in problems]
    return problems, prompts, digest


def wandb_dir(cfg, hc) -> Path:
    if cfg.tracker.dir:
        return absolute(cfg.tracker.dir)
    multirun = hc.mode is not None and hc.mode.name == "MULTIRUN"
    return absolute(hc.sweep.dir if multirun else hc.runtime.output_dir)
