"""Train the bundled tiny masked diffusion LM on the `arith` generator.

    python -m t2m.tiny.train --out outputs/tiny-dllm --steps 8000 --compile --threads 2 --export my-tiny-dllm
    python -m t2m.tiny.train --out outputs/tiny-dllm --steps 8000 --compile --resume   # after an interruption

    python -m t2m.tiny.train --out outputs/carry --task carry --seq-len 64 --t2t-noise uniform --weight-decay 0.1 --steps 8000 --compile

(`t2m/tiny/README.md` gives the exact commands behind the bundled checkpoints.) A model trained here
saw block-causal attention only: decode it with `attention=block_causal` (`model=tiny_carry` sets it;
the bundled `tiny-dllm` also tolerates the default `reference`, a model of your own may not).

The model is a plain `transformers` Llama (no remote code) used as a masked diffusion LM: attention
is block-causal with blocks of 32 aligned at position 0 (a query sees its own block and every
earlier one), fed as a 4D additive mask with explicit position ids, exactly as the decoder runs it.

Training follows LLaDA2.1's two streams on sequences `[bos] prompt target eos eos ...`:
for each sample pick one generation block k; blocks before k stay clean (at decode time they are
finished), blocks after k are cut off (block-causal attention means they could not matter anyway).
Inside block k, over the non-prompt positions:
  * M2T stream: mask a fraction t ~ U(0, 1] and predict the original tokens there;
  * T2T stream: overwrite a small random fraction of the still-visible positions with wrong tokens
    and predict the original at every visible position, overwritten or untouched alike, so that
    p(committed token) is high for right tokens and low for wrong ones - the signal the decoder's
    Token-to-Mask detectors read.
Prompt tokens are never noised, including a prompt tail that sits inside block k.

Every step's problems and noise are a pure function of (seed, step), so `--resume` continues with
exactly the batches an uninterrupted run would have drawn.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm
from transformers import LlamaConfig, LlamaForCausalLM

from t2m.data import build_prompt
from t2m.data import arith, carry
from t2m.data.arith import TEMPLATE
from t2m.tiny.tokenizer import build_tokenizer

BLOCK = 32
T2T_MAX_RATE = 0.25  # the T2T stream corrupts a fraction U(0, 0.25) of the visible tokens
EOS_BLOCK_RATE = 0.05  # share of samples trained on the all-EOS block after the answer
# --t2t-noise: the share of corrupted digits that become another digit (the rest, and every
# non-digit, a token uniform over the vocabulary). "uniform" is LLaDA2.1's noise, which teaches the
# editor incoherent errors only (the paper's third failure mode); "digits" adds plausible ones.
DIGIT_SHARE = {"digits": 0.5, "uniform": 0.0}
# --task: the generator training draws from (each skips every evaluation question of its own splits).
TASKS = {"arith": arith, "carry": carry}


def make_model(tokenizer, hidden: int, layers: int, heads: int, intermediate: int) -> LlamaForCausalLM:
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=512,
        tie_word_embeddings=True,  # input and output embeddings shared: half the embedding params
        use_cache=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        attn_implementation="sdpa",
        # Extra attributes the decoder reads from config.json.
        mask_token_id=tokenizer.mask_token_id,
        block_length=BLOCK,
    )
    return LlamaForCausalLM(config)


def block_causal_mask(seq_len: int, dtype: torch.dtype, device) -> torch.Tensor:
    """(1, 1, L, L) additive mask: query q may see key k iff k // BLOCK <= q // BLOCK."""
    blk = torch.arange(seq_len, device=device) // BLOCK
    allowed = blk[None, :] <= blk[:, None]
    mask = torch.zeros(seq_len, seq_len, dtype=dtype, device=device)
    mask.masked_fill_(~allowed, torch.finfo(dtype).min)
    return mask[None, None]


def encode_samples(problems, tokenizer, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids (n, seq_len) of `[bos] prompt target eos eos ...` and each prompt's length."""
    template = TEMPLATE
    eos = tokenizer.eos_token_id
    rows, prompt_lens = [], []
    for p in problems:
        prompt = build_prompt(p, template, tokenizer)
        ids = prompt + tokenizer.encode(p.target, add_special_tokens=False) + [eos]
        if len(ids) > seq_len:
            raise ValueError(f"problem {p.id} needs {len(ids)} tokens; --seq-len is {seq_len}")
        rows.append(ids + [eos] * (seq_len - len(ids)))
        prompt_lens.append(len(prompt))
    return torch.tensor(rows), torch.tensor(prompt_lens)


def noise_batch(x: torch.Tensor, prompt_lens: torch.Tensor, tokenizer, gen: torch.Generator,
                cut: bool = True, digit_share: float = 0.5) -> dict:
    """Pick block k per row, mask (M2T) and corrupt (T2T) it, and cut the batch after the last k.

    Returns the noised ids, the clean ids as labels, and boolean maps of the three loss groups.
    `cut=False` keeps the full length (a static shape for `torch.compile`); with block-causal
    attention the blocks after k cannot change block k's logits, so the loss is the same.
    """
    n, seq_len = x.shape
    eos, mask_id = tokenizer.eos_token_id, tokenizer.mask_token_id
    pos = torch.arange(seq_len)
    # Candidate blocks: from the one holding the first generated token to the one holding the first
    # EOS. Now and then (EOS_BLOCK_RATE) the all-EOS block after it instead, so the model also knows
    # to fill a block that starts after the answer ended - but rarely, as it teaches almost nothing.
    first = prompt_lens // BLOCK
    first_eos = torch.where((x == eos) & (pos[None] >= prompt_lens[:, None]), pos[None], seq_len).min(1).values
    last = first_eos // BLOCK
    k = first + (torch.rand(n, generator=gen) * (last - first + 1)).long().clamp(max=last - first)
    eos_block = (torch.rand(n, generator=gen) < EOS_BLOCK_RATE) & (last + 1 < seq_len // BLOCK)
    k = torch.where(eos_block, last + 1, k)

    in_block = (pos[None] // BLOCK) == k[:, None]
    gen_pos = in_block & (pos[None] >= prompt_lens[:, None])
    t = 1.0 - torch.rand(n, 1, generator=gen)  # U(0, 1]: the masked fraction of this block
    masked = gen_pos & (torch.rand(n, seq_len, generator=gen) < t)
    visible = gen_pos & ~masked
    rate = torch.rand(n, 1, generator=gen) * T2T_MAX_RATE
    corrupt = visible & (torch.rand(n, seq_len, generator=gen) < rate)

    # Wrong tokens: uniform over the ordinary vocabulary, as in LLaDA2.1. Where the original is a
    # digit, a `digit_share` of the time use another digit instead: a plausible wrong digit is the
    # error the decoder actually makes, and the one a remasking detector must learn to doubt.
    n_special = len(tokenizer.all_special_ids)
    vocab = len(tokenizer)
    random_tok = torch.randint(n_special, vocab, (n, seq_len), generator=gen)
    digit_ids, spaced_ids = _digit_tables(tokenizer)
    is_digit = torch.isin(x, digit_ids) | torch.isin(x, spaced_ids)
    is_spaced = torch.isin(x, spaced_ids)
    pick = torch.randint(0, 10, (n, seq_len), generator=gen)
    other_digit = torch.where(is_spaced, spaced_ids[pick], digit_ids[pick])
    use_digit = is_digit & (torch.rand(n, seq_len, generator=gen) < digit_share)
    wrong = torch.where(use_digit, other_digit, random_tok)
    corrupt &= wrong != x  # a "corruption" that drew the original token is just a clean token
    clean = visible & ~corrupt

    noised = x.clone()
    noised[masked] = mask_id
    noised[corrupt] = wrong[corrupt]
    cut = int((k.max() + 1) * BLOCK) if cut else seq_len
    return {
        "input_ids": noised[:, :cut],
        "labels": x[:, :cut],
        "masked": masked[:, :cut],
        "corrupt": corrupt[:, :cut],
        "clean": clean[:, :cut],
    }


def _digit_tables(tokenizer) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids of "0".."9" and of "▁0".."▁9" (a digit after a space), index = digit value."""
    vocab = tokenizer.get_vocab()
    return (torch.tensor([vocab[str(d)] for d in range(10)]),
            torch.tensor([vocab["▁" + str(d)] for d in range(10)]))


def losses(model, batch: dict, device) -> dict:
    ids = batch["input_ids"].to(device)
    seq_len = ids.shape[1]
    logits = model(
        input_ids=ids,
        attention_mask=block_causal_mask(seq_len, torch.float32, device).expand(ids.shape[0], -1, -1, -1),
        position_ids=torch.arange(seq_len, device=device)[None].expand(ids.shape[0], -1),
        use_cache=False,
    ).logits.float()
    ce = F.cross_entropy(logits.transpose(1, 2), batch["labels"].to(device), reduction="none")

    def mean(sel: torch.Tensor) -> torch.Tensor:
        sel = sel.to(device)
        return (ce * sel).sum() / sel.sum().clamp(min=1)

    # The T2T stream's loss covers every visible token, corrupted or not, with one weight per token:
    # then p(token | context) at a committed position is an honest estimate of "this token is
    # right". (Weighting the rare corrupted tokens up would teach the model to doubt every digit.)
    visible = batch["corrupt"] | batch["clean"]
    out = {"m2t": mean(batch["masked"]), "t2t": mean(visible),
           "corrupt": mean(batch["corrupt"]), "clean": mean(batch["clean"])}
    out["loss"] = out["m2t"] + out["t2t"]
    return out


def lr_at(step: int, args) -> float:
    """Linear warm-up, then cosine decay to a tenth of the peak."""
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    progress = (step - args.warmup) / max(1, args.steps - args.warmup)
    return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


@torch.no_grad()
def validate(model, val_batch: dict, device) -> dict:
    model.eval()
    out = {k: round(v.item(), 4) for k, v in losses(model, val_batch, device).items()}
    model.train()
    return out


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m t2m.tiny.train", description=__doc__.split("\n")[0])
    p.add_argument("--out", default="outputs/tiny-dllm", help="run directory: log, train state, final model")
    p.add_argument("--export", default=None, help="also save the final model + tokenizer here")
    p.add_argument("--steps", type=int, default=4000, help="total optimizer steps (the cosine schedule ends here)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seq-len", type=int, default=96, help="fixed EOS-padded length, a multiple of 32")
    p.add_argument("--t2t-noise", choices=sorted(DIGIT_SHARE), default="digits",
                   help="wrong tokens of the T2T stream: digits (half of the corrupted digits become another digit, the bundled model's recipe) or uniform over the vocabulary (LLaDA2.1)")
    p.add_argument("--task", choices=sorted(TASKS), default="arith",
                   help="the problems: arith (the bundled model's) or carry (t2m.data.carry, with --seq-len 64)")
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--intermediate", type=int, default=512)
    p.add_argument("--val-size", type=int, default=256)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--save-every", type=int, default=200)
    p.add_argument("--resume", action="store_true", help="continue from OUT/train_state.pt")
    p.add_argument("--device", default="auto", help="auto (cuda if available), cpu or cuda")
    p.add_argument("--threads", type=int, default=0,
                   help="CPU threads for torch (0 = torch's default); 1 is fastest on a busy shared CPU")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the training forward (about 3x faster on CPU after a ~1 min compile)")
    args = p.parse_args(argv)
    if args.seq_len % BLOCK:
        p.error(f"--seq-len={args.seq_len} must be a multiple of {BLOCK}")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)

    tokenizer = build_tokenizer()
    model = make_model(tokenizer, args.hidden, args.layers, args.heads, args.intermediate).to(device)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr, betas=(0.9, 0.98),
    )
    state_path, log_path = out / "train_state.pt", out / "log.jsonl"
    start = 0
    if args.resume:
        if not state_path.exists():
            raise FileNotFoundError(f"--resume: no train state at {state_path}; start without --resume")
        state = torch.load(state_path, map_location=device, weights_only=True)  # tensors and plain values only: loading never runs code
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start = state["step"]
        if log_path.exists():  # drop steps logged after the checkpoint: they are about to be redone
            kept = [line for line in log_path.read_text().splitlines() if json.loads(line)["step"] <= start]
            log_path.write_text("".join(line + "\n" for line in kept))
    elif log_path.exists():
        log_path.unlink()  # a fresh run starts a fresh log

    # Training never sees an evaluation question; the validation set is a third, fixed stream.
    task = TASKS[args.task]
    exclude = task.eval_questions()
    val_x, val_plen = encode_samples(task.training_stream(-1 - args.seed, 0, args.val_size, exclude), tokenizer, args.seq_len)
    val_batch = noise_batch(val_x, val_plen, tokenizer, torch.Generator().manual_seed(12345))
    n_params = sum(p.numel() for p in model.parameters())
    print(f"t2m.tiny.train: {n_params / 1e6:.2f}M params, device={device}, steps {start}->{args.steps}, out={out}")

    # The compiled module shares its parameters with `model`; validation and saving use `model`.
    train_model = torch.compile(model, dynamic=False) if args.compile else model
    model.train()
    t0, last = time.time(), {}
    bar = tqdm(range(start, args.steps), initial=start, total=args.steps, desc="train", dynamic_ncols=True)
    with open(log_path, "a") as log:
        for step in bar:
            gen = torch.Generator().manual_seed(args.seed * 1_000_003 + step)
            x, plen = encode_samples(task.training_stream(args.seed, step, args.batch_size, exclude), tokenizer, args.seq_len)
            batch = noise_batch(x, plen, tokenizer, gen, cut=not args.compile, digit_share=DIGIT_SHARE[args.t2t_noise])
            for group in opt.param_groups:
                group["lr"] = lr_at(step, args)
            parts = losses(train_model, batch, device)
            opt.zero_grad(set_to_none=True)
            parts["loss"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()

            last = {"step": step + 1, **{k: round(v.item(), 4) for k, v in parts.items()},
                    "lr": round(lr_at(step, args), 6), "elapsed_s": round(time.time() - t0, 1)}
            if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
                last["val"] = validate(model, val_batch, device)
            log.write(json.dumps(last) + "\n")
            log.flush()
            bar.set_postfix(loss=f"{last['loss']:.3f}", m2t=f"{last['m2t']:.3f}")
            if (step + 1) % args.save_every == 0 or step + 1 == args.steps:
                tmp = state_path.with_suffix(".tmp")
                torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step + 1,
                            "args": vars(args)}, tmp)
                os.replace(tmp, state_path)  # atomic: an interrupted save never corrupts the state

    final = validate(model, val_batch, device)
    for target in [out] + ([Path(args.export)] if args.export else []):
        model.save_pretrained(target, safe_serialization=True)
        tokenizer.save_pretrained(target)
    summary = {"params": n_params, "steps": args.steps, "final_val": final, "last": last,
               "wall_s": round(time.time() - t0, 1), "args": vars(args)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"t2m.tiny.train: done, val {final}, saved to {out}" + (f" and {args.export}" if args.export else ""))
    return summary


if __name__ == "__main__":
    main()
