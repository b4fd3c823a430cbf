"""The training path (block-causal attention, the two noise streams, resumable runs) and the
committed checkpoint it produced."""

import json
import os
import subprocess
import sys

import pytest
import torch

from t2m.tiny import train
from t2m.tiny import CHECKPOINT as BUNDLED_MODEL

TINY = ["--hidden", "32", "--layers", "1", "--heads", "2", "--intermediate", "64", "--batch-size", "16",
        "--lr", "1e-2", "--warmup", "5", "--val-size", "32", "--threads", "1"]


@pytest.fixture(scope="module")
def tokenizer():
    from t2m.tiny.tokenizer import build_tokenizer

    return build_tokenizer()


def test_block_causal_mask():
    m = train.block_causal_mask(96, torch.float32, "cpu")[0, 0]
    allowed = m == 0
    assert allowed[0, 31] and not allowed[0, 32]  # a block sees itself, not the next block
    assert allowed[33, 63] and allowed[63, 0] and not allowed[63, 64]
    assert m[0, 32] == torch.finfo(torch.float32).min


@pytest.mark.parametrize("impl", ["sdpa", "eager"])
def test_model_is_block_causal(tokenizer, impl):
    torch.manual_seed(0)
    model = train.make_model(tokenizer, hidden=32, layers=1, heads=2, intermediate=64).eval()
    model.config._attn_implementation = impl
    ids = torch.randint(5, len(tokenizer), (2, 64))
    changed = ids.clone()
    changed[:, 40] = tokenizer.mask_token_id  # a token in block 1

    def logits(x):
        mask = train.block_causal_mask(64, torch.float32, "cpu").expand(2, -1, -1, -1)
        return model(input_ids=x, attention_mask=mask, position_ids=torch.arange(64)[None].expand(2, -1)).logits

    with torch.no_grad():
        a, b = logits(ids), logits(changed)
    assert torch.allclose(a[:, :32], b[:, :32], atol=1e-6)  # block 0 cannot see block 1
    assert not torch.allclose(a[:, 32:], b[:, 32:])  # block 1 sees all of itself, in both directions
    assert not torch.allclose(a[:, 32:40], b[:, 32:40])


def test_noise_never_touches_the_prompt_and_stays_in_one_block(tokenizer):
    from t2m.data.arith import training_stream

    x, plen = train.encode_samples(training_stream(0, 0, 64, frozenset()), tokenizer, 96)
    batch = train.noise_batch(x, plen, tokenizer, torch.Generator().manual_seed(0))
    ids, labels = batch["input_ids"], batch["labels"]
    noised = batch["masked"] | batch["corrupt"]
    pos = torch.arange(ids.shape[1])
    assert not (noised & (pos[None] < plen[:, None])).any()  # prompt tokens are never noised
    assert torch.equal(ids[~noised], labels[~noised])
    assert (ids[batch["masked"]] == tokenizer.mask_token_id).all()
    assert (ids[batch["corrupt"]] != labels[batch["corrupt"]]).all()
    for row in range(len(ids)):  # all noise sits in one block, at or after the first generated one
        blocks = set((pos[noised[row]] // 32).tolist())
        assert len(blocks) <= 1 and all(b >= plen[row] // 32 for b in blocks)
    assert batch["masked"].any() and batch["corrupt"].any() and batch["clean"].any()


def test_t2t_noise_digits_or_uniform(tokenizer):
    """`--t2t-noise uniform` (LLaDA2.1) draws every wrong token from the whole vocabulary; the default
    `digits` turns about half of the corrupted digits into another digit, and is what the default
    noise always was (same draws, same batch)."""
    from t2m.data.arith import training_stream

    x, plen = train.encode_samples(training_stream(0, 0, 1024, frozenset()), tokenizer, 96)
    digit_ids, spaced_ids = train._digit_tables(tokenizer)
    all_digits = torch.cat([digit_ids, spaced_ids])

    def digit_to_digit_share(noise):
        batch = train.noise_batch(x, plen, tokenizer, torch.Generator().manual_seed(0),
                                  digit_share=train.DIGIT_SHARE[noise])
        hit = batch["corrupt"] & torch.isin(batch["labels"], all_digits)
        assert hit.sum() > 200
        return torch.isin(batch["input_ids"][hit], all_digits).float().mean().item(), batch

    uniform, _ = digit_to_digit_share("uniform")
    digits, batch = digit_to_digit_share("digits")
    assert uniform < 0.15 < 0.35 < digits < 0.65  # 20 digit tokens among ~460: ~4% by chance
    default = train.noise_batch(x, plen, tokenizer, torch.Generator().manual_seed(0))
    assert all(torch.equal(default[k], batch[k]) for k in batch)
    assert train.parse_args([]).t2t_noise == "digits"
def _read_log(out):
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def test_short_training_run_lowers_the_loss_and_saves_a_loadable_model(tmp_path):
    out = tmp_path / "run"
    summary = train.main(["--out", str(out), "--steps", "40", "--eval-every", "20", "--save-every", "20", *TINY])
    log = _read_log(out)
    assert len(log) == 40
    first, last = sum(r["loss"] for r in log[:5]) / 5, sum(r["loss"] for r in log[-5:]) / 5
    assert last < 0.8 * first, (first, last)
    assert log[19]["val"]["m2t"] > summary["final_val"]["m2t"]

    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, tok = AutoModelForCausalLM.from_pretrained(out), AutoTokenizer.from_pretrained(out)
    assert model.config.mask_token_id == tok.mask_token_id and model.config.block_length == 32


def test_resume_continues_exactly_where_it_stopped(tmp_path, monkeypatch):
    args = ["--steps", "12", "--save-every", "6", "--eval-every", "6", *TINY]
    train.main(["--out", str(tmp_path / "straight"), *args])

    from t2m.data import arith

    real_stream = arith.training_stream

    def crash_at_step_8(seed, step, n, exclude):
        if step == 8:
            raise KeyboardInterrupt  # as if the job were killed after the step-6 checkpoint
        return real_stream(seed, step, n, exclude)

    monkeypatch.setattr(arith, "training_stream", crash_at_step_8)
    with pytest.raises(KeyboardInterrupt):
        train.main(["--out", str(tmp_path / "resumed"), *args])
    monkeypatch.setattr(arith, "training_stream", real_stream)
    train.main(["--out", str(tmp_path / "resumed"), "--resume", *args])

    a = torch.load(tmp_path / "straight" / "train_state.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "resumed" / "train_state.pt", weights_only=False)["model"]
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    assert [r["step"] for r in _read_log(tmp_path / "resumed")] == list(range(1, 13))


def test_resume_without_state_fails_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="train_state.pt"):
        train.main(["--out", str(tmp_path), "--resume", "--steps", "2", *TINY])


def test_committed_checkpoint_loads_offline():
    """A fresh interpreter with HF_HUB_OFFLINE=1 loads model and tokenizer through the Auto classes."""
    code = (
        "import json, sys; from transformers import AutoModelForCausalLM, AutoTokenizer\n"
        f"d = {str(BUNDLED_MODEL)!r}\n"
        "m = AutoModelForCausalLM.from_pretrained(d); t = AutoTokenizer.from_pretrained(d)\n"
        "c = m.config\n"
        "print(json.dumps({'arch': type(m).__name__, 'mask': [c.mask_token_id, t.mask_token_id, t.mask_token],"
        " 'eos': [c.eos_token_id, t.eos_token_id], 'block': c.block_length, 'pos': c.max_position_embeddings,"
        " 'params': sum(p.numel() for p in m.parameters())}))\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    info = json.loads(out.stdout.strip().splitlines()[-1])
    assert info["arch"] == "LlamaForCausalLM"
    assert info["mask"][0] == info["mask"][1] and info["mask"][2] == "<|mask|>"
    assert info["eos"][0] == info["eos"][1]
    assert info["block"] == 32 and info["pos"] >= 512
    assert info["params"] < 5_000_000
    size = sum(f.stat().st_size for f in BUNDLED_MODEL.iterdir())
    assert size <= 20 * 2**20


def test_committed_checkpoint_meets_the_accuracy_bar():
    """T2T (Q mode) on arith100 with the bundled model lands inside the 30-90% band the project promises."""
    import t2m
    from t2m.data import GEN_LENGTH, PROMPT_TEMPLATES, build_prompt, load_problems
    from t2m.scoring import is_correct

    m = t2m.load_model()
    problems = load_problems("arith100")
    prompts = [build_prompt(p, PROMPT_TEMPLATES["arith100"], m.tokenizer) for p in problems]
    config = t2m.DecodeConfig(strategy="t2t", gen_length=GEN_LENGTH["arith100"])
    results = t2m.decode(m, prompts, config, batch_size=100)
    texts = [m.tokenizer.decode(r.tokens, skip_special_tokens=True) for r in results]
    assert all(r.tokens and r.tokens[-1] == m.eos_id for r in results)  # every answer ends
    correct = sum(is_correct(t, p.gold, strict=True) for t, p in zip(texts, problems))
    assert 30 <= correct <= 90, texts[:4]
