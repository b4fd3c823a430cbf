"""The engine on real `transformers` models: batching, KV cache, sampling, loading."""

import json
import random
import textwrap

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

import t2m
from t2m import DecodeConfig, decode, load_model

VOCAB, MASK, EOS = 40, 39, 2


@pytest.fixture(scope="module")
def random_checkpoint(tmp_path_factory):
    """A small random Llama whose weights are scaled up so its proposals are confident and varied."""
    path = tmp_path_factory.mktemp("rand-llama")
    config = LlamaConfig(
        vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=512, eos_token_id=EOS, bos_token_id=1, pad_token_id=0,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
    model.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def model(random_checkpoint):
    return load_model(random_checkpoint, mask_id=MASK, eos_id=EOS)


def mixed_rows(n, seed):
    rng = random.Random(seed)
    prompts = [[rng.randrange(3, MASK) for _ in range(rng.randrange(1, 60))] for _ in range(n)]
    strategies = ["t2t", "lowprob", "t2t_remask", "logitdiff", "none"]
    configs = [
        DecodeConfig(
            strategy=strategies[i % 5], tau=[0.15, 0.3, 0.2, 0.05, 0.0][i % 5], c_max=[1, 2][i % 2],
            rho_max=[0.25, 0.5, 1.0][(i // 2) % 3], gen_length=[20, 36, 40][i % 3], block_length=16,
            threshold=0.3, eos_early_stop=bool(i % 2), max_post_steps=3, refresh_cache=True,
        )
        for i in range(n)
    ]
    return prompts, configs


def key(r):
    return r.tokens, r.t2t_edits, r.remasks, r.steps_per_block


def test_batched_equals_one_by_one_with_mixed_configs(model):
    prompts, configs = mixed_rows(12, seed=1)
    batched = decode(model, prompts, configs, batch_size=12)
    alone = [decode(model, [p], c)[0] for p, c in zip(prompts, configs)]
    assert [key(r) for r in batched] == [key(r) for r in alone]
    assert sum(r.remasks for r in batched) > 0 and sum(r.t2t_edits for r in batched) > 0  # the test exercises both


def test_cached_equals_uncached(model):
    prompts, configs = mixed_rows(12, seed=2)
    cached = decode(model, prompts, configs, batch_size=5)
    uncached = decode(model, prompts, configs, batch_size=7, use_cache=False)
    assert [key(r) for r in cached] == [key(r) for r in uncached]


def test_default_cache_keeps_last_forward_of_a_capped_block(model):
    # Without refresh, a block that ended at the post-step cap leaves a cache one step behind its tokens;
    # results still decode and stay batch-independent.
    prompts, configs = mixed_rows(10, seed=3)
    configs = [c.replace(refresh_cache=False) for c in configs]
    batched = decode(model, prompts, configs, batch_size=10)
    alone = [decode(model, [p], c)[0] for p, c in zip(prompts, configs)]
    assert [key(r) for r in batched] == [key(r) for r in alone]


def test_sampling_is_seeded_and_batch_independent(model):
    prompts, configs = mixed_rows(6, seed=4)
    configs = [c.replace(temperature=0.8, top_k=20, top_p=0.9, seed=i) for i, c in enumerate(configs)]
    batched = decode(model, prompts, configs, batch_size=6)
    alone = [decode(model, [p], c)[0] for p, c in zip(prompts, configs)]
    assert [key(r) for r in batched] == [key(r) for r in alone]
    reseeded = decode(model, prompts[:1], configs[0].replace(seed=99))[0]
    greedy = decode(model, prompts[:1], configs[0].replace(temperature=0.0))[0]
    assert reseeded.tokens != batched[0].tokens or greedy.tokens != batched[0].tokens


def test_result_fields_and_progress(model):
    prompts, configs = mixed_rows(5, seed=5)
    seen = []
    results = decode(model, prompts, configs, batch_size=2, progress=seen.append)
    assert sum(seen) == 5
    for r, c in zip(results, configs):
        assert 1 <= r.output_tokens == len(r.tokens) <= c.gen_length
        assert EOS not in r.tokens[:-1]
        assert r.forwards >= sum(r.steps_per_block) >= len(r.steps_per_block)
        assert r.modifications == r.t2t_edits + r.remasks and r.wall_time_s > 0


def test_load_model_errors(tmp_path, random_checkpoint):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_model(tmp_path / "nope")
    with pytest.raises(ValueError, match="mask"):
        load_model(random_checkpoint)  # weights only, no tokenizer, no mask id in the config
    with pytest.raises(ValueError, match="dtype"):
        load_model(random_checkpoint, mask_id=MASK, eos_id=EOS, dtype="float8")
    with pytest.raises(ValueError, match="outside"):
        load_model(random_checkpoint, mask_id=VOCAB + 5, eos_id=EOS)


FAKE_LLADA2 = textwrap.dedent(
    '''
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM


    class FakeLLaDA2Config(LlamaConfig):
        model_type = "llada2_fake"


    class FakeLLaDA2ForCausalLM(LlamaForCausalLM):
        """Speaks LLaDA2.x's interface: a (batch, 1, queries, keys) mask in the model's dtype, added
        to the scores as it is (tests/remote_code/ has a fuller LLaDA2-style model)."""

        config_class = FakeLLaDA2Config

        def forward(self, input_ids=None, attention_mask=None, **kwargs):
            assert attention_mask.dtype == self.dtype and attention_mask.dim() == 4 and "logits_to_keep" not in kwargs
            return super().forward(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
    '''
)


def test_remote_code_checkpoint_needs_trust_and_decodes_like_native(tmp_path, random_checkpoint, model):
    (tmp_path / "modeling_fake.py").write_text(FAKE_LLADA2)
    cfg = json.loads((random_checkpoint / "config.json").read_text())
    cfg.update(model_type="llada2_fake", architectures=["FakeLLaDA2ForCausalLM"], mask_token_id=MASK,
               auto_map={"AutoConfig": "modeling_fake.FakeLLaDA2Config", "AutoModelForCausalLM": "modeling_fake.FakeLLaDA2ForCausalLM"})
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    (tmp_path / "model.safetensors").write_bytes((random_checkpoint / "model.safetensors").read_bytes())

    with pytest.raises(ValueError, match="trust_remote_code=True"):
        load_model(tmp_path)
    remote = load_model(tmp_path, trust_remote_code=True)
    assert type(remote.adapter).__name__ == "LLaDA2Adapter" and remote.mask_id == MASK and remote.eos_id == EOS
    prompts, configs = mixed_rows(6, seed=6)
    assert [key(r) for r in decode(remote, prompts, configs)] == [key(r) for r in decode(model, prompts, configs)]


def test_public_api_is_lazy_and_complete():
    for name in ("DecodeConfig", "DecodeResult", "decode", "load_model", "extract_answer", "is_correct"):
        assert hasattr(t2m, name)
