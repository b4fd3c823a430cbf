"""One loading path for every model, and the small adapters that hide how each one is called.

`load_model` takes a Hugging Face checkpoint directory or hub id through `transformers`. The
adapters differ only in how a forward pass is spelled: native architectures (the bundled tiny
model) and LLaDA2.x remote code take the engine's additive bias mask and a KV cache; LLaDA 1.x
takes token ids alone and attends over the whole canvas.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch

from t2m.tiny import CHECKPOINT

BUNDLED_MODEL = CHECKPOINT  # what load_model() loads with no argument

_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json", "vocab.txt")
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class HFAdapter:
    """Native `transformers` causal-LM classes (the bundled model): a float bias mask added to the
    scores, explicit position ids, the cache the engine hands over, and logits for the last
    `n_logits` positions only (`logits_to_keep`: never for the cached prefix)."""

    full_canvas = False  # True: every forward runs the whole canvas, bidirectionally, without a cache

    def forward(self, model, input_ids, position_ids, bias, cache, n_logits):
        out = model(
            input_ids=input_ids,
            attention_mask=bias,
            position_ids=position_ids,
            past_key_values=cache,
            use_cache=cache is not None,
            **self.extra_kwargs(n_logits),
        )
        return out.logits[:, -n_logits:]

    def extra_kwargs(self, n_logits: int) -> dict:
        return {"logits_to_keep": n_logits}


class LLaDA2Adapter(HFAdapter):
    """LLaDA2.x remote code: the same call; its forward takes no `logits_to_keep`, and it adds the
    (batch, 1, queries, keys) mask it is given to the scores as it is."""

    def extra_kwargs(self, n_logits: int) -> dict:
        return {}


class LLaDAAdapter(HFAdapter):
    """LLaDA 1.x remote code, driven as its own `generate` does: `model(input_ids)` over the whole
    canvas (full bidirectional attention; no mask, cache or position ids)."""

    full_canvas = True

    def forward(self, model, input_ids, position_ids, bias, cache, n_logits):
        return model(input_ids=input_ids).logits


def adapter_for(config) -> HFAdapter:
    model_type = getattr(config, "model_type", "") or ""
    if model_type.startswith("llada2"):
        return LLaDA2Adapter()
    if model_type.startswith("llada"):
        return LLaDAAdapter()
    return HFAdapter()


@dataclass
class DiffusionLM:
    """A loaded masked diffusion LM: what `t2m.decode` needs, plus what a run must record."""

    model: torch.nn.Module
    tokenizer: object | None
    mask_id: int
    eos_id: int
    name: str
    revision: str | None = None
    device: str = "cpu"
    dtype: str = "float32"
    adapter: HFAdapter = field(default_factory=HFAdapter)

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


def load_model(
    name_or_path: str | os.PathLike | None = None,
    *,
    trust_remote_code: bool = False,
    dtype: str = "float32",
    device: str = "cpu",
    mask_id: int | None = None,
    eos_id: int | None = None,
    revision: str | None = None,
) -> DiffusionLM:
    """Load a checkpoint (directory or hub id; None = the bundled tiny model) and its tokenizer."""
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer

    name = str(BUNDLED_MODEL if name_or_path is None else name_or_path)
    if dtype not in _DTYPES:
        raise ValueError(f"dtype={dtype!r} is unknown; allowed: {', '.join(_DTYPES)}")
    device = _resolve_device(device)
    looks_local = os.path.isabs(name) or name.startswith(".") or os.path.exists(name)
    if looks_local and not os.path.isdir(name):
        raise FileNotFoundError(f"model checkpoint directory not found: {name}")

    try:
        config = AutoConfig.from_pretrained(name, trust_remote_code=trust_remote_code, revision=revision)
    except ValueError as e:
        if "trust_remote_code" in str(e):
            raise ValueError(
                f"{name} ships its own modeling code; load it with trust_remote_code=True "
                f"(on the command line: model.trust_remote_code=true)"
            ) from None
        raise
    except OSError as e:
        raise OSError(f"cannot load model {name!r}: {str(e).splitlines()[0]}") from None
    auto_map = getattr(config, "auto_map", None) or {}
    if not trust_remote_code and ({"AutoModelForCausalLM", "AutoModel"} & set(auto_map)):
        raise ValueError(f"{name} ships its own modeling code; load it with trust_remote_code=True")

    tokenizer = None  # weights-only checkpoints are fine when mask_id and eos_id are given
    if not os.path.isdir(name) or any(os.path.exists(os.path.join(name, f)) for f in _TOKENIZER_FILES):
        try:
            tokenizer = AutoTokenizer.from_pretrained(name, trust_remote_code=trust_remote_code, revision=revision)
        except (OSError, ValueError, TypeError, AttributeError):
            tokenizer = None

    mask_id = first_id(mask_id, getattr(tokenizer, "mask_token_id", None), getattr(config, "mask_token_id", None))
    eos_id = first_id(eos_id, getattr(tokenizer, "eos_token_id", None), getattr(config, "eos_token_id", None))
    if mask_id is None:
        raise ValueError(f"{name} has no mask token (tokenizer.mask_token_id / config.mask_token_id); pass mask_id=")
    if eos_id is None:
        raise ValueError(f"{name} has no EOS token (tokenizer.eos_token_id / config.eos_token_id); pass eos_id=")
    vocab = getattr(config, "vocab_size", None)
    for what, i in (("mask_id", mask_id), ("eos_id", eos_id)):
        if vocab is not None and not 0 <= i < vocab:
            raise ValueError(f"{what}={i} is outside the model's vocabulary of {vocab} tokens")

    # LLaDA 1.x maps its LM class to AutoModel only (its own generate loads it that way).
    auto = AutoModel if "AutoModel" in auto_map and "AutoModelForCausalLM" not in auto_map else AutoModelForCausalLM
    model = auto.from_pretrained(name, config=config, trust_remote_code=trust_remote_code, revision=revision, dtype=_DTYPES[dtype])
    model.to(device).eval()
    return DiffusionLM(
        model=model,
        tokenizer=tokenizer,
        mask_id=mask_id,
        eos_id=eos_id,
        name=name,
        revision=revision or getattr(config, "_commit_hash", None),
        device=device,
        dtype=dtype,
        adapter=adapter_for(config),
    )


def _resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} requested but CUDA is not available; use device=cpu or auto")
    return device


def first_id(*candidates) -> int | None:
    """The first candidate that is set (a list counts by its first element), as an int."""
    for c in candidates:
        if isinstance(c, (list, tuple)):
            c = c[0] if c else None
        if c is not None:
            return int(c)
    return None
