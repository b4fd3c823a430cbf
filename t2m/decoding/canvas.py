"""A batch's canvas (one token grid for all its rows) and the attention bias of each forward pass.

Layout. Blocks are aligned at absolute position 0 (LLaDA2.x). Each row is left-padded by whole
blocks so that every row's first generated block starts in the same column, `first_column`; row r's
absolute position p then sits in column `shift[r] + p`, and block j of every row is the same slice
of columns. Models without a block structure (LLaDA 1.x: full bidirectional attention, no cache,
no position ids) start their blocks where the prompt ends, as LLaDA's own `generate` does; their
batches hold prompts of one length, so nothing is padded and no row's positions move.

Attention. A bias tensor [rows, 1, queries, keys] is added to the attention scores (LLaDA2.x's
remote code adds whatever it is given; transformers models add float masks too). Padding keys get
the dtype's minimum, so they get weight exactly 0. Block-causal structure, per row:

    block_causal  a query sees keys of its own and earlier blocks (bias 0), nothing else (minimum)
    reference     what the paper's code does on LLaDA2.x: it passes a 0/1 block mask that the
                  model adds to the scores, so allowed keys get +1 and later real keys 0: still
                  visible, with weight e^-1 relative. This matters only where queries of earlier
                  blocks are computed together with later columns, i.e. in the first forward of the
                  first generated block, which also fills the cache for the prompt's whole blocks;
                  every later forward is the current block over the cached prefix (all visible).

Decoding without the cache recomputes the prompt's blocks at every step; in `reference` mode their
queries must then see the first generated block as it was before the first step, not as it is
now, so that forward carries that block's initial tokens in front as a "ghost" block that only the
prompt's queries see. Cached and uncached decoding then compute the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Canvas:
    tokens: torch.Tensor  # [rows, width] long: prompt, then the mask id, padding in front
    positions: torch.Tensor  # [rows, width] long: absolute positions (0 on padding)
    real: torch.Tensor  # [rows, width] bool: not padding
    frozen: torch.Tensor  # [rows, width] bool: padding or prompt, never filled or edited
    generated: torch.Tensor  # [rows, width] bool: after the prompt (the tail beyond gen_length too)
    output_start: list[int]  # column of each row's first output token
    n_blocks: torch.Tensor  # [rows] generated blocks per row
    first_column: int  # where every row's first generated block begins
    block_length: int
    prompt_block_rows: list[int]  # rows with whole prompt blocks before first_column
    first_window: torch.Tensor  # [rows, block] the first generated block as it starts

    @classmethod
    def build(cls, prompts, gen_lengths, block_length: int, mask_id: int, pad_id: int, device, *, blocks_from_prompt_end=False):
        B = block_length
        lengths = [len(p) for p in prompts]
        if blocks_from_prompt_end:  # LLaDA 1.x: the batch holds prompts of one length
            first_blocks = [0] * len(prompts)
            n_blocks = [-(-g // B) for g in gen_lengths]
            first_column = lengths[0]
        else:
            first_blocks = [n // B for n in lengths]
            n_blocks = [-(-(n + g) // B) - fb for n, g, fb in zip(lengths, gen_lengths, first_blocks)]
            first_column = max(first_blocks) * B
        shifts = [first_column - fb * B if not blocks_from_prompt_end else 0 for fb in first_blocks]
        width = first_column + max(n_blocks) * B
        rows = [[pad_id] * s + list(p) + [mask_id] * (width - s - len(p)) for s, p in zip(shifts, prompts)]

        tokens = torch.tensor(rows, dtype=torch.long, device=device)
        cols = torch.arange(width, device=device)[None]
        shift = torch.tensor(shifts, device=device)[:, None]
        prompt_end = shift + torch.tensor(lengths, device=device)[:, None]
        return cls(
            tokens=tokens,
            positions=(cols - shift).clamp(min=0),
            real=cols >= shift,
            frozen=cols < prompt_end,
            generated=cols >= prompt_end,
            output_start=[s + n for s, n in zip(shifts, lengths)],
            n_blocks=torch.tensor(n_blocks, device=device),
            first_column=first_column,
            block_length=B,
            prompt_block_rows=[r for r, s in enumerate(shifts) if s < first_column] if not blocks_from_prompt_end else [],
            first_window=tokens[:, first_column : first_column + B].clone(),
        )

    @property
    def max_blocks(self) -> int:
        return int(self.n_blocks.max())

    def block(self, j: int) -> tuple[int, int]:
        """Columns [start, end) of generated block j."""
        start = self.first_column + j * self.block_length
        return start, start + self.block_length

    # ---- attention bias ----------------------------------------------------------------------

    def block_bias(self, rows, end: int, reference, dtype):
        """The current block (the last `block_length` columns before `end`) over every column
        before `end`: it sees all real keys. Reference mode adds the paper's all-ones mask."""
        allowed = _value(reference[rows], 1.0, 0.0, dtype)[:, None]
        bias = torch.where(self.real[rows, :end], allowed, torch.finfo(dtype).min)
        return bias[:, None, None, :].expand(-1, 1, self.block_length, -1)

    def window_bias(self, rows, end: int, reference, dtype, *, ghost: bool = False):
        """Columns [0, end) over themselves, block-causal (and, with `ghost`, the first generated
        block's initial tokens in front, seen only by the prompt's queries; see the module doc)."""
        B, first = self.block_length, self.first_column
        minimum = torch.finfo(dtype).min
        ref = reference[rows][:, None, None]
        cols = torch.arange(end, device=self.tokens.device)
        blocks = cols // B
        allowed = blocks[None, :] <= blocks[:, None]  # [queries, keys]
        prompt_query = (cols < first)[:, None]
        leak_end = first if ghost else end  # later real columns a prompt query sees in reference mode
        leaks = ~allowed & prompt_query & (cols < leak_end)[None, :]

        real = self.real[rows, :end]
        hi, lo = _value(ref, 1.0, 0.0, dtype), torch.zeros((), dtype=dtype, device=cols.device)
        bias = torch.where(allowed, hi, torch.where(leaks & ref, lo, minimum))  # [rows, queries, keys]
        bias = bias.masked_fill(~real[:, None, :], minimum)
        self_only = torch.eye(end, dtype=torch.bool, device=cols.device)
        bias = torch.where(~real[:, :, None] & self_only, hi, bias)  # padding queries: no NaN rows
        if not ghost:
            return bias[:, None]

        # Ghost block in front: its queries see the real prompt and itself; real prompt queries see it.
        g = B
        ghost_keys_for_real = torch.where(prompt_query[None] & real[:, :, None] & ref, lo, minimum).expand(-1, end, g)
        real_keys_for_ghost = torch.where((cols < first)[None, None, :] & real[:, None, :], hi, minimum).expand(-1, g, end)
        ghost_block = hi.expand(-1, g, g)
        top = torch.cat([ghost_block, real_keys_for_ghost], dim=2)
        bottom = torch.cat([ghost_keys_for_real, bias], dim=2)
        return torch.cat([top, bottom], dim=1)[:, None]


def _value(flag, if_true: float, if_false: float, dtype):
    return torch.where(flag, torch.tensor(if_true, dtype=dtype, device=flag.device), torch.tensor(if_false, dtype=dtype, device=flag.device))
