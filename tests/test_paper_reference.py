"""t2m decodes as the paper's own code does: every case of tests/fixtures/paper_reference/cases.json,
recorded by running the reference implementation (synsis/remasked_DLM: LLaDA2.1's cached T2T
`generate` and its LowProb / T2T-Remask / LogitDiff remasking) on the tiny LLaDA2-style model stored
beside it, must come out of `t2m.decode` (attention=reference) with the same tokens and the same
counts (forward passes, output tokens, T2T edits, remasks). The fixture's README says how it was made.

oneDNN is switched off while decoding, as it was while recording: on CPUs with AVX512-BF16/AMX its
bfloat16 kernels round differently from the native ones, which moves probabilities across the
thresholds and so changes decisions.
"""

from __future__ import annotations

import json

import pytest
import torch

from remote_models import PAPER_REFERENCE, paper_reference_checkpoint
from t2m import DecodeConfig, decode, load_model

RECORDED = json.loads((PAPER_REFERENCE / "cases.json").read_text())
CASES = RECORDED["cases"]
DTYPES = sorted({c["dtype"] for c in CASES})
STRATEGY = {None: "t2t", "low_prob": "lowprob", "t2t_remask": "t2t_remask", "logit_diff": "logitdiff"}  # the paper's names -> t2m's


@pytest.fixture(scope="module", autouse=True)
def native_kernels():
    before = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    yield
    torch.backends.mkldnn.enabled = before


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    path = paper_reference_checkpoint(tmp_path_factory.mktemp("paper_reference"))
    return {dtype: load_model(path, trust_remote_code=True, dtype=dtype) for dtype in DTYPES}


def config_of(case, lm) -> DecodeConfig:
    """The paper's generate() arguments and remask knobs as a DecodeConfig."""
    s, g = case["strategy"], case["generate"]
    assert (g["temperature"], g["mask_id"], g["eos_id"]) == (0.0, lm.mask_id, lm.eos_id)  # greedy, the model's ids
    common = dict(block_length=g["block_length"], gen_length=g["gen_length"], threshold=g["threshold"],
                  max_post_steps=g["max_post_steps"], eos_early_stop=g["eos_early_stop"], attention="reference")  # fmt: skip
    if s["remask_strategy"] is None:  # LLaDA2.1's T2T: its editing threshold is t2m's tau
        return DecodeConfig(strategy="t2t", tau=g["editing_threshold"], **common)
    return DecodeConfig(strategy=STRATEGY[s["remask_strategy"]], tau=s["remask_threshold"], c_max=s["max_remask_per_pos"],
                        rho_max=s["max_remask_ratio"], **common)  # fmt: skip


def outcome(r) -> dict:
    return {"tokens": r.tokens, "forward_passes": r.forwards, "output_tokens": r.output_tokens, "t2t_edits": r.t2t_edits,
            "remask_total": r.remasks}  # fmt: skip


def mismatches(cases, results) -> list[str]:
    return [f"case {CASES.index(c)} ({c['dtype']}, {c['strategy']}, {c['generate']}): paper {c['expected']} != t2m {outcome(r)}"
            for c, r in zip(cases, results) if outcome(r) != c["expected"]]  # fmt: skip


def test_the_fixture_covers_what_it_claims():
    """Every detector, both EOS modes, prompts around the block size, edits, remasks, EOS, both dtypes."""
    strategies = {c["strategy"]["remask_strategy"] for c in CASES}
    assert strategies == set(STRATEGY) and set(DTYPES) == {"bfloat16", "float32"}
    assert {c["generate"]["eos_early_stop"] for c in CASES} == {True, False}
    block = CASES[0]["generate"]["block_length"]
    assert {block - 1, block, block + 1} <= {len(c["prompt"]) for c in CASES}
    assert sum(c["expected"]["t2t_edits"] for c in CASES) > 1000 and sum(c["expected"]["remask_total"] for c in CASES) > 1000
    assert sum(c["generate"]["eos_id"] in c["expected"]["tokens"] for c in CASES) > 50


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES)
def test_one_prompt_at_a_time_decodes_as_the_papers_code(models, dtype):
    """The paper's generate() decodes one prompt at a time; so does this."""
    lm, cases = models[dtype], [c for c in CASES if c["dtype"] == dtype]
    results = [decode(lm, [c["prompt"]], config_of(c, lm), batch_size=1)[0] for c in cases]
    assert mismatches(cases, results) == []


@pytest.mark.parametrize("dtype", DTYPES)
def test_batched_decodes_as_the_papers_code(models, dtype):
    """Every case of a dtype in batches of mixed prompts and settings: the same recorded results."""
    lm, cases = models[dtype], [c for c in CASES if c["dtype"] == dtype]
    results = decode(lm, [c["prompt"] for c in cases], [config_of(c, lm) for c in cases], batch_size=40)
    assert mismatches(cases, results) == []
