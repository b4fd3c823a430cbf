"""The decoder on the paper's model family, loaded as remote code the way a user loads LLaDA2.1-mini:
tiny random LLaDA2-style and LLaDA 1.x-style checkpoints built here (tests/remote_code/).

- batched == one at a time, and cached == uncached, in both attention modes, which differ;
- where the paper's code would decode a block forever, the step cap ends it;
- LLaDA 1.x runs the way its own generate runs it.

Whether one row decodes exactly as the paper's own code is tests/test_paper_reference.py: recorded
outputs of that code are the oracle, not a loop written here.
"""

from __future__ import annotations

import random

import pytest

from remote_models import build_checkpoint, llada_generate
from t2m import DecodeConfig, decode, load_model

MASK, EOS = 63, 2
SETTINGS = [  # the paper's strategies at settings that edit and remask a lot on a random model
    dict(strategy="t2t", tau=0.5),
    dict(strategy="lowprob", tau=0.3, c_max=1, rho_max=0.25),
    dict(strategy="lowprob", tau=0.5, c_max=3, rho_max=1.0),
    dict(strategy="t2t_remask", tau=0.7, c_max=1, rho_max=0.5),
    dict(strategy="logitdiff", tau=0.1, c_max=3, rho_max=1.0),
]


@pytest.fixture(scope="module")
def llada2(tmp_path_factory):
    """Scaled so that T2T edits hundreds of times and blocks keep ending at the post-step cap."""
    return load_model(build_checkpoint(tmp_path_factory.mktemp("llada2"), "llada2", mask_id=MASK, eos_id=EOS, scale=6.0), trust_remote_code=True)


def prompts_of(lengths, seed):
    rng = random.Random(seed)
    return [[rng.randrange(3, MASK) for _ in range(n)] for n in lengths]


def key(r):
    return r.tokens, r.forwards, r.t2t_edits, r.remasks, r.steps_per_block


def test_remote_code_needs_trust_and_is_driven_as_llada2(tmp_path):
    path = build_checkpoint(tmp_path / "ck", "llada2", mask_id=MASK, eos_id=EOS)
    with pytest.raises(ValueError, match="trust_remote_code=True"):
        load_model(path)
    lm = load_model(path, trust_remote_code=True)
    assert type(lm.adapter).__name__ == "LLaDA2Adapter" and (lm.mask_id, lm.eos_id) == (MASK, EOS)


def test_where_the_reference_loops_forever_the_step_cap_ends_the_block(tmp_path):
    """A random model that proposes the mask token: this prompt's last block has a masked position
    whose most likely token is the mask itself, so committing it changes nothing and the block never
    runs out of masks; the paper's loop (`while True`, no step limit) would decode it forever. t2m's
    cap on steps per block ends it (see docs/decoding.md), with the mask left in the output."""
    lm = load_model(build_checkpoint(tmp_path / "ck", "llada2", mask_id=MASK, eos_id=EOS, scale=3.0, proposes_mask=True), trust_remote_code=True)
    prompt = prompts_of([3], seed=0)[0]
    r = decode(lm, [prompt], DecodeConfig(block_length=16, gen_length=40, max_post_steps=6, strategy="t2t", tau=0.5))[0]
    assert r.steps_per_block[-1] == 16 * (1 + 1) + 6 + 1 and MASK in r.tokens


def mixed_rows(n, seed):
    rng = random.Random(seed)
    prompts = prompts_of([rng.choice((3, 15, 16, 17, 31, 32, 47, 71)) for _ in range(n)], seed)
    configs = [
        DecodeConfig(block_length=16, gen_length=rng.choice([24, 40]), max_post_steps=4, eos_early_stop=bool(i % 2),
                     attention=("reference", "block_causal")[(i // 2) % 2], refresh_cache=bool((i // 4) % 2),
                     **(SETTINGS + [dict(strategy="none")])[i % 6])  # fmt: skip
        for i in range(n)
    ]
    return prompts, configs


def test_batched_equals_one_at_a_time(llada2):
    """Left padding is at minus infinity, not 0 (a 0/1 mask added to the scores lets padding in)."""
    prompts, configs = mixed_rows(24, seed=2)
    batched = decode(llada2, prompts, configs, batch_size=12)
    alone = [decode(llada2, [p], c, batch_size=1)[0] for p, c in zip(prompts, configs)]
    assert [key(r) for r in batched] == [key(r) for r in alone]


def test_wino_batched_equals_one_at_a_time(llada2):
    """WINO's drafts and re-masks (t2m/decoding/wino.py) do not depend on the batch either."""
    rng = random.Random(5)
    prompts = prompts_of([rng.choice((3, 16, 17, 40)) for _ in range(8)], 5)
    configs = [DecodeConfig(strategy="wino", unmasking="wino", threshold=0.6, tau=(0.9, 0.5)[i % 2], c_max=None, rho_max=1.0,
                            block_length=16, gen_length=rng.choice([24, 40]), max_post_steps=4, attention=("reference", "block_causal")[(i // 2) % 2])
               for i in range(8)]  # fmt: skip
    batched = decode(llada2, prompts, configs, batch_size=8)
    alone = [decode(llada2, [p], c, batch_size=1)[0] for p, c in zip(prompts, configs)]
    assert [key(r) for r in batched] == [key(r) for r in alone]
    assert sum(r.remasks for r in batched) > 0


@pytest.mark.parametrize("attention", ["reference", "block_causal"])
def test_cached_equals_uncached_with_refresh(llada2, attention):
    prompts, configs = mixed_rows(12, seed=3)
    configs = [c.replace(attention=attention, refresh_cache=True) for c in configs]
    cached = decode(llada2, prompts, configs, batch_size=12)
    uncached = decode(llada2, prompts, configs, batch_size=5, use_cache=False)
    assert [(r.tokens, r.t2t_edits, r.remasks) for r in cached] == [(r.tokens, r.t2t_edits, r.remasks) for r in uncached]


def test_the_attention_modes_differ_where_the_prompt_has_whole_blocks(llada2):
    prompts, configs = mixed_rows(12, seed=4)
    ref = decode(llada2, prompts, [c.replace(attention="reference") for c in configs])
    causal = decode(llada2, prompts, [c.replace(attention="block_causal") for c in configs])
    differ = [key(a) != key(b) for a, b in zip(ref, causal)]
    assert sum(differ) >= 3
    assert not any(d for d, p, c in zip(differ, prompts, configs) if len(p) < c.block_length)  # no prompt block: no leak


# ---- LLaDA 1.x ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def llada(tmp_path_factory):
    return load_model(build_checkpoint(tmp_path_factory.mktemp("llada"), "llada", mask_id=MASK, eos_id=EOS, scale=4.0), trust_remote_code=True)


def test_llada_1_runs_as_its_own_generate(llada):
    assert type(llada.adapter).__name__ == "LLaDAAdapter" and llada.adapter.full_canvas
    for prompt in prompts_of((5, 16, 21), seed=5):
        config = DecodeConfig(strategy="none", unmasking="low_confidence", steps=4, block_length=8, gen_length=24, eos_early_stop=False)
        r = decode(llada, [prompt], config)[0]
        tokens, forwards = llada_generate(llada.model, prompt, steps=4, gen_length=24, block_length=8, mask_id=MASK)
        assert r.tokens == (tokens[: tokens.index(EOS) + 1] if EOS in tokens else tokens)
        assert r.forwards == forwards + 3 and r.steps_per_block == [5, 5, 5]  # one confirming step per block


def test_llada_1_batches_exactly_with_any_policy(llada):
    rng = random.Random(6)
    prompts = prompts_of([rng.choice((5, 9, 16, 21)) for _ in range(10)], seed=6)
    configs = [DecodeConfig(block_length=8, gen_length=rng.choice([16, 20]), max_post_steps=3, **(SETTINGS + [dict(strategy="none")])[i % 6]) for i in range(10)]
    batched = decode(llada, prompts, configs, batch_size=10)
    alone = [decode(llada, [p], c, batch_size=1)[0] for p, c in zip(prompts, configs)]
    assert [key(r) for r in batched] == [key(r) for r in alone]


def test_verify_steps_batched_equals_one_at_a_time_and_costs_forwards(llada2):
    """verify_steps (per row, in tensors) keeps each row's results independent of its batch, and each
    verification step is a forward pass the row takes part in."""
    prompts, configs = mixed_rows(12, seed=7)
    configs = [c.replace(verify_steps=i % 3, eos_early_stop=True) for i, c in enumerate(configs)]
    batched = decode(llada2, prompts, configs, batch_size=12)
    alone = [decode(llada2, [p], c, batch_size=1)[0] for p, c in zip(prompts, configs)]
    assert [key(r) + (r.forwards,) for r in batched] == [key(r) + (r.forwards,) for r in alone]
    plain = decode(llada2, prompts, [c.replace(verify_steps=0) for c in configs], batch_size=12)
    for r, p, c in zip(batched, plain, configs):
        assert c.verify_steps or key(r) + (r.forwards,) == key(p) + (p.forwards,)  # verify_steps=0 is the default's decoding
    # A block that holds EOS when its last mask is filled ends there by default; verification reads it first.
    assert sum(r.forwards for r, c in zip(batched, configs) if c.verify_steps) > sum(p.forwards for p, c in zip(plain, configs) if c.verify_steps)
