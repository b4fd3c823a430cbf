"""The decoder at LLaDA2.1-mini's scale: throughput per batch size, memory, the ablation's GPU bill.

    python -m t2m.bench --scale llada2_1_mini    # a GPU: 16B random bf16 weights (32 GB), batch 1 .. OOM
    python -m t2m.bench --scale tiny             # the same code path on CPU (gen_length 128), minutes

The model is randomly initialised, nothing is downloaded: a native `transformers` GLM-4-MoE
(`Glm4MoeForCausalLM`) given LLaDA2.1-mini's shape: 20 layers, hidden 2048, 16 query / 4 KV heads of
128, the first layer dense (intermediate 5120), the others 256 routed experts (intermediate 512, 8 per
token, sigmoid scores, group-limited) plus 1 shared expert, a 157,184-token vocabulary. Of the native
MoE classes it is the one built like LLaDA2's BailingMoE-V2: the same routing (sigmoid, expert-bias
correction, groups, routed scaling), a shared expert without a gate, `first_k_dense_replace`, QK-norm
and partial rotary embeddings. (`--arch qwen2_moe` is the other native class of that shape, with
softmax routing and a gated shared expert: the same FLOPs.) The experts of both run as a Python
loop over experts, as in `transformers` and the paper's remote code; that loop is part of "the
model's forward" below.

Rows: random prompts of ~150 tokens, gen_length 512 with EOS early stop, blocks of 32, a mix of the
paper's strategies and caps. Random weights are given confident logits (`--logit-std`) so that
blocks take a few steps, not 32; they rarely propose EOS, so rows mostly run to gen_length (the
costly case). For each batch size it decodes one batch and prints rows/s, generated tokens/s,
row-forwards/s (a row taking part in one forward pass), the share of wall time outside the model's
forward (decoder overhead), and peak device memory; the ladder stops at the first batch size that
runs out of memory. Last, the paper's ablation (109 configurations x 100 problems) projected from
the best measured row-forwards/s, with the paper's ~120 forwards per sample and with this run's.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import platform
import random
import resource
import sys
import time

import torch

from t2m import DecodeConfig
from t2m.bench.decoder import _timed
from t2m.decoding.models import DiffusionLM, HFAdapter
from transformers.modeling_utils import no_init_weights

PAPER_SAMPLES = 109 * 100  # configurations x CMATH problems
PAPER_FORWARDS = 120  # forward passes per sample, as published (~18.5 s each, ~91.5 A100-hours in all)
PAPER_A100_HOURS = 91.5

# Model shapes: LLaDA2.1-mini's (from its config), and a small one for CPU with the same structure.
SHAPES = {
    "llada2_1_mini": dict(
        num_hidden_layers=20, hidden_size=2048, num_attention_heads=16, num_key_value_heads=4, head_dim=128,
        intermediate_size=5120, moe_intermediate_size=512, n_routed_experts=256, num_experts_per_tok=8,
        n_shared_experts=1, first_k_dense_replace=1, vocab_size=157184, n_group=8, topk_group=4,
    ),
    "tiny": dict(
        num_hidden_layers=3, hidden_size=64, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
        intermediate_size=160, moe_intermediate_size=32, n_routed_experts=16, num_experts_per_tok=4,
        n_shared_experts=1, first_k_dense_replace=1, vocab_size=8192, n_group=4, topk_group=2,
    ),
}  # fmt: skip
RUN_DEFAULTS = {
    "llada2_1_mini": dict(device="cuda", dtype="bfloat16", batch_sizes="1,8,64,256,512,1024,2048,4096"),
    "tiny": dict(device="cpu", dtype="float32", batch_sizes="1,8,64", gen_length=128),
}


def build_model(scale: str, arch: str, device: str, dtype: str, logit_std: float, seed: int = 0) -> DiffusionLM:
    """A randomly initialised native MoE causal LM of the scale's shape, on `device` directly."""
    shape = SHAPES[scale]
    config = _config(arch, shape)
    torch.manual_seed(seed)
    torch_dtype = getattr(torch, dtype)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch_dtype)
    try:  # built where it runs, in its dtype; on the meta device (shape checks) nothing to initialise
        with torch.device(device), no_init_weights() if device == "meta" else contextlib.nullcontext():
            model = _model_class(arch)(config)
    finally:
        torch.set_default_dtype(previous)
    with torch.no_grad():  # confident proposals: the final norm's output has unit RMS, so this is the logits' std
        model.lm_head.weight.normal_(0.0, logit_std / shape["hidden_size"] ** 0.5)
    model.eval()
    vocab = shape["vocab_size"]
    return DiffusionLM(model=model, tokenizer=None, mask_id=vocab - 1, eos_id=vocab - 2, name=f"random {arch} ({scale} shape)",
                       device=device, dtype=dtype, adapter=HFAdapter())  # fmt: skip


def _config(arch: str, s: dict):
    common = dict(
        vocab_size=s["vocab_size"], hidden_size=s["hidden_size"], num_hidden_layers=s["num_hidden_layers"],
        num_attention_heads=s["num_attention_heads"], num_key_value_heads=s["num_key_value_heads"],
        head_dim=s["head_dim"], intermediate_size=s["intermediate_size"], moe_intermediate_size=s["moe_intermediate_size"],
        num_experts_per_tok=s["num_experts_per_tok"], max_position_embeddings=4096, tie_word_embeddings=False,
        attn_implementation="sdpa",
    )  # fmt: skip
    if arch == "glm4_moe":
        from transformers import Glm4MoeConfig

        return Glm4MoeConfig(**common, n_routed_experts=s["n_routed_experts"], n_shared_experts=s["n_shared_experts"],
                             first_k_dense_replace=s["first_k_dense_replace"], n_group=s["n_group"], topk_group=s["topk_group"],
                             routed_scaling_factor=2.5, norm_topk_prob=True, use_qk_norm=True, partial_rotary_factor=0.5)  # fmt: skip
    if arch == "qwen2_moe":
        from transformers import Qwen2MoeConfig

        return Qwen2MoeConfig(**common, num_experts=s["n_routed_experts"], shared_expert_intermediate_size=s["moe_intermediate_size"] * s["n_shared_experts"],
                              mlp_only_layers=list(range(s["first_k_dense_replace"])), qkv_bias=False, norm_topk_prob=True)  # fmt: skip
    raise ValueError(f"--arch {arch!r} is unknown; allowed: glm4_moe, qwen2_moe")


def _model_class(arch: str):
    from transformers import Glm4MoeForCausalLM, Qwen2MoeForCausalLM  # late: transformers is slow to import

    return {"glm4_moe": Glm4MoeForCausalLM, "qwen2_moe": Qwen2MoeForCausalLM}[arch]


def active_parameters(model: DiffusionLM) -> int:
    """Parameters one token goes through (embedding lookup excluded): what 2 FLOP per parameter counts."""
    config = model.model.config
    routed = getattr(config, "n_routed_experts", None) or getattr(config, "num_experts", 0)
    total = 0
    for name, p in model.model.named_parameters():
        if "embed_tokens" in name:
            continue
        total += p.numel() * config.num_experts_per_tok // routed if ".experts." in name else p.numel()
    return total


def rows_for(model: DiffusionLM, n: int, prompt_length: int, gen_length: int, temperature: float, seed: int):
    """`n` random prompts of prompt_length ± 10 tokens and a cycle of the paper's configurations."""
    rng = random.Random(seed)
    vocab = model.model.config.vocab_size
    specials = {model.mask_id, model.eos_id}
    prompts = [[t for t in (rng.randrange(vocab) for _ in range(prompt_length + rng.randint(-10, 10))) if t not in specials] for _ in range(n)]
    mix = [("t2t", None, 0.25)] + [(s, c, r) for s in ("lowprob", "t2t_remask", "logitdiff") for c, r in ((1, 0.25), (3, 0.5), (5, 1.0))]
    configs = [
        DecodeConfig(strategy=s, c_max=c, rho_max=r, gen_length=gen_length, temperature=temperature, seed=i)
        for i, (s, c, r) in zip(range(n), itertools.cycle(mix))
    ]
    return prompts, configs


def measure(model: DiffusionLM, batch_size: int, args) -> dict:
    """Decode one batch of `batch_size` rows (at least --min-rows, in batches of batch_size)."""
    n = max(batch_size, args.min_rows)
    prompts, configs = rows_for(model, n, args.prompt_length, args.gen_length, args.temperature, seed=batch_size)
    cuda = model.device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    results, wall, forwards, forward_s = _timed(model, prompts, configs, batch_size)
    return dict(
        batch=batch_size, rows=n, wall=wall, forward_s=forward_s, row_forwards=forwards,
        tokens=sum(r.output_tokens for r in results), eos=sum(model.eos_id in r.tokens for r in results),
        peak_gb=torch.cuda.max_memory_allocated() / 1e9 if cuda else None,
    )  # fmt: skip


def _is_oom(error: BaseException) -> bool:
    return isinstance(error, torch.cuda.OutOfMemoryError) or "out of memory" in str(error).lower()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], prog="python -m t2m.bench --scale")
    ap.add_argument("--scale", choices=sorted(SHAPES), required=True)
    ap.add_argument("--arch", default="glm4_moe", choices=["glm4_moe", "qwen2_moe"])
    ap.add_argument("--device", default=None, help="default: cuda for llada2_1_mini, cpu for tiny")
    ap.add_argument("--dtype", default=None, choices=["float32", "bfloat16", "float16"])
    ap.add_argument("--batch-sizes", default=None, help="comma-separated ladder, stopped at the first out-of-memory")
    ap.add_argument("--min-rows", type=int, default=2, help="rows decoded at batch sizes below it (in batches of that size)")
    ap.add_argument("--prompt-length", type=int, default=150)
    ap.add_argument("--gen-length", type=int, default=None, help="default: 512 (tiny: 128)")
    ap.add_argument("--temperature", type=float, default=0.0, help="0: greedy (the paper); > 0 samples every row")
    ap.add_argument("--logit-std", type=float, default=32.0, help="std of the random model's logits (confidence)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = ap.parse_args(argv)
    defaults = RUN_DEFAULTS[args.scale]
    args.device = args.device or defaults["device"]
    args.dtype = args.dtype or defaults["dtype"]
    args.gen_length = args.gen_length or defaults.get("gen_length", 512)
    try:
        ladder = [int(b) for b in (args.batch_sizes or defaults["batch_sizes"]).split(",")]
    except ValueError:
        _fail(f"--batch-sizes={args.batch_sizes!r} is invalid; allowed: comma-separated integers >= 1, e.g. 1,8,64")
    if any(b < 1 for b in ladder):
        _fail(f"--batch-sizes={args.batch_sizes!r} is invalid; allowed: comma-separated integers >= 1, e.g. 1,8,64")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        _fail(f"--device {args.device}: CUDA is not available here; --scale tiny runs on CPU (or pass --device cpu)")
    if args.threads:
        torch.set_num_threads(args.threads)

    built = time.perf_counter()
    model = build_model(args.scale, args.arch, args.device, args.dtype, args.logit_std)
    built = time.perf_counter() - built
    active = active_parameters(model)
    _header(model, args, active, built)
    measure(model, 1, argparse.Namespace(**{**vars(args), "min_rows": 1, "gen_length": 64}))  # warm-up: kernels, allocator

    rows, oom_at = [], None
    for b in ladder:
        try:
            m = measure(model, b, args)
        except (torch.cuda.OutOfMemoryError, RuntimeError) as e:
            if not _is_oom(e):
                raise
            oom_at = b
            break
        rows.append(m)
        _print_row(m, rows[0])
    _summary(rows, oom_at, active, model, args)


def _fail(message: str) -> None:
    print(f"t2m.bench: {message}", file=sys.stderr)
    raise SystemExit(2)


def _header(model, args, active, built_s):
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    print(f"machine: {platform.node()} {platform.system()} {platform.machine()}, torch {torch.__version__}")
    print(f"device: {device}, dtype: {args.dtype}")
    print(f"model: {model.name}: {model.num_parameters / 1e9:.3f}B parameters, {active / 1e9:.3f}B active per token "
          f"(built in {built_s:.1f}s)")
    print(f"rows: prompts {args.prompt_length}±10 tokens, gen_length {args.gen_length}, block 32, EOS early stop, "
          f"temperature {args.temperature}, t2t + lowprob/t2t_remask/logitdiff x (c_max, rho_max) in (1, .25), (3, .5), (5, 1)")
    print(f"{'batch':>6} {'rows':>5} {'wall s':>8} {'rows/s':>8} {'tokens/s':>9} {'row-fwd/s':>10} {'fwd/row':>8} "
          f"{'outside fwd':>11} {'peak GB':>8} {'vs batch 1':>10}")


def _print_row(m, first):
    rate = m["row_forwards"] / m["wall"]
    peak = f"{m['peak_gb']:.1f}" if m["peak_gb"] is not None else "n/a"
    print(f"{m['batch']:>6} {m['rows']:>5} {m['wall']:>8.2f} {m['rows'] / m['wall']:>8.2f} {m['tokens'] / m['wall']:>9.1f} "
          f"{rate:>10.1f} {m['row_forwards'] / m['rows']:>8.1f} {100 * (1 - m['forward_s'] / m['wall']):>10.1f}% {peak:>8} "
          f"{(m['rows'] / m['wall']) / (first['rows'] / first['wall']):>9.1f}x", flush=True)


def _summary(rows, oom_at, active, model, args):
    if not rows:
        print(f"batch {oom_at} ran out of memory; nothing measured")
        return
    fits = rows[-1]["batch"]
    print(f"largest batch that fits: {fits}" + (f" (batch {oom_at} ran out of memory)" if oom_at else " (no batch size tried ran out of memory)"))
    if not args.device.startswith("cuda"):
        print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f} GB")
    best = max(rows, key=lambda m: m["row_forwards"] / m["wall"])
    rate = best["row_forwards"] / best["wall"]
    flops = 2 * active * 32 * rate  # a row-forward: 32 block tokens through the active parameters (attention scores aside)
    measured_fwd = best["row_forwards"] / best["rows"]
    where = f"{args.device} ({args.dtype})"
    print(f"best: batch {best['batch']}: {rate:,.1f} row-forwards/s, {flops / 1e12:.2f} TFLOP/s of 2 x active parameters x 32 tokens, "
          f"{100 * (1 - best['forward_s'] / best['wall']):.1f}% of wall time outside the forward")
    for label, per_sample in ((f"the paper's {PAPER_FORWARDS}", PAPER_FORWARDS), (f"this run's {measured_fwd:.0f}", measured_fwd)):
        hours = PAPER_SAMPLES * per_sample / rate / 3600
        print(f"projected paper ablation ({PAPER_SAMPLES:,} samples x {label} forwards each), computed from the throughput "
              f"measured above on {where}: {hours:.3f} device-hours = {60 * hours:.1f} minutes "
              f"(published: ~{PAPER_A100_HOURS} A100-hours)")
    floor = 2 * active * 32 * PAPER_FORWARDS * PAPER_SAMPLES
    print(f"compute of that ablation at {PAPER_FORWARDS} forwards: {floor:.2e} FLOP (the floor: divide by the device's peak FLOP/s)")


if __name__ == "__main__":
    main()
