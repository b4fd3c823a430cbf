"""How each forward pass of a batch is run: which canvas columns go in, over which cached prefix,
with what attention bias (see `canvas.py` for the layout and the two attention modes).

    cached      the first step of the first generated block runs the whole window [0, end) for
                the rows with whole prompt blocks (filling their prompt's cache as the reference
                does), the current block alone for the others; every later step runs the current
                block over the cached prefix; a finished block's cache is its last forward's
    uncached    every step recomputes [0, end), with the ghost block in reference mode
    full canvas LLaDA 1.x: every step runs the whole canvas, bidirectionally, no cache
"""

from __future__ import annotations

import torch

from t2m.decoding.canvas import Canvas
from t2m.decoding.kv_cache import KVBuffer


class ForwardPasses:
    def __init__(self, model, canvas: Canvas, reference: torch.Tensor, use_cache: bool):
        self.model, self.adapter, self.canvas = model.model, model.adapter, canvas
        self.dtype = getattr(self.model, "dtype", torch.float32)
        self.reference = reference  # [rows] bool: attention=reference
        self.full_canvas = getattr(self.adapter, "full_canvas", False)
        self.cached = use_cache and not self.full_canvas
        self.kv = KVBuffer(canvas.tokens.shape[0], canvas.tokens.shape[1]) if self.cached else None
        dev = canvas.tokens.device
        self.window_rows = torch.tensor(canvas.prompt_block_rows, dtype=torch.long, device=dev)
        self.block_rows = torch.tensor(sorted(set(range(canvas.tokens.shape[0])) - set(canvas.prompt_block_rows)), dtype=torch.long, device=dev)
        self.ghost = not self.cached and canvas.first_column > 0 and bool(reference.any())
        self.start = self.end = 0
        self.first_step = True  # of the first generated block: the prompt's cache is filled then
        self.bias = None

    def begin_block(self, j: int) -> None:
        self.start, self.end = self.canvas.block(j)
        if self.cached:  # one bias for every step of this block; each step takes its rows
            self.bias = self.canvas.block_bias(slice(None), self.end, self.reference, self.dtype)

    def step(self, rows: torch.Tensor, all_rows: bool):
        """Logits [rows, block, vocab] of the current block for `rows` (all of them: `all_rows`)."""
        if self.full_canvas:
            logits = self.adapter.forward(self.model, self.canvas.tokens[rows], None, None, None, self.canvas.tokens.shape[1])
            return logits[:, self.start : self.end]
        if not self.cached:
            return self._uncached(rows)
        if self.first_step:
            assert all_rows, "every row takes part in the first step of its first block"
            self.first_step = False
            return self._first_step(rows)
        return self._block(rows, None if all_rows else rows)

    def refresh(self, rows: torch.Tensor) -> None:
        """Recompute the finished block's cache from its final tokens (refresh_cache)."""
        self._block(rows, rows, n_logits=1)

    # ---- the three kinds of forward ----------------------------------------------------------

    def _block(self, rows, cache_rows, n_logits=None):
        """The current block over the cached prefix."""
        s, e = self.start, self.end
        bias = self.bias if cache_rows is None else self.bias[rows]
        return self.adapter.forward(
            self.model, self.canvas.tokens[rows, s:e], self.canvas.positions[rows, s:e], bias,
            self.kv.view(cache_rows, s), n_logits or self.canvas.block_length,
        )  # fmt: skip

    def _first_step(self, rows):
        """The reference's first forward: rows with whole prompt blocks run the window [0, end),
        computing their prompt's cache together with the block; the others run the block alone."""
        c = self.canvas
        if self.window_rows.numel() == 0:
            return self._block(rows, None)
        window = self.adapter.forward(
            self.model, c.tokens[self.window_rows, : self.end], c.positions[self.window_rows, : self.end],
            c.window_bias(self.window_rows, self.end, self.reference, self.dtype),
            self.kv.view(None if self.block_rows.numel() == 0 else self.window_rows, 0), c.block_length,
        )  # fmt: skip
        if self.block_rows.numel() == 0:
            return window
        alone = self._block(self.block_rows, self.block_rows)
        logits = window.new_empty((c.tokens.shape[0],) + window.shape[1:])
        logits[self.window_rows], logits[self.block_rows] = window, alone
        return logits

    def _uncached(self, rows):
        c, e = self.canvas, self.end
        ids, positions = c.tokens[rows, :e], c.positions[rows, :e]
        if self.ghost:
            first = slice(c.first_column, c.first_column + c.block_length)
            ids = torch.cat([c.first_window[rows], ids], dim=1)
            positions = torch.cat([c.positions[rows, first], positions], dim=1)
        bias = c.window_bias(rows, e, self.reference, self.dtype, ghost=self.ghost)
        return self.adapter.forward(self.model, ids, positions, bias, None, c.block_length)
