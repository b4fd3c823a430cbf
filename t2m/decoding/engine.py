"""Batched block-diffusion decoding: M2T filling plus an edit phase (T2T editing or T2M remasking).

Semantics are DESIGN.md §1 (LLaDA2.1 Q mode, T2M as in "Remask, Don't Replace"). The batch is one
tensor canvas. Rows are left-padded by whole blocks so that every row's current block sits in the
same columns: a step then runs the model once on `[rows, block]` tokens, every rule below is a
tensor op over `[rows, block]`, and per-row state (counters, thresholds, the LogitDiff memory, the
strategy) lives in vectors. The only host sync per step is the active-row index, which also decides
whether the block loop goes on. Rows whose block has ended sit out the forward passes.

KV cache: finished blocks are cached; each step feeds only the current block. A block's cached
keys/values are those of the row's own last forward pass, as in the reference implementation.
"""

from __future__ import annotations

import math
import numbers
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from t2m.decoding.config import DecodeConfig
from t2m.decoding.models import DiffusionLM
from t2m.decoding.policies import STRATEGIES, StepView


@dataclass
class DecodeResult:
    tokens: list[int]  # generated ids up to and including the first EOS (or gen_length ids)
    forwards: int  # forward passes this row took part in
    t2t_edits: int
    remasks: int
    output_tokens: int
    steps_per_block: list[int]  # decoding steps (forwards) in each generated block
    wall_time_s: float  # the batch's wall time divided by its rows
    trajectory: list[dict] | None = None  # per event: block, step, position, token, prob, event

    @property
    def modifications(self) -> int:
        """The paper's cost axis: edits for T2T, remasks for T2M."""
        return self.t2t_edits + self.remasks


def decode(
    model: DiffusionLM,
    prompts: Sequence[Sequence[int]],
    config: DecodeConfig | Sequence[DecodeConfig],
    *,
    batch_size: int = 64,
    use_cache: bool = True,
    trajectory: bool | Sequence[bool] = False,
    progress: Callable[[int], None] | None = None,
) -> list[DecodeResult]:
    """Decode every prompt (a list of token ids); `config` is one DecodeConfig or one per prompt.

    Rows are grouped into batches of up to `batch_size` by block length and prompt length (less
    padding); a row's result does not depend on its batch. `progress(n)` is told each time `n` more
    rows finish.
    """
    prompts = [list(p) for p in prompts]
    configs = [config] * len(prompts) if isinstance(config, DecodeConfig) else list(config)
    if len(configs) != len(prompts):
        raise ValueError(f"got {len(prompts)} prompts but {len(configs)} configs; pass one config or one per prompt")
    if not all(isinstance(c, DecodeConfig) for c in configs):
        raise TypeError("config must be a t2m.DecodeConfig or a list of them")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} is invalid; allowed: an integer >= 1")
    want_traj = [bool(trajectory)] * len(prompts) if isinstance(trajectory, bool) else [bool(t) for t in trajectory]
    if len(want_traj) != len(prompts):
        raise ValueError(f"trajectory has {len(want_traj)} entries for {len(prompts)} prompts")
    _check_prompts(prompts, model)

    order = sorted(range(len(prompts)), key=lambda i: (configs[i].block_length, len(prompts[i]) // configs[i].block_length, i))
    results: list[DecodeResult | None] = [None] * len(prompts)
    start = 0
    while start < len(order):
        stop = start + 1
        while stop < len(order) and stop - start < batch_size and configs[order[stop]].block_length == configs[order[start]].block_length:
            stop += 1
        rows = order[start:stop]
        batch = _decode_batch(model, [prompts[i] for i in rows], [configs[i] for i in rows], use_cache, [want_traj[i] for i in rows], progress)
        for i, r in zip(rows, batch):
            results[i] = r
        start = stop
    return results


def _check_prompts(prompts: list[list[int]], model: DiffusionLM) -> None:
    vocab = model.model.config.vocab_size
    for i, p in enumerate(prompts):
        if any(isinstance(t, bool) or not isinstance(t, numbers.Integral) or not 0 <= t < vocab for t in p):
            raise ValueError(f"prompt {i} holds a token id outside [0, {vocab})")
        if model.mask_id in p:
            raise ValueError(f"prompt {i} contains the mask id {model.mask_id}; prompts must be fully visible")


@torch.no_grad()
def _decode_batch(model, prompts, configs, use_cache, want_traj, progress) -> list[DecodeResult]:
    t_start = time.perf_counter()
    dev = torch.device(model.device)
    mask_id, eos_id = model.mask_id, model.eos_id
    R, B = len(prompts), configs[0].block_length

    # Layout: row r's block j (absolute positions [jB, (j+1)B)) sits at columns shift_r + [jB, (j+1)B).
    L = torch.tensor([len(p) for p in prompts], device=dev)
    G = torch.tensor([c.gen_length for c in configs], device=dev)
    first_block = L // B
    n_blocks = (L + G + B - 1) // B - first_block  # generated blocks per row
    shift = (first_block.max() - first_block) * B
    S0 = int(first_block.max()) * B  # column of every row's first generated block
    W = S0 + int(n_blocks.max()) * B
    cols = torch.arange(W, device=dev)
    x = torch.full((R, W), mask_id, dtype=torch.long, device=dev)
    x[cols[None] < shift[:, None]] = eos_id  # left padding: never attended
    for r, p in enumerate(prompts):
        x[r, int(shift[r]) : int(shift[r]) + len(p)] = torch.tensor(p, dtype=torch.long, device=dev)
    position = (cols[None] - shift[:, None]).clamp(min=0)
    real = cols[None] >= shift[:, None]  # not padding
    prompt_or_pad = cols[None] < (shift + L)[:, None]
    generated = ~prompt_or_pad & (cols[None] < (shift + L + G)[:, None])  # the gen_length output slots
    col_block = cols // B

    # Per-row knobs as vectors.
    def vec(values, dtype=torch.float32):
        return torch.tensor(values, dtype=dtype, device=dev)

    tau = vec([c.tau for c in configs])[:, None]
    threshold = vec([c.threshold for c in configs])[:, None]
    c_max = vec([math.inf if c.c_max is None else c.c_max for c in configs])[:, None]
    rho = vec([c.rho_max for c in configs], torch.float64)
    max_post = vec([c.max_post_steps for c in configs], torch.long)
    eos_stop = vec([c.eos_early_stop for c in configs], torch.bool)
    refresh = vec([c.refresh_cache for c in configs], torch.bool)
    step_cap = vec([_block_step_cap(c) for c in configs], torch.long)
    names = sorted({c.strategy for c in configs})
    strategy_of_row = vec([names.index(c.strategy) for c in configs], torch.long)
    sampler = _Sampler(configs, dev, mask_id)

    forwards = torch.zeros(R, dtype=torch.long, device=dev)
    edits = torch.zeros_like(forwards)
    remasks = torch.zeros_like(forwards)
    steps = torch.zeros(R, int(n_blocks.max()), dtype=torch.long, device=dev)
    done = torch.zeros(R, dtype=torch.bool, device=dev)
    events: list[list[dict]] = [[] for _ in range(R)]
    traj_rows = torch.tensor(want_traj, device=dev)
    any_traj = any(want_traj)
    prefix_kv: list[tuple[torch.Tensor, torch.Tensor]] | None = None  # cached columns [0, cached)
    cached = 0
    finished_reported = 0
    if use_cache and S0 and bool((shift == S0).any()):
        # Rows whose prompt fits in their first generated block sit on S0 columns of pure padding.
        # Run the full prompt blocks once for the rows that have them, instead of making every row
        # carry S0 padded columns through its first step (not a decoding step: not counted).
        idx = (shift < S0).nonzero().squeeze(1)
        key_block = col_block[:S0]
        allowed = (key_block[None, :] <= key_block[:, None]) & (real[idx, None, :S0] | torch.eye(S0, dtype=torch.bool, device=dev))
        _, new_kv = model.adapter.forward(model.model, x[idx, :S0], position[idx, :S0], allowed[:, None], None, 1)
        prefix_kv = [_scatter_rows(None, idx, R, k, v) for k, v in new_kv]  # padding rows keep zeros: never attended
        cached = S0

    for blk in range(int(n_blocks.max())):
        s, e = S0 + blk * B, S0 + (blk + 1) * B
        done |= n_blocks <= blk
        active = ~done
        if not bool(active.any()):
            break
        frozen = prompt_or_pad[:, s:e]
        post_steps = torch.zeros(R, dtype=torch.long, device=dev)
        remask_count = torch.zeros(R, B, device=dev)
        memory = torch.full((R, B), math.nan, device=dev)  # LogitDiff: p(token) under the last step's logits
        memory_ready = torch.zeros(R, dtype=torch.bool, device=dev)
        stale = torch.zeros(R, dtype=torch.bool, device=dev)  # tokens changed after the row's last forward
        block_kv: list[list[torch.Tensor]] | None = None
        q0 = cached if use_cache else 0
        key_block = col_block[:e]
        allowed_all = (key_block[None, :] <= col_block[q0:e, None]) & (
            real[:, None, :e] | (cols[:e][None, :] == cols[q0:e, None])[None]  # padding attends to itself: no NaN rows
        )
        allowed_all = allowed_all[:, None]  # [R, 1, queries, keys]

        while True:
            old = x[:, s:e]
            masked = old == mask_id
            no_mask = ~masked.any(1)
            post_steps += active & no_mask
            holds_eos = ((x[:, :e] == eos_id) & generated[:, :e]).any(1)
            active &= ~(no_mask & ((eos_stop & holds_eos) | (post_steps > max_post))) & (steps[:, blk] < step_cap)
            idx = active.nonzero().squeeze(1)  # the step's one host sync
            if idx.numel() == 0:
                break

            if use_cache:
                past = None if prefix_kv is None else [(k[idx], v[idx]) if idx.numel() < R else (k, v) for k, v in prefix_kv]
                logits, new_kv = model.adapter.forward(
                    model.model, x[idx, cached:e], position[idx, cached:e], allowed_all[idx], past, B
                )
                if cached < s:  # the first forward also computed the prompt's blocks: keep them
                    prefix_kv = [_scatter_rows(None, idx, R, k[:, :, : s - cached], v[:, :, : s - cached]) for k, v in new_kv]
                    cached = s
                    q0 = s
                    allowed_all = allowed_all[:, :, -B:]
                block_kv = [_scatter_rows(block_kv and block_kv[i], idx, R, k[:, :, -B:], v[:, :, -B:]) for i, (k, v) in enumerate(new_kv)]
            else:
                logits, _ = model.adapter.forward(model.model, x[idx, :e], position[idx, :e], allowed_all[idx], None, B)
            forwards[idx] += 1
            steps[idx, blk] += 1

            old_a, masked_a = old[idx], masked[idx]
            x0, p0, p_old = sampler.propose(logits.float(), old_a, idx, forwards[idx], position[idx, s:e])

            # M2T: commit confident masked positions, or at least the most confident one.
            fill = masked_a & (p0 > threshold[idx])
            stuck = masked_a.any(1) & ~fill.any(1)
            best = p0.masked_fill(~masked_a, -1.0).argmax(1)
            fill |= F.one_hot(best, B).bool() & stuck[:, None]
            new = torch.where(fill, x0, old_a)

            # Edit phase on positions committed before this step.
            editable = ~masked_a & ~frozen[idx]
            has_editable = editable.any(1)
            count = remask_count[idx].masked_fill(~has_editable[:, None], 0)  # block start resets counters
            view = StepView(old_a, x0, p0, p_old, memory[idx], editable, tau[idx])
            overwrite = torch.zeros_like(editable)
            candidate = torch.zeros_like(editable)
            score = torch.full_like(p0, math.inf)
            row_strategy = strategy_of_row[idx]
            for sid, name in enumerate(names):
                strategy = STRATEGIES[name]
                if strategy.detect is None:
                    continue
                rows = (row_strategy == sid)[:, None]
                if strategy.needs_previous_step:
                    rows = rows & memory_ready[idx][:, None]
                flags, s_score = strategy.detect(view)
                flags = flags & editable & rows
                if strategy.remasks:
                    candidate |= flags
                    score = torch.where(rows, s_score, score)
                else:
                    overwrite |= flags
            new = torch.where(overwrite, x0, new)
            edits[idx] += overwrite.sum(1)

            # T2M caps: C_max first, then keep the lowest-score max(1, floor(|editable|·ρ)).
            candidate &= count < c_max[idx]
            rho_a = rho[idx]
            limit = torch.where(rho_a >= 1, B, (editable.sum(1).double() * rho_a).floor().clamp(min=1).long())
            order = score.masked_fill(~candidate, math.inf).argsort(dim=1, stable=True)
            rank = torch.empty_like(order).scatter_(1, order, torch.arange(B, device=dev).expand_as(order))
            remask = candidate & (rank < limit[:, None])
            new = new.masked_fill(remask, mask_id)
            remasks[idx] += remask.sum(1)
            remask_count[idx] = count + remask

            # LogitDiff memory: probability of each position's token under this step's logits.
            memory[idx] = torch.where(new == old_a, p_old, torch.where(new == x0, p0, math.nan))
            memory_ready[idx] = has_editable  # a step with no editable position resets the memory

            if any_traj:
                _record(events, traj_rows, idx, blk, steps, position[idx, s:e] - L[idx, None], fill, overwrite, remask, x0, p0, old_a, p_old)

            changed = (new != old_a).any(1)
            x[idx, s:e] = new
            stale[idx] = changed
            active[idx] = ~(no_mask[idx] & ~changed)  # a no-mask step that changed nothing ends the block

        if use_cache:
            if block_kv is not None:
                refresh_rows = (refresh & stale & ~done).nonzero().squeeze(1)
                if refresh_rows.numel():  # optional: recompute the block's cache from its final tokens
                    past = None if prefix_kv is None else [(k[refresh_rows], v[refresh_rows]) for k, v in prefix_kv]
                    _, new_kv = model.adapter.forward(
                        model.model, x[refresh_rows, s:e], position[refresh_rows, s:e], allowed_all[refresh_rows], past, 1
                    )
                    forwards[refresh_rows] += 1
                    block_kv = [_scatter_rows(block_kv[i], refresh_rows, R, k, v) for i, (k, v) in enumerate(new_kv)]
                if prefix_kv is None:  # the first block started at position 0: nothing before it
                    prefix_kv = block_kv
                else:
                    prefix_kv = [(torch.cat([pk, bk], 2), torch.cat([pv, bv], 2)) for (pk, pv), (bk, bv) in zip(prefix_kv, block_kv)]
                cached = e

        # After a block: stop rows whose generated part is complete and holds EOS, or has no more blocks.
        gen_so_far = generated[:, :e]
        complete = ~((x[:, :e] == mask_id) & gen_so_far).any(1)
        holds_eos = ((x[:, :e] == eos_id) & gen_so_far).any(1)
        done |= (eos_stop & complete & holds_eos) | (n_blocks <= blk + 1)
        if progress is not None:
            n_done = int(done.sum())
            if n_done > finished_reported:
                progress(n_done - finished_reported)
                finished_reported = n_done

    if progress is not None and finished_reported < R:
        progress(R - finished_reported)
    per_row_time = (time.perf_counter() - t_start) / R
    x_cpu, shift_cpu = x.cpu(), shift.cpu()
    stats = torch.stack([forwards, edits, remasks]).cpu().tolist()
    steps_cpu, n_blocks_cpu = steps.cpu().tolist(), n_blocks.cpu().tolist()
    results = []
    for r, (p, c) in enumerate(zip(prompts, configs)):
        begin = int(shift_cpu[r]) + len(p)
        tokens = x_cpu[r, begin : begin + c.gen_length].tolist()
        if eos_id in tokens:
            tokens = tokens[: tokens.index(eos_id) + 1]
        results.append(
            DecodeResult(
                tokens=tokens,
                forwards=stats[0][r],
                t2t_edits=stats[1][r],
                remasks=stats[2][r],
                output_tokens=len(tokens),
                steps_per_block=[n for n in steps_cpu[r][: n_blocks_cpu[r]] if n] or [0],
                wall_time_s=per_row_time,
                trajectory=events[r] if want_traj[r] else None,
            )
        )
    return results


def _block_step_cap(c: DecodeConfig) -> int:
    """Steps a block can take: every step with masks fills one, a position refills at most c_max
    times, and no-mask steps stop at the post-step cap. So the cap never binds when c_max is set;
    with c_max=None (unbounded remasking) it is what guarantees that decoding ends."""
    refills = 8 if c.c_max is None else c.c_max
    return c.block_length * (1 + refills) + c.max_post_steps + 1


def _scatter_rows(buffer, idx, n_rows, k, v):
    """Write the (k, v) of rows `idx` into an [n_rows, ...] buffer (allocated on first use)."""
    if idx.numel() == n_rows:
        return [k, v]  # every row: take the new tensors as they are
    if buffer is None:
        buffer = [k.new_zeros((n_rows,) + k.shape[1:]), v.new_zeros((n_rows,) + v.shape[1:])]
    buffer[0][idx] = k
    buffer[1][idx] = v
    return buffer


def _record(events, traj_rows, idx, blk, steps, gen_pos, fill, overwrite, remask, x0, p0, old, p_old):
    """Append this step's fill / edit / remask events for the rows that asked for a trajectory."""
    want = traj_rows[idx]
    if not bool(want.any()):
        return
    for kind, flags, token, prob in (("fill", fill, x0, p0), ("edit", overwrite, x0, p0), ("remask", remask, old, p_old)):
        hits = (flags & want[:, None]).nonzero().tolist()
        for a, j in hits:
            r = int(idx[a])
            events[r].append(
                {"block": blk, "step": int(steps[r, blk]), "position": int(gen_pos[a, j]), "token": int(token[a, j]), "prob": float(prob[a, j]), "event": kind}
            )


class _Sampler:
    """Proposals x0 and their probabilities: greedy at temperature 0, otherwise a per-row seeded
    Gumbel-max sample (noise hashed from seed, the row's step and the position, so a row's draws do
    not depend on its batch)."""

    def __init__(self, configs, dev, mask_id):
        self.mask_id = mask_id
        self.sampling = any(c.temperature > 0 for c in configs)
        if self.sampling:
            self.temperature = torch.tensor([c.temperature for c in configs], device=dev)
            self.top_k = torch.tensor([c.top_k or 0 for c in configs], device=dev)
            self.top_p = torch.tensor([c.top_p or 1.0 for c in configs], device=dev)
            self.seed = torch.tensor([c.seed for c in configs], device=dev)

    def propose(self, logits, old, idx, step, position):
        logits[..., self.mask_id] = -math.inf  # committing the mask token would be no progress
        lse = logits.logsumexp(-1)
        top, x0 = logits.max(-1)
        p0 = (top - lse).exp()
        p_old = (logits.gather(-1, old[..., None]).squeeze(-1) - lse).exp()
        if not self.sampling:
            return x0, p0, p_old
        temp = self.temperature[idx]
        hot = temp > 0
        scaled = logits / torch.where(hot, temp, 1.0)[:, None, None]
        scaled = _top_k_top_p(scaled, self.top_k[idx], self.top_p[idx])
        lse_s = scaled.logsumexp(-1)
        gumbel = -(-_hashed_uniform(self.seed[idx], step, position, logits.shape[-1]).log()).log()
        xs = (scaled + gumbel).argmax(-1)
        ps = (scaled.gather(-1, xs[..., None]).squeeze(-1) - lse_s).exp()
        ps_old = (scaled.gather(-1, old[..., None]).squeeze(-1) - lse_s).exp()
        pick = hot[:, None]
        return torch.where(pick, xs, x0), torch.where(pick, ps, p0), torch.where(pick, ps_old, p_old)


def _top_k_top_p(logits, top_k, top_p):
    sorted_logits, _ = logits.sort(-1, descending=True)
    rank_cut = torch.where(top_k > 0, top_k, logits.shape[-1]).clamp(max=logits.shape[-1])
    kth = sorted_logits.gather(-1, (rank_cut - 1)[:, None, None].expand(*logits.shape[:2], 1))
    logits = logits.masked_fill(logits < kth, -math.inf)
    probs = sorted_logits.softmax(-1)
    # keep the smallest prefix of the sorted distribution whose mass reaches top_p
    before = probs.cumsum(-1) - probs
    keep_sorted = before < top_p[:, None, None]
    cutoff = sorted_logits.masked_fill(~keep_sorted, math.inf).min(-1, keepdim=True).values
    return logits.masked_fill(logits < cutoff, -math.inf)


_MIX = (-7046029254386353131, -4658895280553007687, -7723592293110705685)  # splitmix64 constants as int64


def _hashed_uniform(seed, step, position, vocab):
    """Uniform (0, 1) numbers from a counter-based hash of (seed, step, position, token)."""
    h = seed[:, None, None] * _MIX[0] + step[:, None, None] * _MIX[1] + position[..., None] * _MIX[2]
    h = h + torch.arange(vocab, device=seed.device) * 0x9E3779B9
    for shift, mult in ((30, _MIX[1]), (27, _MIX[2]), (31, None)):
        h = h ^ ((h >> shift) & ((1 << (64 - shift)) - 1))
        if mult is not None:
            h = h * mult
    return (((h >> 11) & ((1 << 53) - 1)).double() + 0.5) / float(1 << 53)
