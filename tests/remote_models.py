"""Tiny random checkpoints of the remote-code model families, built in tests and loaded as a user
would load the real ones (`trust_remote_code`, `auto_map`), the one the paper's own code was
recorded on (fixtures/paper_reference/, the oracle for LLaDA2.x decoding), and LLaDA 1.x's
`generate` loop written out plainly.

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
