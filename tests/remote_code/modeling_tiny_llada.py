"""A tiny LLaDA 1.x-style masked diffusion LM, written for t2m's tests and loaded as remote code.

Like LLaDA-8B's own modeling code as its `generate` drives it: `model(input_ids).logits`, full
bidirectional attention over the whole sequence, positions 0..n-1 implied (no `position_ids`, no
KV cache, no attention mask), float32 logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutput


class TinyLLaDAConfig(PretrainedConfig):
    model_type = "llada"

    def __init__(self, vocab_size=64, d_model=32, n_layers=2, n_heads=4, mlp_hidden_size=64, rope_theta=10000.0,
                 rms_norm_eps=1e-5, max_sequence_length=1024, **kwargs):  # fmt: skip
        self.vocab_size, self.d_model, self.n_layers, self.n_heads = vocab_size, d_model, n_layers, n_heads
        self.mlp_hidden_size, self.rope_theta, self.rms_norm_eps = mlp_hidden_size, rope_theta, rms_norm_eps
        self.max_sequence_length = max_sequence_length
        kwargs.setdefault("tie_word_embeddings", False)
        super().__init__(**kwargs)


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.heads, self.theta = config.n_heads, config.rope_theta
        self.attn_norm = nn.RMSNorm(config.d_model, eps=config.rms_norm_eps)
        self.ff_norm = nn.RMSNorm(config.d_model, eps=config.rms_norm_eps)
        self.q_proj, self.k_proj, self.v_proj, self.attn_out = (nn.Linear(config.d_model, config.d_model, bias=False) for _ in range(4))
        self.ff_proj = nn.Linear(config.d_model, config.mlp_hidden_size, bias=False)
        self.up_proj = nn.Linear(config.d_model, config.mlp_hidden_size, bias=False)
        self.ff_out = nn.Linear(config.mlp_hidden_size, config.d_model, bias=False)

    def rope(self, x):
        seq, half = x.shape[-2], x.shape[-1] // 2
        freqs = 1.0 / self.theta ** (torch.arange(half, device=x.device, dtype=torch.float32) / half)
        angle = torch.arange(seq, device=x.device, dtype=torch.float32)[:, None] * freqs
        cos, sin = angle.cos().to(x.dtype), angle.sin().to(x.dtype)
        a, b = x[..., :half], x[..., half:]
        return torch.cat([a * cos - b * sin, b * cos + a * sin], dim=-1)

    def forward(self, x):
        batch, seq, dim = x.shape
        h = self.attn_norm(x)
        q, k, v = (p(h).view(batch, seq, self.heads, -1).transpose(1, 2) for p in (self.q_proj, self.k_proj, self.v_proj))
        att = F.scaled_dot_product_attention(self.rope(q), self.rope(k), v)  # bidirectional: no mask at all
        x = x + self.attn_out(att.transpose(1, 2).reshape(batch, seq, dim))
        h = self.ff_norm(x)
        return x + self.ff_out(F.silu(self.ff_proj(h)) * self.up_proj(h))


class TinyLLaDAModelLM(PreTrainedModel):
    config_class = TinyLLaDAConfig
    base_model_prefix = "model"

    def __init__(self, config):
        super().__init__(config)
        self.wte = nn.Embedding(config.vocab_size, config.d_model)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.ln_f = nn.RMSNorm(config.d_model, eps=config.rms_norm_eps)
        self.ff_out = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self):
        return self.wte

    def get_output_embeddings(self):
        return self.ff_out

    def _init_weights(self, module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            module.weight.data.normal_(0.0, 0.02)

    def forward(self, input_ids=None, inputs_embeds=None, attention_mask=None, attention_bias=None, past_key_values=None,
                labels=None, use_cache=False, output_attentions=None, output_hidden_states=None, return_dict=None):  # fmt: skip
        if attention_mask is not None or attention_bias is not None or past_key_values is not None:
            raise ValueError("this test model, like LLaDA's generate, runs with input_ids only")
        x = self.wte(input_ids)
        for block in self.blocks:
            x = block(x)
        return CausalLMOutput(logits=self.ff_out(self.ln_f(x)).float())
