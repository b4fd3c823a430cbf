"""The KV cache: every row's keys and values for the canvas columns computed so far, in place.

One buffer per layer, [rows, kv_heads, capacity, head_dim], grown geometrically up to the canvas
width. A forward pass gets a `transformers` Cache view of it for its rows and its first column:
the model's own `update` call writes the new columns' keys and values into the buffer and reads
back everything before them, so nothing is concatenated or rebuilt per step. Writing the current
block at every step is what makes a finished block's cache the one of its row's last forward pass
(the reference's behaviour); `refresh_cache` simply runs one more forward over the block.
"""

from __future__ import annotations

import torch
from transformers.cache_utils import Cache


class KVBuffer:
    def __init__(self, n_rows: int, width: int):
        self.n_rows, self.width = n_rows, width
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []

    def view(self, rows: torch.Tensor | None, start: int) -> "CacheView":
        """A Cache for one forward pass of `rows` (None: every row) whose inputs begin at `start`."""
        return CacheView(self, rows, start)

    def write(self, layer: int, rows, start: int, keys: torch.Tensor, values: torch.Tensor):
        end = start + keys.shape[2]
        self._reserve(layer, keys, values, end)
        k_buf, v_buf = self.keys[layer], self.values[layer]
        if rows is None:
            k_buf[:, :, start:end] = keys
            v_buf[:, :, start:end] = values
            return k_buf[:, :, :end], v_buf[:, :, :end]  # views: no copy
        k_buf[rows, :, start:end] = keys
        v_buf[rows, :, start:end] = values
        return k_buf[rows, :, :end], v_buf[rows, :, :end]

    def _reserve(self, layer: int, keys, values, end: int) -> None:
        while len(self.keys) <= layer:
            self.keys.append(None)
            self.values.append(None)
        old = self.keys[layer]
        if old is not None and old.shape[2] >= end:
            return
        capacity = min(self.width, max(end, 2 * (0 if old is None else old.shape[2])))
        # Zeros, not empty: columns a row never wrote (its padding) are read back and must be finite.
        new_k = keys.new_zeros((self.n_rows, keys.shape[1], capacity, keys.shape[3]))
        new_v = values.new_zeros((self.n_rows, values.shape[1], capacity, values.shape[3]))
        if old is not None:
            new_k[:, :, : old.shape[2]] = old
            new_v[:, :, : old.shape[2]] = self.values[layer]
        self.keys[layer], self.values[layer] = new_k, new_v


class CacheView(Cache):
    """What a model's attention layers call during one forward pass (`update`, `get_seq_length`)."""

    def __init__(self, buffer: KVBuffer, rows, start: int):
        super().__init__(layers=[])
        self.buffer, self.rows, self.start = buffer, rows, start

    def update(self, key_states, value_states, layer_idx: int, cache_kwargs=None):
        return self.buffer.write(layer_idx, self.rows, self.start, key_states, value_states)

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return self.start

    def get_mask_sizes(self, cache_position, layer_idx: int = 0):
        return self.start + cache_position.shape[0], 0

    def get_max_cache_shape(self, layer_idx: int = 0) -> int:
        return -1

    @property
    def is_compileable(self) -> bool:
        return False
