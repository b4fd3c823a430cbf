"""A tiny LLaDA2-style masked diffusion MoE, written for t2m's tests and loaded as remote code.

It speaks LLaDA2.x's interface the way the checkpoint's own modeling code does (as the paper's
reference decoder drives it): `forward(input_ids, attention_mask, position_ids, past_key_values,
use_cache, ...)`, where `attention_mask` must be a 4D tensor of shape (batch, 1, queries, keys) in
the model's dtype that is ADDED to the attention scores as it is (a 0/1 block mask is therefore a
bias of 1 vs 0, not a mask), keys/values go through a transformers `Cache` (`get_seq_length`,
`update`), attention projections are fused (query_key_value), the first layer is dense and the
others are a small mixture of experts with a shared expert and sigmoid top-k routing, and logits
come back in float32.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.cache_utils import DynamicCache
from transformers.modeling_outputs import CausalLMOutputWithPast


class TinyLLaDA2Config(PretrainedConfig):
    model_type = "llada2_moe"

    def __init__(self, vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                 intermediate_size=64, moe_intermediate_size=16, num_experts=4, num_experts_per_tok=2,
                 first_k_dense_replace=1, rope_theta=10000.0, rms_norm_eps=1e-6, max_position_embeddings=1024, **kwargs):  # fmt: skip
        self.vocab_size, self.hidden_size, self.num_hidden_layers = vocab_size, hidden_size, num_hidden_layers
        self.num_attention_heads, self.num_key_value_heads = num_attention_heads, num_key_value_heads
        self.intermediate_size, self.moe_intermediate_size = intermediate_size, moe_intermediate_size
        self.num_experts, self.num_experts_per_tok, self.first_k_dense_replace = num_experts, num_experts_per_tok, first_k_dense_replace
        self.rope_theta, self.rms_norm_eps, self.max_position_embeddings = rope_theta, rms_norm_eps, max_position_embeddings
        kwargs.setdefault("tie_word_embeddings", False)
        super().__init__(**kwargs)


class RMSNorm(nn.Module):
    def __init__(self, size, eps):
        super().__init__()
        self.weight, self.eps = nn.Parameter(torch.ones(size)), eps

    def forward(self, x):
        dtype = x.dtype
        x = x.float()
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)).to(dtype)


def rotate(x, position_ids, theta):
    half = x.shape[-1] // 2
    freqs = 1.0 / theta ** (torch.arange(half, device=x.device, dtype=torch.float32) / half)
    angle = position_ids[:, None, :, None].float() * freqs  # [batch, 1, seq, half]
    cos, sin = angle.cos().to(x.dtype), angle.sin().to(x.dtype)
    a, b = x[..., :half], x[..., half:]
    return torch.cat([a * cos - b * sin, b * cos + a * sin], dim=-1)


class Attention(nn.Module):
    def __init__(self, config, layer_idx):
        super().__init__()
        self.layer_idx, self.theta = layer_idx, config.rope_theta
        self.heads, self.kv_heads = config.num_attention_heads, config.num_key_value_heads
        self.head_dim = config.hidden_size // self.heads
        self.query_key_value = nn.Linear(config.hidden_size, (self.heads + 2 * self.kv_heads) * self.head_dim, bias=False)
        self.dense = nn.Linear(self.heads * self.head_dim, config.hidden_size, bias=False)

    def forward(self, x, attention_mask, position_ids, cache):
        batch, seq, _ = x.shape
        qkv = self.query_key_value(x).view(batch, seq, self.heads + 2 * self.kv_heads, self.head_dim).transpose(1, 2)
        q, k, v = qkv.split([self.heads, self.kv_heads, self.kv_heads], dim=1)
        q, k = rotate(q, position_ids, self.theta), rotate(k, position_ids, self.theta)
        if cache is not None:
            k, v = cache.update(k, v, self.layer_idx)
        k = k.repeat_interleave(self.heads // self.kv_heads, dim=1)
        v = v.repeat_interleave(self.heads // self.kv_heads, dim=1)
        scores = q @ k.transpose(-1, -2) * self.head_dim**-0.5
        scores = scores + attention_mask  # LLaDA2's convention: whatever is passed is added as it is
        weights = scores.softmax(-1, dtype=torch.float32).to(q.dtype)
        return self.dense((weights @ v).transpose(1, 2).reshape(batch, seq, -1))


class MLP(nn.Module):
    def __init__(self, hidden, inner):
        super().__init__()
        self.gate_proj, self.up_proj = nn.Linear(hidden, inner, bias=False), nn.Linear(hidden, inner, bias=False)
        self.down_proj = nn.Linear(inner, hidden, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class MoE(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.top_k = config.num_experts_per_tok
        self.gate = nn.Linear(config.hidden_size, config.num_experts, bias=False)
        self.experts = nn.ModuleList(MLP(config.hidden_size, config.moe_intermediate_size) for _ in range(config.num_experts))
        self.shared_experts = MLP(config.hidden_size, config.moe_intermediate_size)

    def forward(self, x):
        scores = torch.sigmoid(self.gate(x).float())
        weight, chosen = scores.topk(self.top_k, dim=-1)
        weight = (weight / weight.sum(-1, keepdim=True)).to(x.dtype)
        out = self.shared_experts(x)
        for e, expert in enumerate(self.experts):  # every token through every expert: tiny, and per-token exact
            w = (weight * (chosen == e)).sum(-1, keepdim=True)
            out = out + w * expert(x)
        return out


class Layer(nn.Module):
    def __init__(self, config, layer_idx):
        super().__init__()
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.attention = Attention(config, layer_idx)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        dense = layer_idx < config.first_k_dense_replace
        self.mlp = MLP(config.hidden_size, config.intermediate_size) if dense else MoE(config)

    def forward(self, x, attention_mask, position_ids, cache):
        x = x + self.attention(self.input_layernorm(x), attention_mask, position_ids, cache)
        return x + self.mlp(self.post_attention_layernorm(x))


class TinyLLaDA2ForCausalLM(PreTrainedModel):
    config_class = TinyLLaDA2Config
    base_model_prefix = "model"

    def __init__(self, config):
        super().__init__(config)
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(Layer(config, i) for i in range(config.num_hidden_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self):
        return self.word_embeddings

    def get_output_embeddings(self):
        return self.lm_head

    def _init_weights(self, module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            module.weight.data.normal_(0.0, 0.02)

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None, inputs_embeds=None,
                use_cache=None, output_attentions=None, output_hidden_states=None, output_router_logits=None,
                return_dict=None, **kwargs):  # fmt: skip
        batch, seq = input_ids.shape
        if use_cache and past_key_values is None:
            past_key_values = DynamicCache()
        past = past_key_values.get_seq_length() if past_key_values is not None else 0
        if position_ids is None:
            position_ids = torch.arange(past, past + seq, device=input_ids.device)[None].expand(batch, -1)
        if attention_mask is None or tuple(attention_mask.shape) != (batch, 1, seq, past + seq):
            shape = None if attention_mask is None else tuple(attention_mask.shape)
            raise ValueError(f"LLaDA2 only supports a block attention mask of shape {(batch, 1, seq, past + seq)}, got {shape}")
        x = self.word_embeddings(input_ids)
        for layer in self.layers:
            x = layer(x, attention_mask, position_ids, past_key_values)
        logits = self.lm_head(self.norm(x)).float()
        return CausalLMOutputWithPast(logits=logits, past_key_values=past_key_values if use_cache else None)
