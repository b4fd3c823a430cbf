"""Tiny random checkpoints of the remote-code model families, built in tests and loaded as a user
would load the real ones (`trust_remote_code`, `auto_map`), plus the paper's decoding loop as a
plain one-row oracle.

    llada2: `remote_code/modeling_tiny_llada2.py`, LLaDA2.x's interface (4D mask added to the
            scores, KV cache, MoE), the family of the paper's LLaDA2.1-mini
    llada:  `remote_code/modeling_tiny_llada.py`, LLaDA 1.x's (`model(input_ids)`, bidirectional)
"""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
from pathlib import Path

import torch

CODE = Path(__file__).resolve().parent / "remote_code"
PAPER_REFERENCE = Path(__file__).resolve().parent / "fixtures" / "paper_reference"
FAMILIES = {
    "llada2": ("modeling_tiny_llada2.py", "TinyLLaDA2Config", "TinyLLaDA2ForCausalLM", "AutoModelForCausalLM"),
    "llada": ("modeling_tiny_llada.py", "TinyLLaDAConfig", "TinyLLaDAModelLM", "AutoModel"),
}


def build_checkpoint(dest: Path, family: str, *, mask_id: int = 63, eos_id: int = 2, scale: float = 3.0, seed: int = 0,
                     proposes_mask: bool = False, **config) -> Path:  # fmt: skip
    """Write a random checkpoint of `family` into `dest`; weights are scaled up so that its
    proposals are confident and varied (a model at init predicts almost uniformly). Unless
    `proposes_mask`, the mask token's output row is zeroed: its logit is 0, so like a trained dLLM
    the model keeps some probability on it but practically never proposes it. With it, the output
    embeddings are a copy of the input ones, so a position tends to propose the token it holds, the
    mask included."""
    filename, config_cls, model_cls, auto_class = FAMILIES[family]
    spec = importlib.util.spec_from_file_location(f"t2m_test_{family}_{dest.name}", CODE / filename)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cfg = getattr(module, config_cls)(mask_token_id=mask_id, eos_token_id=eos_id, **config)
    torch.manual_seed(seed)
    model = getattr(module, model_cls)(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(scale)
        if proposes_mask:
            model.get_output_embeddings().weight.copy_(model.get_input_embeddings().weight)
        else:
            model.get_output_embeddings().weight[mask_id] = 0.0
    dest.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(dest)
    shutil.copy(CODE / filename, dest / filename)
    meta = json.loads((dest / "config.json").read_text())
    stem = filename[:-3]
    meta["auto_map"] = {"AutoConfig": f"{stem}.{config_cls}", auto_class: f"{stem}.{model_cls}"}
    (dest / "config.json").write_text(json.dumps(meta, indent=2))
    return dest


def paper_reference_checkpoint(dest: Path) -> Path:
    """The tiny llada2 checkpoint the paper's code was recorded on (fixtures/paper_reference/: its
    config and weights), assembled in `dest` with the remote code it names."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "model.safetensors"):
        shutil.copy(PAPER_REFERENCE / name, dest / name)
    shutil.copy(CODE / FAMILIES["llada2"][0], dest / FAMILIES["llada2"][0])
    return dest


@torch.no_grad()
def paper_generate(model, prompt, *, strategy, tau=None, c_max=None, rho_max=1.0, threshold=0.7, editing_threshold=0.5,
                   block_length=32, gen_length=64, max_post_steps=16, eos_early_stop=True, mask_id, eos_id):  # fmt: skip
    """One prompt decoded the way the paper's reference implementation decodes it with LLaDA2.x
    remote code (its cached `generate` and its T2M edit step), written out plainly as an oracle.

    Per block: the first forward of the first generated block runs the whole window [0, end) with
    the 0/1 block-causal mask, which the model adds to its scores; every later forward runs the
    block alone over the cached prefix with an all-ones mask; a finished block keeps the keys and
    values of its last forward. M2T commits masked positions with p > threshold, else the single
    most confident one; T2T overwrites committed tokens where p(argmax) > editing_threshold and the
    argmax differs; T2M detectors remask instead, capped per position (c_max) and per step (rho_max).
    Probabilities are softmax over the whole vocabulary, the mask token included.
    Returns (tokens, forwards, t2t_edits, remasks).
    """
    from transformers import DynamicCache

    dev, dtype = model.device, model.dtype
    B, L = block_length, len(prompt)
    n_blocks = (L + gen_length + B - 1) // B
    x = torch.full((n_blocks * B,), mask_id, dtype=torch.long, device=dev)
    x[:L] = torch.tensor(prompt, device=dev)
    positions = torch.arange(n_blocks * B, device=dev)
    cache, forwards, edits, remasks = None, 0, 0, 0
    for blk in range(L // B, n_blocks):
        s, e = blk * B, (blk + 1) * B
        frozen = positions[s:e] < L
        post_steps, counts, prev_logits = 0, None, None
        reuse = cache is not None and cache.get_seq_length() == s and s > 0
        for _ in range(1_000):  # the reference has no cap; a block this long is a loop
            old = x[s:e].clone()
            masked = old == mask_id
            if not masked.any():
                post_steps += 1
                if eos_early_stop and (x[L:e] == eos_id).any():
                    break
            if post_steps > max_post_steps:
                break
            if not reuse:
                blocks = positions[:e] // B
                window_mask = (blocks[None, :] <= blocks[:, None]).to(dtype)[None, None]
                out = model(x[None, :e], attention_mask=window_mask, position_ids=positions[None, :e], past_key_values=DynamicCache(), use_cache=True)
                cache, reuse = out.past_key_values, True
            else:
                cache.crop(s)
                ones = torch.ones(1, 1, B, e, dtype=dtype, device=dev)
                out = model(x[None, s:e], attention_mask=ones, position_ids=positions[None, s:e], past_key_values=cache, use_cache=True)
            forwards += 1
            logits = out.logits[0, -B:].float()
            probs = logits.softmax(-1)
            x0 = logits.argmax(-1)
            p0 = probs.gather(-1, x0[:, None])[:, 0]

            fill = torch.zeros(B, dtype=torch.bool, device=dev)
            if masked.any():
                confidence = torch.where(masked, p0, -math.inf)
                confident = (confidence > threshold) & masked
                if confident.any():
                    fill = confident
                else:
                    fill[confidence.argmax()] = True
            editable = ~masked & ~frozen

            if strategy == "t2t":
                edit = editable & (p0 > editing_threshold) & (x0 != old)
                x[s:e][fill | edit] = x0[fill | edit]
                edits += int(edit.sum())
                quiet = not edit.any()
            else:
                x[s:e][fill] = x0[fill]
                if not editable.any():
                    counts, prev_logits, quiet = None, None, True
                else:
                    counts = torch.zeros(B, dtype=torch.long, device=dev) if counts is None else counts
                    p_old = probs.gather(-1, old[:, None])[:, 0]
                    if strategy == "lowprob":
                        flags, score = p_old < tau, p_old
                    elif strategy == "t2t_remask":
                        flags, score = (p0 > tau) & (x0 != old), 1.0 - p0
                    elif prev_logits is None:  # logitdiff: the first editable step records only
                        flags, score = torch.zeros_like(editable), torch.zeros_like(p0)
                        prev_logits = logits
                    else:
                        drop = prev_logits.softmax(-1).gather(-1, old[:, None])[:, 0] - p_old
                        flags, score = drop > tau, -drop
                        prev_logits = logits
                    flags = flags & editable
                    if c_max is not None:
                        flags &= counts < c_max
                    if flags.any() and rho_max < 1.0:
                        allowed = max(1, int(int(editable.sum()) * rho_max))
                        if int(flags.sum()) > allowed:
                            keep = torch.where(flags, score, math.inf).topk(allowed, largest=False).indices
                            flags = torch.zeros_like(flags)
                            flags[keep] = True
                    x[s:e][flags] = mask_id
                    counts[flags] += 1
                    remasks += int(flags.sum())
                    quiet = not flags.any()
            if not masked.any() and quiet:
                break
        else:
            raise RuntimeError(f"block {blk} never ends")
        if eos_early_stop:
            generated = x[L:e]
            if not (generated == mask_id).any() and (generated == eos_id).any():
                break
    tokens = x[L : L + gen_length].tolist()
    if eos_id in tokens:
        tokens = tokens[: tokens.index(eos_id) + 1]
    return tokens, forwards, edits, remasks


@torch.no_grad()
def llada_generate(model, prompt, *, steps: int, gen_length: int, block_length: int, mask_id: int):
    """One prompt decoded as LLaDA 1.x's own `generate` does it (greedy, low-confidence remasking):
    blocks start where the prompt ends; each block takes `steps` forward passes over the whole
    sequence, step i committing its share of the block's masks, most confident first. (LLaDA
    computes the confidences in float64; float32 here and in t2m.) Returns (tokens, forwards)."""
    dev, B, L = model.device, block_length, len(prompt)
    x = torch.full((L + gen_length,), mask_id, dtype=torch.long, device=dev)
    x[:L] = torch.tensor(prompt, device=dev)
    forwards = 0
    for b in range(gen_length // B):
        s, e = L + b * B, L + (b + 1) * B
        n_masked = int((x[s:e] == mask_id).sum())
        for i in range(steps):
            logits = model(input_ids=x[None]).logits[0].float()
            forwards += 1
            x0 = logits.argmax(-1)
            confidence = logits.softmax(-1).gather(-1, x0[:, None])[:, 0]
            confidence[e:] = -math.inf
            confidence = torch.where(x == mask_id, confidence, -math.inf)
            k = n_masked // steps + (1 if i < n_masked % steps else 0)
            chosen = confidence.topk(k).indices
            x[chosen] = x0[chosen]
    return x[L:].tolist(), forwards
