"""Every shipped model config runs. `conf/model/llada2_1_mini.yaml` and `conf/model/llada_8b.yaml` name
checkpoints that cannot be downloaded here, so each is pointed at a tiny random checkpoint of its
family (tests/remote_code/, loaded as remote code like the real one) carrying the bundled tokenizer,
and the rest of the shipped config (the adapter it picks) is what runs; its code runs because the
command says model.trust_remote_code=true, as a user's must for any checkpoint but the pinned hub id."""

from __future__ import annotations

import json
import shutil

import pytest

from remote_models import build_checkpoint
from t2m.decoding.models import BUNDLED_MODEL

pytestmark = pytest.mark.slow
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def tiny_of(family: str, dest):
    """A random checkpoint of `family` whose vocabulary is the bundled tokenizer's (mask 3, EOS 2)."""
    vocab = json.loads((BUNDLED_MODEL / "config.json").read_text())["vocab_size"]
    path = build_checkpoint(dest, family, vocab_size=vocab, mask_id=3, eos_id=2, scale=3.0)
    for name in TOKENIZER_FILES:
        shutil.copy(BUNDLED_MODEL / name, path / name)
    return path


@pytest.mark.parametrize("config,family,extra", [
    ("llada2_1_mini", "llada2", ["attention=block_causal"]),
    ("llada_8b", "llada", ["unmasking=low_confidence", "steps=4"]),
])  # fmt: skip
def test_shipped_model_config_runs_on_a_tiny_model_of_its_family(t2m_cli, tmp_path, config, family, extra):
    checkpoint = tiny_of(family, tmp_path / family)
    run = tmp_path / "run"
    t2m_cli(f"model={config}", f"model.name_or_path={checkpoint}", "model.dtype=float32", "model.device=cpu",
            "model.trust_remote_code=true", "model.mask_id=3", "model.eos_id=2", "dataset.limit=3", "gen_length=32", "block_length=16", "strategy=lowprob",
            *extra, "tracker=none", f"hydra.run.dir={run}", check=True)  # fmt: skip
    summary = json.loads((run / "summary.json").read_text())
    assert summary["model"] == str(checkpoint) and summary["n"] == 3 and summary["mean_forwards"] > 0
    assert summary["attention"] == ("block_causal" if family == "llada2" else "reference")
    assert summary["unmasking"] == ("low_confidence" if family == "llada" else "threshold")
