"""The fault-and-bad-input matrix: nothing a user types and nothing that happens to a run corrupts
the result store.

Bad inputs (`BAD`, table-driven): every one ends with exit status 2 and exactly one line on stderr
naming what is wrong, before the model loads, and writes nothing at all, not even into the finished
run's directory (and store) it is pointed at. They run through the real command line (`cli.main`:
Hydra, conf/, the checks) inside this process, because ~80 Python start-ups would cost minutes on a
2-core machine; `test_sweep_e2e.test_config_errors_exit_2_...` runs a sample of them as separate
processes, and the cases that need a read-only or full filesystem run as processes in their own mount
namespace.

Faults: re-runs with the values reordered or extended, two concurrent writers, a kill and a Ctrl-C
mid-decode, a kill during W&B logging and during the report, a full disk mid-run, an accepted run
that fails in a finished run's directory, unreachable servers. Each is a real `python -m t2m.sweep`
process (`tests/inject.py` stops it at the chosen call), and each counts samples lost, duplicated and
re-decoded and duplicate W&B runs into `conftest.TALLY`, printed at the end of the test run.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO, TALLY, cli_env
from test_sweep_e2e import wandb_run

from t2m.decoding.registry import (
    STRATEGIES,  # the registry is the one list of strategies
)
from t2m.pipeline.checks.validate import THREADS_PER_CPU
from t2m.pipeline.paths import SWEEPS_DIR

INJECT = str(REPO / "tests" / "inject.py")
FAST = ("gen_length=32",)  # short answers: a real decode of a few problems takes about a second


# ---- helpers -------------------------------------------------------------------------------------


def sweep(cwd: Path, *args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "t2m.sweep", *args], cwd=cwd, env=env or cli_env(cwd), capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip


def injected(cwd: Path, target: str, when: str, action: str, *args: str, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, INJECT, target, when, action, "--", *args], cwd=cwd, env=cli_env(cwd), text=True, **popen)


def ok(p: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert p.returncode == 0, f"exit {p.returncode}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    return p


def one_line(stderr: str) -> str:
    """The command's own line: tqdm's progress bars also go to stderr, so drop their carriage-return frames."""
    lines = [line.split("\r")[-1] for line in stderr.strip().splitlines()]
    return "\n".join(line for line in lines if line.strip())


def entries(store: Path) -> dict[str, tuple[int, int]]:
    """fingerprint -> (complete lines, distinct ids) of every entry in a store."""
    out = {}
    for samples in sorted(Path(store).glob("*/samples.jsonl")):
        lines = [json.loads(line) for line in samples.read_text().splitlines() if line.strip()]
        out[samples.parent.name] = (len(lines), len({r["id"] for r in lines}))
    return out


def count_samples(before: dict, after: dict, needed: dict) -> None:
    """Add to the tally what a fault (or re-run) did to the store: `needed` is how many new samples
    each entry had to get; every other appended line is a re-decode, every repeated id a duplicate,
    every line that disappeared a loss."""
    for fp, (lines, distinct) in after.items():
        old_lines, _ = before.get(fp, (0, 0))
        TALLY["samples lost"] += max(0, old_lines - lines)
        TALLY["samples duplicated"] += lines - distinct
        TALLY["samples re-decoded"] += max(0, lines - old_lines - needed.get(fp, 0))
    TALLY["samples lost"] += sum(lines for fp, (lines, _) in before.items() if fp not in after)


def wandb_runs(root: Path) -> list[str]:
    """Run ids of the offline runs `wandb sync <root>/wandb/offline-run-*` would upload."""
    return [d.name.split("-", 3)[-1] for d in sorted((Path(root) / "wandb").glob("offline-run-*"))]


def count_wandb(root: Path, expected_ids: int) -> list[str]:
    ids = wandb_runs(root)
    TALLY["duplicate W&B runs"] += len(ids) - len(set(ids)) + max(0, len(set(ids)) - expected_ids)
    for d in (Path(root) / "wandb").glob("offline-run-*"):
        _, summary = wandb_run(d)
        TALLY["W&B stub runs (nothing logged)"] += not summary
    return ids


def survived(name: str) -> None:
    TALLY["faults survived"] += 1
    TALLY[f"fault: {name}"] += 1


def snapshot(root: Path, ignore: tuple[str, ...] = ()) -> dict:
    """Every path under root with its kind, size and modification time."""
    out = {}
    for p in sorted(Path(root).rglob("*")):
        rel = str(p.relative_to(root))
        if any(part in ignore for part in Path(rel).parts):
            continue
        st = p.lstat()
        out[rel] = ("link" if p.is_symlink() else "dir" if p.is_dir() else "file", st.st_size, 0 if p.is_dir() else st.st_mtime_ns)
    return out


# ---- bad inputs ----------------------------------------------------------------------------------


def _checkpoint():
    from t2m.tiny import CHECKPOINT

    return Path(CHECKPOINT)


def model_dir(dest: Path, change: str) -> None:
    """A copy of the bundled checkpoint with one thing wrong."""
    dest.mkdir()
    src = _checkpoint()
    for f in src.iterdir():
        if f.name == "model.safetensors":
            os.symlink(f, dest / f.name)
        else:
            shutil.copy(f, dest / f.name)
    config, tok_cfg, special = (json.loads((dest / n).read_text()) for n in ("config.json", "tokenizer_config.json", "special_tokens_map.json"))
    if change in ("no-mask", "no-eos"):
        name = "mask" if change == "no-mask" else "eos"
        config.pop(f"{name}_token_id")
        tok_cfg.pop(f"{name}_token")
        special.pop(f"{name}_token")
    elif change == "remote-code":
        config["auto_map"] = {"AutoConfig": "configuration_x.XConfig", "AutoModelForCausalLM": "modeling_x.XForCausalLM"}
    elif change in ("remote-code-marker", "tokenizer-remote-code"):  # code that leaves a file beside the checkpoint when it runs
        if change == "remote-code-marker":
            config["auto_map"] = {"AutoConfig": "configuration_x.XConfig", "AutoModelForCausalLM": "modeling_x.XForCausalLM"}
        tok_cfg["auto_map"] = {"AutoTokenizer": [None, "tokenization_x.XTokenizer"]}
        ran = f"open({str(dest.parent / 'remote-code-ran')!r}, 'w').write(__name__)\n"
        for module in ("configuration_x", "modeling_x"):
            (dest / f"{module}.py").write_text(ran)
        (dest / "tokenization_x.py").write_text(ran + "from transformers import PreTrainedTokenizerFast as XTokenizer\n")
    elif change == "no-config":
        (dest / "config.json").unlink()
    elif change == "no-tokenizer":
        for n in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
            (dest / n).unlink()
    for n, obj in (("config.json", config), ("tokenizer_config.json", tok_cfg), ("special_tokens_map.json", special)):
        if (dest / n).exists():
            (dest / n).write_text(json.dumps(obj))


GSM = '{"question": "What is 1 + 1?", "answer": "1 + 1 = 2\\n#### 2"}\n'
CMATH = '{"question": "1 + 1 = ?", "golden": "2"}\n'


@dataclass
class Bad:
    id: str
    args: list[str]
    message: str  # a fragment of the one line
    files: dict = field(default_factory=dict)  # name -> text, bytes, or ("model", change)


BAD = [
    # decoding values (ranges come from DecodeConfig)
    Bad("strategy-unknown", ["strategy=foo"], f"strategy=foo is unknown; allowed: {', '.join(sorted(STRATEGIES))}"),
    Bad("tau-above-1", ["tau=1.5"], "tau=1.5 is out of range; allowed: a number in [0, 1]"),
    Bad("tau-negative", ["tau=-1"], "tau=-1 is out of range"),
    Bad("tau-not-a-number", ["tau=abc"], "tau='abc' is out of range"),
    Bad("rho-zero", ["rho_max=0"], "rho_max=0 is out of range; allowed: a number in (0, 1]"),
    Bad("c-max-zero", ["c_max=0"], "c_max=0 is invalid; allowed: an integer >= 1"),
    Bad("c-max-fraction", ["c_max=1.5"], "c_max=1.5 is invalid"),
    Bad("unmasking-unknown", ["unmasking=nope"], "unmasking=nope is unknown; allowed: learned, low_confidence, threshold, wino"),
    Bad("steps-zero", ["unmasking=low_confidence", "steps=0"], "steps=0 is invalid; allowed: an integer >= 1"),
    Bad("attention-unknown", ["attention=full"], "attention='full' is unknown; allowed: reference, block_causal"),
    Bad("plugin-not-importable", ["plugins=[nosuch.module]"], "plugins: cannot import 'nosuch.module'"),
    Bad("block-length-zero", ["block_length=0"], "block_length=0 is invalid; allowed: an integer >= 1"),
    Bad("gen-length-zero", ["gen_length=0"], "gen_length=0 is invalid"),
    Bad("threshold-above-1", ["threshold=2"], "threshold=2 is out of range"),
    Bad("editing-threshold-negative", ["editing_threshold=-0.1"], "editing_threshold=-0.1 is out of range"),
    Bad("temperature-negative", ["temperature=-1"], "temperature=-1 is invalid"),
    Bad("top-k-zero", ["top_k=0"], "top_k=0 is invalid"),
    Bad("top-p-above-1", ["top_p=1.5"], "top_p=1.5 is out of range"),
    Bad("max-post-steps-negative", ["max_post_steps=-1"], "max_post_steps=-1 is invalid"),
    Bad("seed-negative", ["seed=-1"], "seed=-1 is invalid"),
    Bad("flag-not-boolean", ["eos_early_stop=maybe"], "eos_early_stop='maybe' is invalid; allowed: true or false"),
    # execution keys
    Bad("batch-size-zero", ["batch_size=0"], "batch_size=0 is invalid; allowed: an integer >= 1"),
    Bad("threads-zero", ["threads=0"], "threads=0 is invalid"),
    Bad("limit-zero", ["dataset.limit=0"], "dataset.limit=0 is invalid"),
    Bad("limit-not-a-number", ["dataset.limit=ten"], "dataset.limit='ten' is invalid"),
    Bad("store-if-busy-unknown", ["store.if_busy=maybe"], "store.if_busy='maybe' is unknown; allowed: wait, stop"),
    Bad("store-min-free-negative", ["store.min_free_mb=-1"], "store.min_free_mb=-1 is invalid"),
    # bounds: every number a config holds is finite and fits where it goes (threads a core count, seeds int64)
    Bad("threads-beyond-cores", ["threads=100000"], f"threads=100000 is invalid; allowed: an integer >= 1 (at most {os.cpu_count() * THREADS_PER_CPU})"),
    Bad("samples-per-prompt-huge", ["samples_per_prompt=1000000000", "temperature=0.7"], "samples_per_prompt=1000000000 is invalid; allowed: an integer >= 1 (at most 1000)"),
    Bad("seed-beyond-int64", ["seed=9223372036854775808"], "seed=9223372036854775808 is invalid; allowed: an integer >= 0 (at most 9223372036854775807)"),
    Bad("c-max-beyond-int32", ["c_max=9223372036854775807"], "c_max=9223372036854775807 is invalid; allowed: an integer >= 1 (at most 2147483647)"),
    Bad("c-max-infinite", ["c_max=inf"], "c_max=inf is invalid"),
    Bad("steps-huge", ["unmasking=low_confidence", "steps=99999999999"], "steps=99999999999 is invalid"),
    Bad("batch-size-huge", ["batch_size=99999999999"], "batch_size=99999999999 is invalid"),
    Bad("tau-nan", ["tau=nan"], "tau=nan is out of range"),
    Bad("store-min-free-nan", ["store.min_free_mb=nan"], "store.min_free_mb=nan is invalid; allowed: a finite number >= 0"),
    Bad("baseline-not-a-job-directory", ["baseline=/etc"], "baseline='/etc' is not a job directory (no samples.jsonl in it)"),
    Bad("store-wait-timeout-zero", ["store.wait_timeout_s=0"], "store.wait_timeout_s=0 is invalid; allowed: a number of seconds > 0, or null"),
    # groups, keys and the override syntax
    Bad("dataset-unknown", ["dataset=foo"], "dataset=foo is unknown; allowed: arith100, arith1000, carry_dev, carry_test, cmath, cmath100, gsm8k"),
    Bad("model-unknown", ["model=foo"], "model=foo is unknown; allowed: llada2_1_mini, llada_8b, tiny"),
    Bad("tracker-unknown", ["tracker=foo"], "tracker=foo is unknown; allowed: none, wandb_offline, wandb_online"),
    Bad("named-sweep-unknown", ["-m", "sweep=nope"], f"sweep=nope is unknown; allowed: {', '.join(sorted(s.stem for s in SWEEPS_DIR.glob('*.yaml')))}"),
    Bad("key-unknown", ["nosuchkey=1"], "nosuchkey is not a config key"),
    Bad("key-added-unknown", ["+foo=1"], "foo is not a config key"),
    Bad("key-added-typo", ["+tua=0.3"], "tua is not a config key (did you mean tau?)"),
    Bad("nested-key-added-unknown", ["+model.foo=1"], "model.foo is not a config key; allowed: model.device, model.dtype"),
    Bad("key-renamed", ["sweep_name=x"], "sweep_name was renamed; use experiment"),
    Bad("group-deleted", ["~model"], "model is missing from the config"),
    Bad("required-group-deleted", ["~strategy"], "strategy is not set"),
    Bad("group-null", ["strategy=null"], "strategy=null picks no option of the config group strategy"),
    Bad("interpolation-unknown", ["gen_length=${nope}"], "gen_length: Interpolation key 'nope' not found"),
    Bad("list-without-multirun", ["tau=0.1,0.3"], "Ambiguous value for argument 'tau=0.1,0.3'"),
    Bad("named-sweep-without-multirun", ["sweep=quick"], "sweep=quick needs -m"),
    Bad("search-as-a-single-run", ["search=cheaper", "hydra.mode=RUN"], "search=cheaper needs -m"),
    Bad("key-set-twice", ["tau=0.1", "tau=0.3"], "tau is set twice (tau=0.1 and tau=0.3)"),
    Bad("group-set-twice", ["-m", "model=tiny", "model=llada_8b"], "model is set twice (model=tiny and model=llada_8b)"),
    Bad("override-unparsable", ["tau=("], "Error parsing override 'tau=('"),
    Bad("sweep-one-bad-value", ["-m", "tau=0.1,1.5"], "tau=1.5 is out of range"),
    Bad("sweep-interval", ["-m", "tau=interval(0,1)"], "cannot be swept by listing its values"),
    Bad("tracker-mode-unknown", ["tracker.mode=foo"], "tracker.mode='foo' is unknown; allowed: offline, online, disabled"),
    # paths that would leave the results root
    Bad("experiment-escapes", ["experiment=../outside"], "experiment='../outside' is invalid"),
    Bad("experiment-absolute", ["experiment=/tmp/outside"], "experiment='/tmp/outside' is invalid"),
    Bad("experiment-is-the-store", ["experiment=store"], "experiment='store' is the store's folder"),
    # dataset files
    Bad("dataset-file-missing", ["dataset=cmath100", "dataset.path=missing.jsonl"], "dataset.path='missing.jsonl' does not exist"),
    Bad("dataset-file-is-a-directory", ["dataset=gsm8k", "dataset.path=data"], "dataset.path='data' is a directory", {"data/x": ""}),
    Bad("dataset-file-empty", ["dataset=gsm8k", "dataset.path=empty.jsonl"], "dataset.path='empty.jsonl': holds no problems", {"empty.jsonl": ""}),
    Bad("dataset-file-blank-lines", ["dataset=cmath", "dataset.path=blank.jsonl"], "holds no problems", {"blank.jsonl": "\n\n  \n"}),
    Bad("dataset-line-malformed", ["dataset=gsm8k", "dataset.path=bad.jsonl"], "dataset.path='bad.jsonl': line 3 is not valid JSON",
        {"bad.jsonl": GSM + GSM + '{"question": "2 + 2?", "answer": \n'}),  # fmt: skip
    Bad("dataset-line-not-an-object", ["dataset=gsm8k", "dataset.path=list.jsonl"], "line 2 is not a JSON object", {"list.jsonl": GSM + "[1, 2]\n"}),
    Bad("dataset-field-missing-gsm8k", ["dataset=gsm8k", "dataset.path=noanswer.jsonl"], "line 1 lacks fields; needs question and answer, has question",
        {"noanswer.jsonl": '{"question": "1 + 1?"}\n'}),  # fmt: skip
    Bad("dataset-field-missing-cmath", ["dataset=cmath", "dataset.path=nogold.jsonl"], "line 2 lacks fields; needs question (or input) and golden",
        {"nogold.jsonl": CMATH + '{"question": "2 + 2 = ?"}\n'}),  # fmt: skip
    Bad("dataset-gold-marker-missing", ["dataset=gsm8k", "dataset.path=nomarker.jsonl"], "has an answer without '#### '",
        {"nomarker.jsonl": '{"question": "1 + 1?", "answer": "2"}\n'}),  # fmt: skip
    Bad("dataset-too-small-for-cmath100", ["dataset=cmath100", "dataset.path=one.jsonl"], "one.jsonl has 1 problem; pass the test split", {"one.jsonl": CMATH}),
    Bad("dataset-cmath100-from-the-dev-split", ["dataset=cmath100", "dataset.path=dev.jsonl"],
        "dataset cmath100 is sampled from the 1,098-problem CMATH test split, but", {"dev.jsonl": CMATH * 600}),  # fmt: skip
    Bad("dataset-line-too-long", ["dataset=gsm8k", "dataset.path=long.jsonl"], "line 2 is longer than 1,048,576 bytes (MAX_LINE_BYTES)",
        {"long.jsonl": GSM + '{"question": "' + "1 + " * 2**18 + '1?", "answer": "#### 1"}\n'}),  # fmt: skip
    Bad("dataset-too-many-rows", ["dataset=gsm8k", "dataset.path=many.jsonl"], "holds more than 50,000 problems (MAX_ROWS)", {"many.jsonl": GSM * 50_001}),
    Bad("dataset-not-utf8", ["dataset=cmath", "dataset.path=latin1.jsonl"], "is not UTF-8 text", {"latin1.jsonl": b'{"question": "\xe9", "golden": "1"}\n'}),
    Bad("dataset-path-for-generated", ["dataset.path=x.jsonl"], "dataset.path is not allowed for arith100", {"x.jsonl": CMATH}),
    Bad("dataset-from-hub-offline", ["dataset=gsm8k"], "dataset=gsm8k comes from the Hugging Face hub, which is not available here"),
    Bad("sweep-with-a-bad-dataset-file", ["-m", "strategy=lowprob,logitdiff", "dataset=gsm8k", "dataset.path=empty.jsonl"], "holds no problems",
        {"empty.jsonl": ""}),  # fmt: skip
    Bad("template-without-question", ["dataset.template=Q: solve it"], "dataset.template='Q: solve it' has no {question}"),
    Bad("gen-length-beyond-positions", ["gen_length=1000"], "gen_length=1000 does not fit the model: the longest prompt"),
    Bad("sweep-with-one-gen-length-too-long", ["-m", "gen_length=32,1000"], "gen_length=1000 does not fit the model"),
    # model directories and hub ids
    Bad("model-dir-missing", ["model.name_or_path=./nowhere"], "model.name_or_path='./nowhere' does not exist"),
    Bad("model-dir-without-config", ["model.name_or_path=./ckpt"], "is not a checkpoint directory (no config.json)", {"ckpt": ("model", "no-config")}),
    Bad("model-without-mask-id", ["model.name_or_path=./ckpt"], "has no mask token", {"ckpt": ("model", "no-mask")}),
    Bad("model-without-eos-id", ["model.name_or_path=./ckpt"], "has no EOS token", {"ckpt": ("model", "no-eos")}),
    Bad("model-with-unrequested-remote-code", ["model.name_or_path=./ckpt"], "ships its own modeling code (auto_map in config.json)",
        {"ckpt": ("model", "remote-code")}),  # fmt: skip
    Bad("model-dir-under-a-remote-code-option", ["model=llada2_1_mini", "model.name_or_path=./ckpt", "model.device=cpu", "model.dtype=float32"],
        "ships its own modeling code (auto_map in config.json) and model.trust_remote_code is false", {"ckpt": ("model", "remote-code-marker")}),  # fmt: skip
    Bad("model-tokenizer-with-remote-code", ["model.name_or_path=./ckpt"], "ships its own modeling code (auto_map in tokenizer_config.json)",
        {"ckpt": ("model", "tokenizer-remote-code")}),  # fmt: skip
    Bad("model-without-tokenizer", ["model.name_or_path=./ckpt"], "has no tokenizer", {"ckpt": ("model", "no-tokenizer")}),
    Bad("model-hub-id-offline", ["model.name_or_path=nobody/nothing"], "is not a local directory, not in the Hugging Face cache"),
    Bad("model-dtype-unknown", ["model.dtype=float64"], "model.dtype='float64' is unknown; allowed: float32, bfloat16, float16"),
    Bad("model-device-unknown", ["model.device=tpu"], "model.device='tpu' is unknown"),
    Bad("model-mask-id-negative", ["model.mask_id=-1"], "model.mask_id=-1 is invalid"),
    Bad("model-mask-id-outside-vocabulary", ["model.mask_id=99999"], "model.mask_id=99999 is outside the vocabulary"),
    # results, store and report paths
    Bad("results-dir-is-a-file", ["results_dir=taken"], "results_dir=", {"taken": "a file"}),
    Bad("run-dir-under-a-file", ["hydra.run.dir=taken/run"], "cannot be created", {"taken": "a file"}),
    Bad("store-dir-is-a-file", ["store.dir=taken"], "store.dir=", {"taken": "a file"}),
    Bad("results-dir-too-little-free-space", ["store.min_free_mb=1e12"], "MB free"),
    Bad("overlay-missing", ["report.overlay=missing.csv"], "report.overlay='missing.csv' does not exist"),
    Bad("overlay-without-columns", ["report.overlay=ref.csv"], "lacks the column(s) accuracy_pct", {"ref.csv": "strategy,acc\nt2t,1\n"}),
    Bad("stats-correction-unknown", ["stats.correction=bonferroni"], "stats.correction='bonferroni' is unknown; allowed: holm, bh, none"),
    Bad("stats-correction-null", ["stats.correction=null"], "stats.correction=None is unknown; allowed: holm, bh, none"),
    Bad("stats-key-unknown", ["+stats.alpha=0.01"], "stats.alpha is not a config key; allowed: stats.correction"),
]
if not __import__("torch").cuda.is_available():
    BAD.append(Bad("model-device-cuda-without-gpu", ["model.device=cuda"], "CUDA is not available"))


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished run (with its store entry and an offline W&B run) that every bad input is pointed at."""
    root = tmp_path_factory.mktemp("finished")
    ok(sweep(root, "dataset.limit=2", *FAST, f"hydra.run.dir={root / 'run'}"))
    assert (root / "run" / "summary.json").exists() and list((root / "run" / "wandb").glob("offline-run-*"))
    return root


@pytest.fixture
def no_model(monkeypatch):
    from t2m.pipeline import task

    def no_model(**kwargs):
        raise AssertionError("the model was loaded for a bad input")

    monkeypatch.setattr(task, "get_model", no_model)


def make_files(case_dir: Path, files: dict) -> None:
    for name, content in files.items():
        path = case_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, tuple):
            model_dir(path, content[1])
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


@pytest.mark.parametrize("case", BAD, ids=[c.id for c in BAD])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(case, finished, cli, no_model, tmp_path):
    TALLY["bad inputs tried"] += 1
    case_dir = tmp_path / "case"
    case_dir.mkdir()
    make_files(case_dir, case.files)
    before = snapshot(finished), snapshot(case_dir)
    dirs = [f"{key}={finished / name}" for key, name in (("hydra.run.dir", "run"), ("hydra.sweep.dir", "sweep"))
            if not any(a.startswith(key) for a in case.args)]  # fmt: skip
    code, out, err = cli(case_dir, *case.args, *dirs)
    assert code == 2, (case.args, out, err)
    assert err.count("\n") == 1 and err.startswith("t2m.sweep: ") and case.message in err, (case.args, err)
    assert "Traceback" not in out + err and "Loaded" not in out + err
    assert (snapshot(finished), snapshot(case_dir)) == before, "a rejected input changed files"
    TALLY["bad inputs rejected with one line, exit 2, nothing written"] += 1


def test_remote_code_runs_only_when_asked_for(tmp_path):
    """The marker checkpoint of the bad inputs above does run its code once the user trusts it (so
    their unchanged snapshot is what shows that it did not run without the flag)."""
    TALLY["bad inputs tried"] += 1
    model_dir(tmp_path / "ckpt", "remote-code-marker")
    env = {**cli_env(tmp_path), "HF_MODULES_CACHE": str(tmp_path / "modules")}  # where transformers copies remote code
    args = ("model=llada2_1_mini", "model.name_or_path=./ckpt", "model.device=cpu", "model.dtype=float32", "tracker=none")
    p = sweep(tmp_path, *args, env=env, timeout=300)
    assert p.returncode == 2 and "trust_remote_code is false" in p.stderr and not (tmp_path / "remote-code-ran").exists(), p.stderr
    TALLY["bad inputs rejected with one line, exit 2, nothing written"] += 1
    sweep(tmp_path, *args, "model.trust_remote_code=true", env=env, timeout=300)
    assert (tmp_path / "remote-code-ran").read_text().endswith(".tokenization_x")  # the pre-flight loads the trusted tokenizer


def git_copy(dest: Path) -> Path:
    """The code in a git repository of its own whose tracked files all look touched since the index
    was written: `git status` there refreshes and rewrites .git/index unless told not to."""
    for name in ("t2m", "conf", "sweeps", "hydra_plugins"):
        shutil.copytree(REPO / name, dest / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(dest)]
    for step in (["init", "-q"], ["add", "."], ["commit", "-qm", "copy"]):
        subprocess.run([*git, *step], check=True, capture_output=True)
    later = time.time() + 5
    for p in (dest / "t2m").rglob("*.py"):
        os.utime(p, (later, later))
    return dest


def test_a_sweep_writes_nothing_outside_its_results_and_takes_no_git_lock(tmp_path):
    """With a fresh HOME and no W&B variables, a sweep (W&B offline, the report's plot) writes only
    under results_dir, and reading the checkout's git state leaves its index alone."""
    code, home = git_copy(tmp_path / "code"), tmp_path / "home"
    home.mkdir()
    index = (code / ".git" / "index").stat()
    env = {k: v for k, v in cli_env(tmp_path).items() if not k.startswith(("WANDB_", "XDG_", "MPLCONFIGDIR"))}
    env.update(HOME=str(home), PYTHONPATH=str(code))
    ok(sweep(tmp_path, "-m", "strategy=t2t,lowprob", "dataset.limit=2", *FAST, "results_dir=results", env=env))
    assert list((tmp_path / "results").rglob("offline-run-*"))  # W&B did log
    assert sorted(p.relative_to(tmp_path).parts[0] for p in tmp_path.iterdir()) == ["code", "home", "results"]
    assert [str(p.relative_to(home)) for p in home.rglob("*")] == []
    after = (code / ".git" / "index").stat()
    assert (after.st_ino, after.st_mtime_ns) == (index.st_ino, index.st_mtime_ns) and not (code / ".git" / "index.lock").exists()
    assert not list((code / "t2m").rglob("*.lock"))
    survived("a sweep writes nothing outside its results directory and takes no git lock")


def test_hydra_full_error_still_gives_the_traceback(tmp_path):
    p = subprocess.run([sys.executable, "-m", "t2m.sweep", "tau=1.5"], cwd=tmp_path, env={**cli_env(tmp_path), "HYDRA_FULL_ERROR": "1"},
                       capture_output=True, text=True, timeout=300)  # fmt: skip
    assert p.returncode != 0 and "Traceback" in p.stderr and "tau=1.5 is out of range" in p.stderr


# ---- bad inputs that need the real thing: a read-only or full filesystem, an unreachable host -----


def _namespaces_work() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"], capture_output=True)
    return probe.returncode == 0


needs_mounts = pytest.mark.skipif(not _namespaces_work(), reason="cannot mount a private tmpfs here (unshare -rm)")


def in_private_mount(tmp_path: Path, mount_opts: str, script: str) -> subprocess.CompletedProcess:
    """Run `script` (sh) with a fresh tmpfs mounted at $D, visible to this script only."""
    d = tmp_path / "disk"
    d.mkdir()
    full = f"set -u\nD={shlex.quote(str(d))}\nmount -t tmpfs -o {mount_opts} tmpfs \"$D\"\n{script}"
    return subprocess.run(["unshare", "-rm", "sh", "-c", full], cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=600)


@needs_mounts
@pytest.mark.parametrize("opts,message", [("ro,size=1m", "is not writable"), ("size=1m", "MB free")], ids=["read-only", "full"])
def test_results_dir_read_only_or_full_is_one_line(tmp_path, opts, message):
    TALLY["bad inputs tried"] += 1
    py = shlex.quote(sys.executable)
    p = in_private_mount(tmp_path, opts, f'{py} -m t2m.sweep results_dir="$D"; echo "rc=$?"; ls -A "$D"')
    out = p.stdout.strip().splitlines()
    assert out[0] == "rc=2" and out[1:] == [], p.stdout + p.stderr  # and nothing was written there
    assert one_line(p.stderr).count("\n") == 0 and f"results_dir='{tmp_path / 'disk'}'" in p.stderr and message in p.stderr
    TALLY["bad inputs rejected with one line, exit 2, nothing written"] += 1


@needs_mounts
@pytest.mark.slow
def test_disk_full_mid_run_keeps_every_sample_and_resumes(tmp_path):
    """An 80 KiB results disk fills up after a few chunks: one line naming the kept samples and the exact
    command that resumes; after the disk grows, that command finishes with nothing lost or repeated."""
    py = shlex.quote(sys.executable)
    script = f"""
{py} -m t2m.sweep results_dir="$D" store.min_free_mb=0 dataset.limit=100 batch_size=10 tracker=none 2> "$D.err1"; echo "rc1=$?"
cat "$D"/store/*/samples.jsonl > "$D.before"
mount -o remount,size=8m "$D"
eval "$(sed -n 's/.*resume with: //p' "$D.err1" | sed 's|^python |{py} |')" 2> "$D.err2"; echo "rc2=$?"
cp "$D"/store/*/samples.jsonl "$D.after"
"""
    p = in_private_mount(tmp_path, "size=80k", script)  # about 15 pages of run, store and view files, then chunks
    assert "rc1=2" in p.stdout and "rc2=0" in p.stdout, p.stdout + p.stderr
    err = one_line((tmp_path / "disk.err1").read_text())
    assert err.splitlines()[-1].startswith("t2m.sweep: cannot write") and "No space left on device" in err
    assert "Traceback" not in err and "Error executing job" not in err
    before = [json.loads(line) for line in (tmp_path / "disk.before").read_text().splitlines() if line.endswith("}")]
    after = [json.loads(line) for line in (tmp_path / "disk.after").read_text().splitlines()]
    assert 0 < len(before) < 100 and f"kept {len(before)} of 100 samples" in err
    assert after[: len(before)] == before and len(after) == len({r["id"] for r in after}) == 100
    count_samples({"e": (len(before), len(before))}, {"e": (len(after), len({r["id"] for r in after}))}, {"e": 100 - len(before)})
    survived("disk full mid-run")


@pytest.fixture
def silent_server():
    """The URL of a server that accepts connections and never answers (a hung proxy, a firewall)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)  # connections complete in the kernel's backlog; nobody ever reads or answers them
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    server.close()


def test_unreachable_hub_fails_fast(tmp_path, silent_server):
    """A hub id, no HF_HUB_OFFLINE and a hub that does not answer: one line within seconds, not a
    30 s retry loop."""
    TALLY["bad inputs tried"] += 1
    env = {k: v for k, v in cli_env(tmp_path).items() if k != "HF_HUB_OFFLINE"}
    env.update(HF_ENDPOINT=silent_server, HF_HOME=str(tmp_path / "hf"))
    # The line names the probe's timeout, so the run ended at the probe, not in huggingface_hub's
    # retry loop (no wall-clock bound: this box's start-up time varies too much under load).
    p = sweep(tmp_path, "model.name_or_path=nobody/nothing", env=env, timeout=120)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and f"cannot reach {silent_server} (timed out)" in p.stderr, p.stderr
    TALLY["bad inputs rejected with one line, exit 2, nothing written"] += 1


# ---- faults --------------------------------------------------------------------------------------

@pytest.mark.slow
def test_reorder_extend_and_larger_limit_decode_nothing_twice(tmp_path, cli):
    sweep_dir = tmp_path / "sweep"
    common = ("dataset.limit=3", *FAST, "batch_size=3", "baseline=none", f"hydra.sweep.dir={sweep_dir}")  # no auto-added T2T run
    assert cli(tmp_path, "-m", "strategy=lowprob,logitdiff", "tau=0.1,0.3", *common)[0] == 0
    store = tmp_path / "results" / "store"
    first = entries(store)
    assert len(first) == 4 and all(v == (3, 3) for v in first.values())

    # The same configurations in another order, plus two new ones (tau=0.2): only the new ones decode.
    code, out, err = cli(tmp_path, "-m", "strategy=logitdiff,lowprob", "tau=0.3,0.2,0.1", *common)
    assert code == 0, err
    second = entries(store)
    assert len(second) == 6 and {fp: second[fp] for fp in first} == first
    assert (out + err).count("3/3 samples already") == 4
    count_samples(first, second, {fp: 3 for fp in second if fp not in first})
    table = pd.read_csv(sweep_dir / "sweep_results.csv")
    assert len(table) == 6 == table["fingerprint"].nunique()  # nine job directories (one name recurs), six configurations
    assert len([d for d in sweep_dir.iterdir() if d.name[0].isdigit()]) == 9
    count_wandb(sweep_dir, expected_ids=6 + 1)  # six configuration runs and one sweep run

    # A larger limit: the configuration gets only the problems it lacks; a single run says where its results went.
    code, out, err = cli(tmp_path, "strategy=lowprob", "tau=0.1", "dataset.limit=5", *FAST, "tracker=none", f"hydra.run.dir={tmp_path / 'run'}")
    assert code == 0, err
    third = entries(store)
    grown = [fp for fp in third if third[fp] != second[fp]]
    assert len(grown) == 1 and third[grown[0]] == (5, 5) and "3/5 samples already" in out + err
    assert "Results: run (summary.json" in out + err  # where its results went, relative to where the command ran (tmp_path)
    count_samples(second, third, {grown[0]: 2})
    survived("re-run with the values reordered")
    survived("grid extended")
    survived("larger dataset limit")


@pytest.mark.slow
def test_two_concurrent_writers(tmp_path, cli):
    """A (a real process, paused after its first chunk) holds the configuration. C (if_busy=stop)
    stops with one line naming A's host and pid; D, another configuration, cannot have A's job
    directory; B (a real process, if_busy=wait) waits, then finds everything A decoded."""
    gate = tmp_path / "gate"
    args = ("strategy=lowprob", "dataset.limit=6", *FAST, "batch_size=2", "tracker=none")
    a = injected(tmp_path, "t2m.pipeline.store.entries:Entry.append", "after:1", f"pause:{gate}", *args, f"hydra.run.dir={tmp_path / 'a'}",
                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    b = None
    try:
        deadline = time.time() + 300
        while not Path(f"{gate}.ready").exists():
            assert a.poll() is None and time.time() < deadline, a.communicate()
            time.sleep(0.1)
        holder = f"in use by host {socket.gethostname()}, pid {a.pid}"

        code, _, err = cli(tmp_path, *args, "store.if_busy=stop", f"hydra.run.dir={tmp_path / 'c'}")
        assert code == 75 and err.count("\n") == 1 and f"is {holder}" in err and "t2m.sweep: configuration" in err, err
        code, out, err = cli(tmp_path, "strategy=none", *args[1:], "store.if_busy=stop", f"hydra.run.dir={tmp_path / 'a'}")
        assert code == 75 and err.count("\n") == 1 and err.startswith(f"t2m.sweep: job directory {tmp_path / 'a'} is {holder} (since "), err
        assert "Loaded" not in out + err  # a busy job directory is known before the model loads

        b = subprocess.Popen([sys.executable, "-m", "t2m.sweep", *args, f"hydra.run.dir={tmp_path / 'b'}"], cwd=tmp_path,
                             env=cli_env(tmp_path), stdout=(tmp_path / "b.out").open("w"), stderr=subprocess.STDOUT, text=True)  # fmt: skip
        while "Waiting for configuration" not in (tmp_path / "b.out").read_text():
            assert b.poll() is None and time.time() < deadline, (tmp_path / "b.out").read_text()
            time.sleep(0.1)
        gate.touch()
        assert a.wait(timeout=300) == 0, a.communicate()
        assert b.wait(timeout=300) == 0, (tmp_path / "b.out").read_text()
    finally:
        for proc in (a, b):
            if proc is not None and proc.poll() is None:
                proc.kill()
    b_log = (tmp_path / "b.out").read_text()
    assert holder in b_log and "6/6 samples already" in b_log
    (entry,) = entries(tmp_path / "results" / "store").items()
    assert entry[1] == (6, 6)
    count_samples({}, dict([entry]), {entry[0]: 6})
    summaries = [json.loads((tmp_path / x / "summary.json").read_text()) for x in ("a", "b")]
    assert summaries[0]["accuracy"] == summaries[1]["accuracy"] and summaries[0]["fingerprint"] == summaries[1]["fingerprint"]
    assert not (tmp_path / "c" / "summary.json").exists()
    survived("second writer of the same configuration stops (if_busy=stop)")
    survived("second writer of the same configuration waits, then decodes nothing (if_busy=wait)")
    survived("another configuration into a busy job directory")


@pytest.mark.slow
def test_a_failed_run_never_displaces_a_finished_one_and_ctrl_c_says_how_to_resume(tmp_path, cli, monkeypatch):
    """Configuration X finished in R. Y, accepted and started in R, is interrupted mid-decode: one line
    saying what was kept and the command that resumes, and R still shows X, every file unchanged. That
    command finishes Y from its kept samples; only then does X's view move to R/stale/ (its samples stay
    in the store)."""
    from t2m.pipeline.store.entries import Entry

    run_dir = tmp_path / "R"
    common = ("dataset.limit=4", *FAST, "batch_size=2", "tracker=none")
    assert cli(tmp_path, "strategy=lowprob", *common, f"hydra.run.dir={run_dir}")[0] == 0
    x_view = snapshot(run_dir, ignore=("task.log", ".t2m.lock"))
    x_summary = json.loads((run_dir / "summary.json").read_text())

    append = Entry.append

    def append_then_ctrl_c(self, records):
        append(self, records)
        raise KeyboardInterrupt  # what Ctrl-C raises, here right after the first chunk is durable

    monkeypatch.setattr(Entry, "append", append_then_ctrl_c)
    code, out, err = cli(tmp_path, "strategy=none", *common, f"hydra.run.dir={run_dir}")
    monkeypatch.setattr(Entry, "append", append)
    assert code == 130 and "Traceback" not in err, err
    line = one_line(err).splitlines()[-1]
    assert line.startswith("t2m.sweep: interrupted; kept 2/4 samples of none tau=0.0") and f"under {run_dir}; resume with: " in line
    assert snapshot(run_dir, ignore=("task.log", ".t2m.lock")) == x_view
    before = entries(tmp_path / "results" / "store")
    assert sorted(before.values()) == [(2, 2), (4, 4)]

    argv = shlex.split(line.split("resume with: ", 1)[1])
    assert argv[:3] == ["python", "-m", "t2m.sweep"]
    code, out, err = cli(tmp_path, *argv[3:])
    assert code == 0 and "2/4 samples already" in out + err, err
    after = entries(tmp_path / "results" / "store")
    count_samples(before, after, {fp: 2 for fp, v in before.items() if v == (2, 2)})
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["strategy"] == "none" and summary["n"] == 4
    (stale,) = (run_dir / "stale").iterdir()
    assert json.loads((stale / "summary.json").read_text()) == x_summary
    survived("accepted run interrupted in a finished run's directory")


@pytest.mark.slow
def test_ctrl_c_of_a_real_process_is_one_line_with_the_command_that_resumes(tmp_path, cli):
    args = ("strategy=lowprob", "dataset.limit=6", *FAST, "batch_size=2", "tracker=none")
    p = injected(tmp_path, "t2m.pipeline.store.entries:Entry.append", "after:1", "int", *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 130, err
    line = one_line(err).splitlines()[-1]
    assert "Traceback" not in err and line.startswith("t2m.sweep: interrupted; kept 2/6 samples of lowprob tau=0.3"), err
    command = line.split("resume with: ", 1)[1]
    assert re.search(r"hydra\.run\.dir=\S+/results/runs/\S+$", command), command  # pinned to the directory it was writing
    before = entries(tmp_path / "results" / "store")
    argv = shlex.split(command)
    code, out, err = cli(tmp_path, *argv[3:])
    assert code == 0 and "2/6 samples already" in out + err, err
    after = entries(tmp_path / "results" / "store")
    assert list(after.values()) == [(6, 6)]
    count_samples(before, after, {fp: 4 for fp in after})
    survived("Ctrl-C (SIGINT) mid-decode")


@pytest.mark.slow
def test_kills_during_wandb_and_during_the_report(tmp_path, cli):
    """A kill while W&B logs a configuration, then one while the report writes the plot: the re-run
    logs each configuration once under its run id (the partial copy moves aside), and the table and
    plot are the old ones or complete new ones, never torn."""
    from t2m.pipeline import report

    sweep_dir = tmp_path / "sweep"
    args = ("-m", "strategy=lowprob,none", "dataset.limit=2", *FAST, "baseline=none", f"hydra.sweep.dir={sweep_dir}")
    p = injected(tmp_path, "wandb.sdk.wandb_run:Run.log", "after:1", "kill", *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.communicate(timeout=300)
    assert p.returncode == -signal.SIGKILL
    assert len(wandb_runs(sweep_dir)) == 1  # the first configuration's run, cut short
    before = entries(tmp_path / "results" / "store")

    code, out, err = cli(tmp_path, *args)
    assert code == 0, err
    after = entries(tmp_path / "results" / "store")
    count_samples(before, after, {fp: 2 for fp in after if fp not in before})
    ids = count_wandb(sweep_dir, expected_ids=2 + 1)
    assert len(ids) == 3 and len(list((sweep_dir / "wandb" / "superseded").iterdir())) == 1
    survived("kill during W&B logging")

    png, csv = (sweep_dir / report.PLOT_PNG).read_bytes(), (sweep_dir / report.TABLE_CSV).read_text()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    p = injected(tmp_path, "matplotlib.figure:Figure.savefig", "before:1", "torn:100", *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.communicate(timeout=300)
    assert p.returncode == -signal.SIGKILL
    assert (sweep_dir / report.PLOT_PNG).read_bytes() == png and (sweep_dir / report.TABLE_CSV).read_text() == csv
    assert entries(tmp_path / "results" / "store") == after
    assert report.main([str(sweep_dir)]) == 0  # `python -m t2m.report <dir>` completes it
    assert (sweep_dir / report.PLOT_PNG).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert count_wandb(sweep_dir, expected_ids=3) == ids  # nothing new on the W&B side
    survived("kill during the report")


@pytest.mark.slow
def test_two_sweeps_sharing_configurations_log_each_to_w_and_b_once(tmp_path, cli):
    """Sweep B shares a configuration with sweep A (another directory): B links to A's W&B run (its
    summary names the run id and A's directory) and writes no second offline copy of it, so that
    `wandb sync` of both directories uploads each configuration once."""
    a, b = tmp_path / "a", tmp_path / "b"
    common = ("dataset.limit=2", *FAST, "baseline=none")
    assert cli(tmp_path, "-m", "strategy=lowprob,none", *common, f"hydra.sweep.dir={a}")[0] == 0
    code, out, err = cli(tmp_path, "-m", "strategy=lowprob,logitdiff", *common, f"hydra.sweep.dir={b}")
    assert code == 0, err
    in_a, in_b = wandb_runs(a), wandb_runs(b)
    TALLY["duplicate W&B runs"] += len(set(in_a) & set(in_b))
    assert len(in_a) == 3 and len(in_b) == 2 and not set(in_a) & set(in_b), (in_a, in_b)  # two configurations and the sweep; one and the sweep
    summaries = [json.loads(p.read_text()) for p in sorted(b.glob("*/summary.json"))]
    (shared,) = [s for s in summaries if s["strategy"] == "lowprob"]
    assert shared["wandb_run"] in in_a and shared["wandb_dir"] == str(a)
    (own,) = [s for s in summaries if s["strategy"] == "logitdiff"]
    assert own["wandb_run"] in in_b and own["wandb_dir"] == str(b)
    survived("a second sweep sharing configurations (one W&B run per configuration across directories)")


def descendants(pid: int) -> set[int]:
    """Every process below `pid` (children, their children, ...), from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@pytest.mark.slow
def test_local_workers_die_with_a_killed_sweep(tmp_path):
    """hydra/launcher=local: kill -9 of the sweep mid-decode ends its worker processes (and submitit's
    controller between them) within seconds, instead of leaving them decoding, holding a GPU."""
    args = ("-m", "strategy=t2t,lowprob,logitdiff,none", "hydra/launcher=local", "hydra.launcher.jobs=2", "dataset.limit=200", "batch_size=2",
            *FAST, "tracker=none", "baseline=none")  # fmt: skip
    p = subprocess.Popen([sys.executable, "-m", "t2m.sweep", *args], cwd=tmp_path, env=cli_env(tmp_path), stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)  # fmt: skip
    below: set[int] = set()
    try:
        deadline = time.time() + 300
        while not any(lines for lines, _ in entries(tmp_path / "results" / "store").values()):  # a worker is decoding
            assert p.poll() is None and time.time() < deadline, "the sweep ended or never decoded"
            time.sleep(0.2)
        below = descendants(p.pid)
        assert len(below) >= 3, below  # the controller and both workers
        p.kill()
        p.wait()
        gone_by = time.time() + 5
        while any(map(running, below)) and time.time() < gone_by:
            time.sleep(0.1)
        assert not [pid for pid in below if running(pid)], "workers outlived the sweep"
    finally:
        for pid in [p.pid, *below]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    survived("kill -9 of a sweep with local workers (they end with it)")


@pytest.mark.slow
def test_unreachable_wandb_server_is_one_line_within_seconds(tmp_path, cli, monkeypatch):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{closed.getsockname()[1]}"  # bound, never listening: connections are refused
    monkeypatch.setenv("WANDB_BASE_URL", url)
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    t0 = time.perf_counter()
    code, out, err = cli(tmp_path, "tracker=wandb_online", "dataset.limit=2", *FAST, f"hydra.run.dir={tmp_path / 'run'}")
    took = time.perf_counter() - t0
    closed.close()
    assert code == 0, err
    warnings = [line for line in (out + err).splitlines() if "W&B" in line]
    assert len(warnings) == 1 and f"cannot reach {url} (Connection refused)" in warnings[0], warnings
    assert len(wandb_runs(tmp_path / "run")) == 1  # written offline, for `wandb sync` later
    assert took < 60, took  # W&B's own wait for a server that does not answer is 90 s
    survived("unreachable W&B server")


# ---- a result store that is never wrong ------------------------------------------------------------


def _two_checkpoints(root: Path) -> tuple[Path, Path]:
    """The bundled model saved twice: the same config, tokenizer and file sizes, other weights."""
    import torch

    from t2m.decoding import load_model

    lm = load_model(str(_checkpoint()))
    dirs = root / "ckpt_a", root / "ckpt_b"
    for d, shift in zip(dirs, (0.0, 0.01)):
        with torch.no_grad():
            for p in lm.model.parameters():
                p.add_(shift)
        lm.model.save_pretrained(d)
        for f in _checkpoint().iterdir():
            if not (d / f.name).exists():
                shutil.copy(f, d / f.name)
    return dirs


@pytest.mark.slow
def test_checkpoints_with_equal_sizes_and_other_weights_are_two_configurations(tmp_path, cli):
    a, b = _two_checkpoints(tmp_path)
    assert {f.name: f.stat().st_size for f in a.iterdir()} == {f.name: f.stat().st_size for f in b.iterdir()}
    assert (a / "model.safetensors").read_bytes() != (b / "model.safetensors").read_bytes()
    args = ("dataset.limit=4", *FAST, "tracker=none")
    assert cli(tmp_path, f"model.name_or_path={a}", *args, f"hydra.run.dir={tmp_path / 'ra'}")[0] == 0
    before = entries(tmp_path / "results" / "store")
    code, out, err = cli(tmp_path, f"model.name_or_path={b}", *args, f"hydra.run.dir={tmp_path / 'rb'}")
    assert code == 0 and "already" not in out + err, err
    after = entries(tmp_path / "results" / "store")
    assert len(after) == 2 and sorted(after.values()) == [(4, 4), (4, 4)]
    count_samples(before, after, {fp: 4 for fp in after if fp not in before})
    fps = {json.loads((tmp_path / r / "summary.json").read_text())["fingerprint"] for r in ("ra", "rb")}
    assert len(fps) == 2
    survived("two checkpoints of equal sizes, other weights")


def _paused_holder(tmp_path: Path, args: tuple) -> tuple[subprocess.Popen, Path]:
    """A real run that holds its configuration, paused after its first chunk."""
    gate = tmp_path / "gate"
    a = injected(tmp_path, "t2m.pipeline.store.entries:Entry.append", "after:1", f"pause:{gate}", *args, f"hydra.run.dir={tmp_path / 'a'}",
                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    deadline = time.time() + 300
    while not Path(f"{gate}.ready").exists():
        assert a.poll() is None and time.time() < deadline, a.communicate()
        time.sleep(0.1)
    return a, gate


@pytest.mark.slow
def test_a_deleted_lock_file_lets_no_second_writer_in(tmp_path, cli):
    """The configuration's .lock deleted by hand while A (a real process) decodes it: C with
    if_busy=stop still stops with one line naming A, and nothing is decoded twice."""
    args = ("strategy=lowprob", "dataset.limit=6", *FAST, "batch_size=2", "tracker=none")
    a, gate = _paused_holder(tmp_path, args)
    try:
        (lock,) = (tmp_path / "results" / "store").glob("*/.lock")
        lock.unlink()
        code, _, err = cli(tmp_path, *args, "store.if_busy=stop", f"hydra.run.dir={tmp_path / 'c'}")
        assert code == 75 and one_line(err).count("\n") == 0 and f"in use by host {socket.gethostname()}, pid {a.pid}" in err, err
        gate.touch()
        assert a.wait(timeout=300) == 0, a.communicate()
    finally:
        if a.poll() is None:
            a.kill()
    (entry,) = entries(tmp_path / "results" / "store").items()
    assert entry[1] == (6, 6)
    count_samples({}, dict([entry]), {entry[0]: 6})
    survived("lock file deleted by hand while held")


@pytest.mark.slow
def test_a_stopped_holder_is_named_and_a_waiter_gives_up_with_the_command_that_resumes(tmp_path, cli):
    args = ("strategy=lowprob", "dataset.limit=6", *FAST, "batch_size=2", "tracker=none")
    a, gate = _paused_holder(tmp_path, args)
    try:
        os.kill(a.pid, signal.SIGSTOP)
        code, out, err = cli(tmp_path, *args, "store.wait_timeout_s=3", f"hydra.run.dir={tmp_path / 'b'}")
        line = one_line(err).splitlines()[-1]
        assert code == 75 and line.startswith("t2m.sweep: ") and "which is stopped (SIGSTOP or Ctrl-Z)" in line, err
        assert "gave up after 3 s (store.wait_timeout_s); resume with: python -m t2m.sweep" in line
        assert (out + err).count("is stopped") == 2  # said once while waiting, once in the last line
        os.kill(a.pid, signal.SIGCONT)
        gate.touch()
        assert a.wait(timeout=300) == 0, a.communicate()
    finally:
        os.kill(a.pid, signal.SIGCONT) if a.poll() is None else None
        if a.poll() is None:
            a.kill()
    before = entries(tmp_path / "results" / "store")
    code, out, err = cli(tmp_path, *shlex.split(line.split("resume with: ", 1)[1])[3:])
    assert code == 0 and "6/6 samples already" in out + err, err
    assert entries(tmp_path / "results" / "store") == before == {fp: (6, 6) for fp in before}
    count_samples({}, before, {fp: 6 for fp in before})
    survived("holder stopped with SIGSTOP")


@pytest.mark.slow
def test_a_hand_edited_store_is_said_in_one_line_and_never_counted(tmp_path, cli, capfd):
    """A record duplicated and another edited by hand: one line, neither counted, `verify` lists
    both and exits 1; the sweep run again decodes only the edited problem, and the numbers are the
    first run's."""
    from t2m.pipeline import report

    sweep_dir = tmp_path / "sweep"
    args = ("-m", "strategy=lowprob", "dataset.limit=3", *FAST, "baseline=none", "tracker=none", f"hydra.sweep.dir={sweep_dir}")
    assert cli(tmp_path, *args)[0] == 0
    first = pd.read_csv(sweep_dir / report.TABLE_CSV)[["accuracy", "n"]].to_dict("records")
    (samples,) = (tmp_path / "results" / "store").glob("*/samples.jsonl")
    lines = samples.read_text().splitlines()
    edited = json.loads(lines[1])
    edited["correct"] = not edited["correct"]
    samples.write_text("\n".join([lines[0], json.dumps(edited), lines[2], lines[0]]) + "\n")

    capfd.readouterr()
    assert report.main(["verify", str(tmp_path / "results")]) == 1
    out = capfd.readouterr().out.splitlines()
    assert len(out) == 3 and f"{edited['id']} fails its checksum" in out[0] and "is stored again (a duplicate)" in out[1]
    assert out[2].endswith("1 entries, 2 samples counted, 2 problem(s)")

    code, out, err = cli(tmp_path, *args)
    assert code == 0 and "2/3 samples already" in out + err, err
    warned = [line for line in (out + err).splitlines() if "not counted" in line]
    assert len(warned) == 1 and "2 record(s) not counted" in warned[0]
    assert pd.read_csv(sweep_dir / report.TABLE_CSV)[["accuracy", "n"]].to_dict("records") == first
    assert len(samples.read_text().splitlines()) == 5  # the edited problem decoded once more; nothing rewritten
    survived("store edited by hand (a duplicate and an edited record)")


@pytest.mark.slow
def test_a_corrupt_key_json_is_one_line_with_the_repair(tmp_path, cli):
    args = ("strategy=lowprob", "dataset.limit=2", *FAST, "tracker=none")
    assert cli(tmp_path, *args, f"hydra.run.dir={tmp_path / 'run'}")[0] == 0
    (key,) = (tmp_path / "results" / "store").glob("*/key.json")
    key.write_text(key.read_text()[:40])  # truncated
    before = snapshot(tmp_path, ignore=(".wandb_config_dir", ".wandb_cache_dir", ".wandb_data_dir"))
    code, out, err = cli(tmp_path, *args, f"hydra.run.dir={tmp_path / 'run'}")
    assert code == 2 and one_line(err).count("\n") == 0 and "Traceback" not in out + err, err
    assert f"{key} is missing, truncated or not JSON; repair: move the entry away (mv {key.parent} {key.parent}.broken)" in err
    quiet = (".wandb_config_dir", ".wandb_cache_dir", ".wandb_data_dir", "task.log", ".t2m.lock")  # the log and the lock it took
    assert snapshot(tmp_path, ignore=quiet) == {k: v for k, v in before.items() if not k.endswith(("task.log", ".t2m.lock"))}
    survived("truncated key.json")


@pytest.mark.slow
def test_report_on_a_results_root_and_a_run_inside_a_sweep_are_refused(tmp_path, cli, capfd):
    """`python -m t2m.report results` names each sweep's command and writes nothing; a run started
    inside a finished sweep's folder is one line, and the sweep still has its configurations."""
    from t2m.pipeline import report

    sweeps = [tmp_path / "results" / "x" / name for name in ("s1", "s2")]
    for s in sweeps:
        assert cli(tmp_path, "-m", "strategy=lowprob,none", "dataset.limit=2", *FAST, "baseline=none", "tracker=none", f"hydra.sweep.dir={s}")[0] == 0
    before = snapshot(tmp_path / "results")
    capfd.readouterr()
    assert report.main([str(tmp_path / "results")]) == 2
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "holds 2 sweep(s)" in err and all(f"python -m t2m.report {s}" in err for s in sweeps), err
    assert snapshot(tmp_path / "results") == before
    TALLY["bad inputs tried"] += 1
    TALLY["bad inputs rejected with one line, exit 2, nothing written"] += 1

    code, out, err = cli(sweeps[0], "strategy=lowprob", "dataset.limit=2", *FAST, "tracker=none")
    assert code == 2 and err.count("\n") == 1 and f"would start a second results directory inside {tmp_path / 'results'}" in err, err
    assert snapshot(tmp_path / "results") == before
    assert report.main([str(sweeps[0])]) == 0 and len(pd.read_csv(sweeps[0] / report.TABLE_CSV)) == 2
    TALLY["bad inputs tried"] += 1
    TALLY["bad inputs rejected with one line, exit 2, nothing written"] += 1
