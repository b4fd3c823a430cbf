"""`python -m t2m.sweep`: decode, score, store and track one configuration per Hydra job.

    python -m t2m.sweep                                              # one configuration (conf/config.yaml)
    python -m t2m.sweep -m strategy=lowprob,logitdiff tau=0.1,0.3    # a grid, one job per configuration
    python -m t2m.sweep -m sweep=paper_ablation                      # a named sweep from sweeps/

A job validates its config (before anything heavy), loads the model (once per process: the basic
launcher runs every job of a sweep in this process and reuses it), decodes the problems its store
does not hold yet in chunks of `batch_size` rows, appends each finished chunk to the store, and
writes the summary, a W&B run and one summary line. Config errors end the command with status 2
and one line on stderr.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import platform
import subprocess
import sys
import time
from functools import lru_cache
from pathlib import Path

import hydra
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
from omegaconf import DictConfig, OmegaConf

from t2m import store as result_store
from t2m import tracking
from t2m.validate import ConfigError, absolute, check, exit_on_error

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
CONF_DIR = REPO / "conf"
SWEEPS_DIR = REPO / "sweeps"
_PACKAGES = ("torch", "transformers", "tokenizers", "hydra-core", "omegaconf", "wandb", "submitit", "numpy", "pandas")


def register_named_sweeps() -> None:
    """Make sweeps/*.yaml the `sweep` config group (`sweep=paper_ablation`); they live at the top
    level of the repository, beside conf/, because they are documents users read and write."""
    cs = ConfigStore.instance()
    for path in sorted(SWEEPS_DIR.glob("*.yaml")):
        cs.store(group="sweep", name=path.stem, node=OmegaConf.load(path), package="_global_", provider="t2m")


# ---- the job --------------------------------------------------------------------------------------


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
    key = run_key(cfg, dcfg, lm, data_digest)
    store = result_store.RunStore(out_dir, key)
    store.write_config(OmegaConf.to_yaml(cfg, resolve=True))

    label = describe(dcfg)
    decode_missing(lm, problems, prompts, dcfg, store, cfg.batch_size, label)

    wanted = {p.id: i for i, p in enumerate(problems)}
    records = sorted((r for r in store.records() if r["id"] in wanted), key=lambda r: wanted[r["id"]])
    summary = {
        **dcfg.to_dict(),
        "sweep_name": cfg.sweep_name,
        "model": cfg.model.name_or_path or "bundled:tiny-dllm",
        "dataset": cfg.dataset.name,
        **result_store.summarize(records, len(problems)),
        "fingerprint": store.fingerprint,
        "repro": reproducibility(cfg, lm, key),
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
        group=cfg.sweep_name,
        job_type=dcfg.strategy,
        config=OmegaConf.to_container(cfg, resolve=True),
        summary={k: v for k, v in summary.items() if k != "repro"},
        records=records,
    )
    return summary


def decode_missing(lm, problems, prompts, dcfg, store, batch_size: int, label: str) -> None:
    """Decode the problems `store` does not hold yet, appending every finished chunk."""
    from tqdm import tqdm

    import t2m

    done = store.done_ids()
    todo = [i for i, p in enumerate(problems) if p.id not in done]
    if len(todo) < len(problems):
        log.info(f"Resuming {label}: {len(problems) - len(todo)}/{len(problems)} samples already in {store.root}")
    n_chunks = -(-len(todo) // batch_size)
    with tqdm(total=len(problems), initial=len(problems) - len(todo), desc=label, unit="row", mininterval=1.0, dynamic_ncols=True) as bar:
        for c in range(n_chunks):
            chunk = todo[c * len(todo) // n_chunks : (c + 1) * len(todo) // n_chunks]  # even chunks, no tiny tail
            t0 = time.perf_counter()
            results = t2m.decode(lm, [prompts[i] for i in chunk], dcfg, batch_size=batch_size, progress=bar.update)
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


# ---- what a process loads once --------------------------------------------------------------------


@lru_cache(maxsize=2)
def get_model(name_or_path=None, revision=None, trust_remote_code=False, dtype="float32", device="cpu", mask_id=None, eos_id=None):
    """The model, loaded once per process and argument set (a sweep's jobs share it)."""
    import t2m

    t0 = time.perf_counter()
    path = None if name_or_path is None else (str(absolute(name_or_path)) if Path(str(name_or_path)).expanduser().exists() else name_or_path)
    lm = t2m.load_model(path, trust_remote_code=trust_remote_code, dtype=dtype, device=device, mask_id=mask_id, eos_id=eos_id, revision=revision)
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


# ---- what a run depends on, and what reproduces it ------------------------------------------------


def run_key(cfg, dcfg, lm, data_digest: str) -> dict:
    """Everything the samples depend on; its hash decides whether a store's samples can be reused.
    Not in it: batch_size (results do not depend on the batch) and the dataset limit (samples are
    keyed by problem id, so a larger limit reuses the smaller run's samples)."""
    return {
        "decode": dcfg.to_dict(),
        "model": {
            "name_or_path": cfg.model.name_or_path or "bundled:tiny-dllm",
            "revision": lm.revision,
            "checkpoint": checkpoint_digest(lm.name),
            "dtype": lm.dtype,
            "device": str(lm.device).split(":")[0],
        },
        "dataset": {
            "name": cfg.dataset.name,
            "path": str(absolute(cfg.dataset.path)) if cfg.dataset.path else None,
            "template": cfg.dataset.template,
            "digest": data_digest,
        },
        "code": code_digest(),
    }


@lru_cache(maxsize=None)
def code_digest() -> str:
    """Hash of the package's Python sources: samples from other code are never mixed in."""
    h = hashlib.sha256()
    for f in sorted((REPO / "t2m").rglob("*.py")):
        h.update(f.relative_to(REPO).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


@lru_cache(maxsize=None)
def checkpoint_digest(name: str) -> str | None:
    """Hash of a local checkpoint directory (small files by content, big weight files by size) so a
    retrained bundled model does not resume its predecessor's samples; None for hub ids."""
    root = Path(name)
    if not root.is_dir():
        return None
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(f.relative_to(root).as_posix().encode())
        size = f.stat().st_size
        h.update(f.read_bytes() if size < 64 << 20 else str(size).encode())
    return h.hexdigest()[:16]


def reproducibility(cfg, lm, key: dict) -> dict:
    versions = {"python": platform.python_version(), "t2m": _version("t2m")}
    versions.update({p: _version(p) for p in _PACKAGES})
    return {
        "model": key["model"]["name_or_path"],
        "model_path": lm.name,
        "model_revision": lm.revision,
        "checkpoint_digest": key["model"]["checkpoint"],
        "num_parameters": lm.num_parameters,
        "dataset": cfg.dataset.name,
        "dataset_path": key["dataset"]["path"],
        "dataset_limit": cfg.dataset.limit,
        "dataset_digest": key["dataset"]["digest"],
        "device": str(lm.device),
        "device_name": _device_name(lm.device),
        "dtype": lm.dtype,
        "seed": cfg.seed,
        "batch_size": cfg.batch_size,
        "versions": versions,
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--", "t2m", "conf", "sweeps")),
        "code_digest": key["code"],
        "host": platform.node(),
        "command": " ".join([Path(sys.executable).name, "-m", "t2m.sweep", *sys.argv[1:]]),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def wandb_dir(cfg, hc) -> Path:
    if cfg.tracker.dir:
        return absolute(cfg.tracker.dir)
    multirun = hc.mode is not None and hc.mode.name == "MULTIRUN"
    return absolute(hc.sweep.dir if multirun else hc.runtime.output_dir)


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        if package == "t2m":
            import t2m

            return t2m.__version__
        return None


@lru_cache(maxsize=None)
def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _device_name(device: str) -> str:
    if str(device).startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(torch.device(device))
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"


# ---- the command line -----------------------------------------------------------------------------


def one_line(e: Exception) -> str:
    """A config error as one line naming the key and what it allows."""
    if isinstance(e, MissingConfigException) and e.missing_cfg_file and e.options:
        group, _, option = e.missing_cfg_file.rpartition("/")
        return f"{group}={option} is unknown; allowed: {', '.join(sorted(e.options))}"
    text = " ".join(str(e).split())
    return text or type(e).__name__


def main() -> None:
    # Hydra prints its own multi-line report for config errors; let them reach us instead, so every
    # config mistake ends the same way: one line on stderr, exit status 2, nothing loaded.
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")
    # conf/, sweeps/ and the sweeper plugin (hydra_plugins/) live in the checkout beside t2m/; make the
    # plugin importable however t2m itself was installed and wherever the command is launched.
    if str(REPO) not in sys.path:
        sys.path.append(str(REPO))
    register_named_sweeps()
    task = hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")(run)
    try:
        task()
    except (ConfigError, ConfigCompositionException, OverrideParseException) as e:
        exit_on_error(one_line(e))


if __name__ == "__main__":
    # Run through the importable module, not __main__, so the task function pickles by reference
    # (hydra/launcher=submitit_local ships it to another process).
    from t2m import sweep

    sweep.main()
