"""Batched block-diffusion decoding: `decode()`. The semantics are in docs/decoding.md.

A batch is one canvas (canvas.py); its rows may each carry their own DecodeConfig. Per block, each
active row takes steps until its block ends: one forward pass (forward.py) gives logits for the
current block of every active row, and one step then is, for all rows at once as [rows, block]
tensors:

    proposals (proposals.py)   x0, p0 and the probabilities detectors read
    M2T (the unmasking policy) commit some masked positions to x0
    edit phase (the strategy)  overwrite (T2T) or remask (T2M) committed tokens, under the caps
    block rules (rules.py)     counters, LogitDiff's memory, whether each row's block goes on

Policies are registry entries (registry.py, policies.py), dispatched by name; per-row state lives
in vectors. The one host sync per step is the index of the rows still active, which also decides
whether the block goes on. Rows whose block has ended sit out the forward passes.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from t2m.decoding import registry
from t2m.decoding.canvas import Canvas
from t2m.decoding.config import DecodeConfig
from t2m.decoding.forward import ForwardPasses
from t2m.decoding.models import DiffusionLM
from t2m.decoding.proposals import Proposer, hashed_uniform
from t2m.decoding.registry import StepView
from t2m.decoding.rules import block_goes_on, cap_remasks, finished, logitdiff_memory, still_verifying


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
    padding); a row's result does not depend on its batch. `use_cache=False` recomputes every
    forward from scratch (same results with `refresh_cache`; a check, not a speed-up).
    `progress(n)` is told each time `n` more rows finish.
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

    results: list[DecodeResult | None] = [None] * len(prompts)
    for rows in _batches(model, prompts, configs, batch_size):
        batch = _decode_batch(model, [prompts[i] for i in rows], [configs[i] for i in rows], use_cache, [want_traj[i] for i in rows], progress)
        for i, r in zip(rows, batch):
            results[i] = r
    return results


def _batches(model, prompts, configs, batch_size: int) -> list[list[int]]:
    """Row indices in batches of up to `batch_size` sharing what a canvas must share: the block
    length, and for full-canvas models (no position ids, no mask) the canvas itself."""

    def key(i):
        c = configs[i]
        if getattr(model.adapter, "full_canvas", False):
            return (c.block_length, len(prompts[i]), -(-c.gen_length // c.block_length))
        return (c.block_length,)

    order = sorted(range(len(prompts)), key=lambda i: (key(i), len(prompts[i]) // configs[i].block_length, i))
    batches: list[list[int]] = []
    for i in order:
        if batches and len(batches[-1]) < batch_size and key(batches[-1][0]) == key(i):
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def _check_prompts(prompts: list[list[int]], model: DiffusionLM) -> None:
    vocab = model.model.config.vocab_size
    for i, p in enumerate(prompts):
        if any(isinstance(t, bool) or not isinstance(t, numbers.Integral) or not 0 <= t < vocab for t in p):
            raise ValueError(f"prompt {i} holds a token id outside [0, {vocab})")
        if model.mask_id in p:
            raise ValueError(f"prompt {i} contains the mask id {model.mask_id}; prompts must be fully visible")


# ---- one batch ------------------------------------------------------------------------------------


@torch.no_grad()
def _decode_batch(model, prompts, configs, use_cache, want_traj, progress) -> list[DecodeResult]:
    started = time.perf_counter()
    batch = _Batch.start(model, prompts, configs, use_cache, want_traj)
    done = torch.zeros(batch.n_rows, dtype=torch.bool, device=batch.device)
    reported = 0
    for j in range(batch.canvas.max_blocks):
        done |= batch.canvas.n_blocks <= j
        if not bool((~done).any()):
            break
        stale = _decode_block(batch, j, ~done)
        _finish_block(batch, j, stale & ~done)
        end = batch.canvas.block(j)[1]
        done |= finished(batch.canvas.tokens[:, :end], batch.canvas.generated[:, :end], model.mask_id, model.eos_id, batch.knobs.eos_early_stop)
        done |= batch.canvas.n_blocks <= j + 1
        reported = _report(progress, done, reported)
    if progress is not None and reported < batch.n_rows:
        progress(batch.n_rows - reported)
    return _results(batch, prompts, configs, want_traj, (time.perf_counter() - started) / batch.n_rows)


def _decode_block(batch: "_Batch", j: int, active: torch.Tensor) -> torch.Tensor:
    """Steps of block j until every row's block has ended; returns the rows whose block's tokens
    changed after their last forward pass (their cache lags, as in the reference)."""
    canvas, knobs, mask_id = batch.canvas, batch.knobs, batch.mask_id
    s, e = canvas.block(j)
    block = _BlockState.start(canvas.tokens[:, s:e] == mask_id)
    batch.forward.begin_block(j)
    while True:
        old = canvas.tokens[:, s:e]
        no_mask = ~(old == mask_id).any(1)
        block.post_steps += active & no_mask
        holds_eos = ((canvas.tokens[:, :e] == batch.eos_id) & canvas.generated[:, :e]).any(1)
        active = block_goes_on(active, no_mask, block.post_steps, holds_eos, knobs.eos_early_stop, knobs.max_post_steps,
                               batch.steps[:, j], knobs.step_cap, knobs.verify_steps)  # fmt: skip
        rows = active.nonzero().squeeze(1)  # the step's one host sync
        if rows.numel() == 0:
            return block.stale

        logits = batch.forward.step(rows, all_rows=rows.numel() == batch.n_rows)
        new = _decode_step(batch, block, j, rows, logits, old[rows])
        changed = (new != old[rows]).any(1)
        canvas.tokens[rows, s:e] = new
        block.stale[rows] = changed
        # A no-mask step that changed nothing ends the block, unless verification steps remain.
        active[rows] = ~(no_mask[rows] & ~changed) | still_verifying(no_mask[rows], block.post_steps[rows], knobs.verify_steps[rows])


def _decode_step(batch: "_Batch", block: "_BlockState", j: int, rows, logits, old):
    """One step of block j for `rows`: proposals, M2T, the edit phase and the caps; returns the
    block's new tokens and updates the row counters and the block state."""
    knobs, s = batch.knobs, batch.canvas.block(j)[0]
    positions = batch.canvas.positions[rows, s : s + batch.canvas.block_length]
    step_in_block = batch.steps[rows, j]
    batch.forwards[rows] += 1
    batch.steps[rows, j] += 1
    proposal = batch.proposer(logits, old, rows, batch.forwards[rows], positions)

    masked = old == batch.mask_id
    editable = ~masked & ~batch.canvas.frozen[rows, s : s + batch.canvas.block_length]
    view = StepView(
        old=old, masked=masked, editable=editable, x0=proposal.x0, p0=proposal.p0, p_old=proposal.p_old,
        p_prev_old=block.memory[rows], tau=knobs.tau[rows], threshold=knobs.threshold[rows],
        step=step_in_block[:, None], masked_at_start=block.masked_at_start[rows, None],
        entropy=proposal.entropy, margin=proposal.margin,
        _knob=lambda name, default: knobs.column(name, rows, default),
        _uniform=lambda salt: hashed_uniform(knobs.seed[rows] + (salt + 1) * 0x5851F42D, batch.forwards[rows], positions, 1)[..., 0],
        _setting=lambda name: [getattr(knobs.configs[r], name) for r in rows.tolist()],
    )  # fmt: skip
    fill = batch.policies.unmask(view, rows)
    view = dataclasses.replace(view, committed=fill)  # what the edit phase may weigh its doubts against (WINO)
    overwrite, candidate, score = batch.policies.edit(view, rows, block.memory_ready[rows])

    has_editable = editable.any(1)
    count = block.remask_count[rows].masked_fill(~has_editable[:, None], 0)  # a step without editable positions resets C_max
    remask = cap_remasks(candidate, score, editable, count, knobs.c_max[rows], knobs.rho_max[rows])
    new = torch.where(fill | overwrite, proposal.x0, old).masked_fill(remask, batch.mask_id)

    batch.edits[rows] += overwrite.sum(1)
    batch.remasks[rows] += remask.sum(1)
    block.remask_count[rows] = count + remask
    block.memory[rows] = logitdiff_memory(new, old, proposal.x0, proposal.p0, proposal.p_old)
    block.memory_ready[rows] = has_editable  # LogitDiff's memory restarts after a step without editable positions
    if batch.trajectory is not None:
        batch.trajectory.record(rows, j, batch.steps, positions - batch.prompt_lengths[rows, None], fill, overwrite, remask, proposal, old)
    return new


def _finish_block(batch: "_Batch", j: int, stale: torch.Tensor) -> None:
    """With refresh_cache, one more forward for the rows whose block changed after their last one."""
    if not batch.forward.cached:
        return
    rows = (stale & batch.knobs.refresh_cache).nonzero().squeeze(1)
    if rows.numel():
        batch.forward.refresh(rows)
        batch.forwards[rows] += 1


def _report(progress, done, reported: int) -> int:
    if progress is None:
        return reported
    n_done = int(done.sum())
    if n_done > reported:
        progress(n_done - reported)
    return max(n_done, reported)


def _results(batch: "_Batch", prompts, configs, want_traj, per_row_time: float) -> list[DecodeResult]:
    tokens = batch.canvas.tokens.cpu()
    forwards, edits, remasks = torch.stack([batch.forwards, batch.edits, batch.remasks]).cpu().tolist()
    steps, n_blocks = batch.steps.cpu().tolist(), batch.canvas.n_blocks.cpu().tolist()
    results = []
    for r, c in enumerate(configs):
        begin = batch.canvas.output_start[r]
        out = tokens[r, begin : begin + c.gen_length].tolist()
        if batch.eos_id in out:
            out = out[: out.index(batch.eos_id) + 1]
        results.append(
            DecodeResult(
                tokens=out, forwards=forwards[r], t2t_edits=edits[r], remasks=remasks[r], output_tokens=len(out),
                steps_per_block=[n for n in steps[r][: n_blocks[r]] if n] or [0], wall_time_s=per_row_time,
                trajectory=batch.trajectory.events[r] if want_traj[r] else None,
            )
        )  # fmt: skip
    return results


# ---- batch state ----------------------------------------------------------------------------------


class _Knobs:
    """Every row's DecodeConfig values as vectors ([rows, 1] for those compared with [rows, block])."""

    def __init__(self, configs, device):
        self.configs, self.device = configs, device

        def vec(values, dtype=torch.float32):
            return torch.tensor(values, dtype=dtype, device=device)

        self.tau = vec([c.tau for c in configs])[:, None]
        self.threshold = vec([c.threshold for c in configs])[:, None]
        self.c_max = vec([math.inf if c.c_max is None else c.c_max for c in configs])
        self.rho_max = vec([c.rho_max for c in configs], torch.float64)
        self.max_post_steps = vec([c.max_post_steps for c in configs], torch.long)
        self.verify_steps = vec([c.verify_steps for c in configs], torch.long)
        self.eos_early_stop = vec([c.eos_early_stop for c in configs], torch.bool)
        self.refresh_cache = vec([c.refresh_cache for c in configs], torch.bool)
        self.reference = vec([c.attention == "reference" for c in configs], torch.bool)
        self.seed = vec([c.seed for c in configs], torch.long)
        self.step_cap = vec([_block_step_cap(c) for c in configs], torch.long)
        self._columns: dict = {}

    def column(self, name: str, rows, default: float):
        """A DecodeConfig field as a float [rows, 1] tensor (for policies' own knobs)."""
        if (name, default) not in self._columns:
            values = [getattr(c, name) for c in self.configs]
            self._columns[name, default] = torch.tensor([default if v is None else float(v) for v in values], device=self.device)[:, None]
        return self._columns[name, default][rows]


def _block_step_cap(c: DecodeConfig) -> int:
    """Steps a block may take. Every step with masks commits at least one position, a position
    refills at most c_max times, and no-mask steps stop at the post-step cap, so the cap does not
    bind when c_max is set (unless the model proposes the mask token itself); it is what ends a
    block where the reference would loop forever (unbounded remasking, a model stuck on the mask)."""
    refills = 8 if c.c_max is None else c.c_max
    return c.block_length * (1 + refills) + max(c.max_post_steps, c.verify_steps) + 1


class _Policies:
    """The batch's unmasking policies and strategies, and which rows use which."""

    def __init__(self, configs, device):
        self.unmasking = sorted({c.unmasking for c in configs})
        self.strategies = sorted({c.strategy for c in configs})
        self.unmasking_of_row = torch.tensor([self.unmasking.index(c.unmasking) for c in configs], device=device)
        self.strategy_of_row = torch.tensor([self.strategies.index(c.strategy) for c in configs], device=device)
        entries = [registry.unmasking(n) for n in self.unmasking] + [registry.strategy(n) for n in self.strategies]
        self.needs = frozenset().union(*(e.needs for e in entries))

    def unmask(self, view: StepView, rows):
        if len(self.unmasking) == 1:
            return registry.unmasking(self.unmasking[0]).select(view) & view.masked
        fill = torch.zeros_like(view.masked)
        for i, name in enumerate(self.unmasking):
            mine = (self.unmasking_of_row[rows] == i)[:, None]
            fill |= registry.unmasking(name).select(view) & mine
        return fill & view.masked

    def edit(self, view: StepView, rows, memory_ready):
        """(overwrite, remask candidates, scores) of each row's strategy on the editable positions."""
        overwrite = torch.zeros_like(view.editable)
        candidate = torch.zeros_like(view.editable)
        score = torch.full_like(view.p0, math.inf)
        for i, name in enumerate(self.strategies):
            entry = registry.strategy(name)
            if entry.detect is None:
                continue
            mine = (self.strategy_of_row[rows] == i)[:, None]
            if entry.needs_previous_step:
                mine = mine & memory_ready[:, None]
            flags, scores = entry.detect(view)
            flags = flags & view.editable & mine
            if entry.remasks:
                candidate |= flags
                score = torch.where(mine, scores, score)
            else:
                overwrite |= flags
        return overwrite, candidate, score


@dataclass
class _BlockState:
    """Per-row state that lives for one block."""

    post_steps: torch.Tensor  # steps that began with no mask
    remask_count: torch.Tensor  # [rows, block] remasks per position (C_max)
    memory: torch.Tensor  # [rows, block] LogitDiff: p(token) under the previous step's logits
    memory_ready: torch.Tensor  # the previous step had editable positions
    stale: torch.Tensor  # tokens changed after the row's last forward pass
    masked_at_start: torch.Tensor  # masked positions when the block began

    @classmethod
    def start(cls, masked: torch.Tensor) -> "_BlockState":
        rows, width, dev = masked.shape[0], masked.shape[1], masked.device
        return cls(
            post_steps=torch.zeros(rows, dtype=torch.long, device=dev),
            remask_count=torch.zeros(rows, width, device=dev),
            memory=torch.full((rows, width), math.nan, device=dev),
            memory_ready=torch.zeros(rows, dtype=torch.bool, device=dev),
            stale=torch.zeros(rows, dtype=torch.bool, device=dev),
            masked_at_start=masked.sum(1),
        )


@dataclass
class _Batch:
    """Everything one batch's decoding reads and writes."""

    canvas: Canvas
    knobs: _Knobs
    policies: _Policies
    proposer: Proposer
    forward: ForwardPasses
    forwards: torch.Tensor  # [rows] forward passes each row took part in
    edits: torch.Tensor
    remasks: torch.Tensor
    steps: torch.Tensor  # [rows, blocks] steps per block
    prompt_lengths: torch.Tensor
    trajectory: "_Trajectory | None"
    mask_id: int
    eos_id: int

    @property
    def n_rows(self) -> int:
        return self.forwards.shape[0]

    @property
    def device(self):
        return self.forwards.device

    @classmethod
    def start(cls, model, prompts, configs, use_cache, want_traj) -> "_Batch":
        dev = torch.device(model.device)
        full_canvas = getattr(model.adapter, "full_canvas", False)
        canvas = Canvas.build(prompts, [c.gen_length for c in configs], configs[0].block_length, model.mask_id, model.eos_id, dev,
                              blocks_from_prompt_end=full_canvas)  # fmt: skip
        knobs = _Knobs(configs, dev)
        policies = _Policies(configs, dev)
        zeros = torch.zeros(len(prompts), dtype=torch.long, device=dev)
        return cls(
            canvas=canvas, knobs=knobs, policies=policies, proposer=Proposer(configs, dev, policies.needs),
            forward=ForwardPasses(model, canvas, knobs.reference, use_cache),
            forwards=zeros, edits=zeros.clone(), remasks=zeros.clone(),
            steps=torch.zeros(len(prompts), canvas.max_blocks, dtype=torch.long, device=dev),
            prompt_lengths=torch.tensor([len(p) for p in prompts], device=dev),
            trajectory=_Trajectory(want_traj, dev) if any(want_traj) else None, mask_id=model.mask_id, eos_id=model.eos_id,
        )  # fmt: skip


class _Trajectory:
    """Fill / edit / remask events of the rows that asked for them (a debugging aid, not the hot path)."""

    def __init__(self, want, device):
        self.want = torch.tensor(want, device=device)
        self.events: list[list[dict]] = [[] for _ in want]

    def record(self, rows, j, steps, gen_pos, fill, overwrite, remask, proposal, old) -> None:
        want = self.want[rows][:, None]
        for kind, flags, token, prob in (("fill", fill, proposal.x0, proposal.p0), ("edit", overwrite, proposal.x0, proposal.p0), ("remask", remask, old, proposal.p_old)):
            for a, i in (flags & want).nonzero().tolist():
                r = int(rows[a])
                self.events[r].append({"block": j, "step": int(steps[r, j]), "position": int(gen_pos[a, i]), "token": int(token[a, i]), "prob": float(prob[a, i]), "event": kind})
