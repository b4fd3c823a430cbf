"""Proposals read the vocabulary in chunks: the same tokens and probabilities as one chunk, and a
working set that does not grow with the batch, sampling included (no timings: tensor bytes)."""

import math

import pytest
import torch

from t2m import DecodeConfig
from t2m.decoding import proposals
from t2m.decoding.proposals import Proposer, top_k_filter, top_p_filter

from tensor_bytes import PeakTensorBytes

VOCAB, BLOCK = 3001, 8
NEEDS = frozenset({"entropy", "margin"})
FIELDS = ("x0", "p0", "p_old", "entropy", "margin")

CONFIG_MIXES = {
    "greedy": lambda r: DecodeConfig(),
    "top_k_top_p": lambda r: DecodeConfig(temperature=0.8, top_k=20, top_p=0.9, seed=r),
    "mixed": lambda r: DecodeConfig(temperature=[0.0, 0.7, 1.3][r % 3], top_k=[None, 5, 50][r % 3], top_p=[None, 0.8, None][r % 3], seed=r),
    "temperature_only": lambda r: DecodeConfig(temperature=1.0, seed=r),
}


def step_inputs(n_rows, vocab=VOCAB, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = (torch.randn(n_rows, BLOCK, vocab, generator=g) * 4).to(dtype)
    logits[0, 0, :10] = logits[0, 0, 0]  # ties at the top
    old = torch.randint(0, vocab, (n_rows, BLOCK), generator=g)
    rows = torch.arange(n_rows)
    return logits, old, rows, rows * 3 + 1, torch.arange(BLOCK).expand(n_rows, BLOCK) + 150


@pytest.mark.parametrize("mix", sorted(CONFIG_MIXES))
def test_chunked_proposals_equal_one_chunk(mix):
    configs = [CONFIG_MIXES[mix](r) for r in range(6)]
    inputs = step_inputs(6)
    whole = Proposer(configs, "cpu", NEEDS, chunk_bytes=1 << 40)(*inputs)
    per_logit = proposals.BYTES_PER_LOGIT["sampling" if mix != "greedy" else "greedy"]
    # one position a chunk, pieces of a row, whole rows, several rows
    for positions in (1, 3, BLOCK, 2 * BLOCK + 1):
        chunked = Proposer(configs, "cpu", NEEDS, chunk_bytes=positions * VOCAB * per_logit)(*inputs)
        for name in FIELDS:
            assert torch.equal(getattr(chunked, name), getattr(whole, name)), (positions, name)
    if mix != "greedy":
        assert not torch.equal(whole.x0, Proposer([DecodeConfig()] * 6, "cpu", NEEDS)(*inputs).x0)  # it did sample


def test_chunked_proposals_leave_the_logits_alone():
    logits, *rest = step_inputs(3)
    before = logits.clone()
    Proposer([CONFIG_MIXES["top_k_top_p"](r) for r in range(3)], "cpu", NEEDS, chunk_bytes=1)(logits, *rest)
    assert torch.equal(logits, before)


def peak_bytes(configs, chunk_bytes, n_rows, vocab=VOCAB):
    inputs = step_inputs(n_rows, vocab=vocab, dtype=torch.bfloat16)
    proposer = Proposer(configs[:n_rows], "cpu", frozenset(), chunk_bytes=chunk_bytes)
    with PeakTensorBytes(*inputs) as m:
        proposer(*inputs)
    return m.peak


@pytest.mark.parametrize("mix", ["greedy", "top_k_top_p", "temperature_only"])
def test_working_set_is_bounded_and_sampling_costs_no_more_than_greedy(mix):
    vocab, budget = 8000, 1 << 20  # a chunk: 1 MiB, 16 positions greedy, 4 sampling
    configs = [CONFIG_MIXES[mix](r) for r in range(24)]
    outputs_per_row = BLOCK * (8 + 4 + 4)  # x0 (int64), p0, p_old: the [rows, block] results
    few, many = peak_bytes(configs, budget, 4, vocab), peak_bytes(configs, budget, 24, vocab)
    assert many <= budget + 24 * outputs_per_row + (64 << 10)
    assert many - few <= (24 - 4) * outputs_per_row * 2  # grows with rows x block only
    unchunked = peak_bytes(configs, 1 << 40, 24, vocab)
    assert unchunked >= 24 * BLOCK * vocab * 8  # what the chunks save: at least two float32 copies of all logits


def test_top_k_filter_matches_a_full_sort():
    logits, *_ = step_inputs(5)
    logits = logits.round()  # many ties
    top_k = torch.tensor([0, 1, 7, 3000, 5000])
    kept = top_k_filter(logits, top_k, max_top_k=5000)
    k = torch.where(top_k > 0, top_k, VOCAB).clamp(max=VOCAB)
    kth = logits.sort(-1, descending=True).values.gather(-1, (k - 1)[:, None, None].expand(5, BLOCK, 1))
    assert torch.equal(kept, logits.masked_fill(logits < kth, -math.inf))
    assert torch.equal(top_k_filter(logits, top_k[2:3].expand(5), max_top_k=7), top_k_filter(logits, top_k[2:3].expand(5)))


def test_top_p_one_keeps_every_token():
    logits, *_ = step_inputs(2)
    kept = top_p_filter(logits, torch.tensor([1.0, 0.5]))
    assert torch.equal(kept[0], logits[0])
    assert (kept[1] == -math.inf).any()
