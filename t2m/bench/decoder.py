"""Decoder benchmark: the same rows batched and one at a time, side by side in one run.

    python -m t2m.bench                      # bundled model, 64 arith100 rows, mixed strategies
    python -m t2m.bench --device cuda --dtype bfloat16 --rows 512 --batch-size 512

Prints row-steps per second (a row-step = one row taking part in one forward pass) for both runs,
their ratio, and the share of wall time spent outside the model's forward pass.
"""

from __future__ import annotations

import argparse
import itertools
import platform
import time

import torch

import t2m
from t2m import DecodeConfig


class _ForwardTimer:
    """Wraps a model's adapter to add up the time spent inside forward passes."""

    def __init__(self, adapter, device):
        self.adapter, self.device, self.seconds = adapter, device, 0.0

    def __getattr__(self, name):  # everything but forward is the adapter's own (e.g. full_canvas)
        return getattr(self.adapter, name)

    def forward(self, *args, **kwargs):
        self._sync()
        start = time.perf_counter()
        out = self.adapter.forward(*args, **kwargs)
        self._sync()
        self.seconds += time.perf_counter() - start
        return out

    def _sync(self):
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()


def _rows(model, n: int, gen_length: int):
    from t2m.data import build_prompt, dataset, load_problems

    problems = load_problems("arith1000", limit=n)
    prompts = [build_prompt(p, dataset("arith1000").template, model.tokenizer) for p in problems]
    grid = [("t2t", 0.5), ("lowprob", 0.3), ("t2t_remask", 0.7), ("logitdiff", 0.2)]
    configs = [
        DecodeConfig(strategy=s, tau=t, c_max=1, rho_max=0.25, gen_length=gen_length)
        for (s, t), _ in zip(itertools.cycle(grid), range(n))
    ]
    return prompts, configs


def _timed(model, prompts, configs, batch_size):
    timer = _ForwardTimer(model.adapter, model.device)
    model.adapter, original = timer, model.adapter
    try:
        start = time.perf_counter()
        results = t2m.decode(model, prompts, configs, batch_size=batch_size)
        wall = time.perf_counter() - start
    finally:
        model.adapter = original
    row_steps = sum(r.forwards for r in results)
    return results, wall, row_steps, timer.seconds


def _median_run(runs):
    return sorted(runs, key=lambda run: run[1])[(len(runs) - 1) // 2]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="checkpoint dir or hub id (default: bundled tiny model)")
    ap.add_argument("--trust-remote-code", action="store_true")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--rows", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--gen-length", type=int, default=None, help="default: the dataset's (arith1000's registry entry)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's, one per core)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of each kind; the median is reported")
    ap.add_argument("--single-rows", type=int, default=None, help="rows decoded one at a time (default: all)")
    args = ap.parse_args(argv)

    from t2m.data import dataset

    if args.threads:
        torch.set_num_threads(args.threads)
    model = t2m.load_model(args.model, trust_remote_code=args.trust_remote_code, device=args.device, dtype=args.dtype)
    gen_length = args.gen_length or dataset("arith1000").gen_length
    prompts, configs = _rows(model, args.rows, gen_length)
    _timed(model, prompts[:2], configs[:2], 2)  # warm-up: allocator, kernels, lazy imports

    # Alternate the two runs and keep each one's median: a shared CPU's noise hits both alike.
    n1 = args.single_rows or args.rows
    runs_b, runs_1 = [], []
    for _ in range(args.repeat):
        runs_b.append(_timed(model, prompts, configs, args.batch_size))
        runs_1.append(_timed(model, prompts[:n1], configs[:n1], 1))
    batched, wall_b, steps_b, fwd_b = _median_run(runs_b)
    single, wall_1, steps_1, fwd_1 = _median_run(runs_1)
    same = all(a.tokens == b.tokens for a, b in zip(batched, single))

    rate_b, rate_1 = steps_b / wall_b, steps_1 / wall_1
    cpu = platform.processor() or platform.machine()
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU ({cpu}, {torch.get_num_threads()} threads)"
    print(f"machine: {platform.node()} {platform.system()} {platform.machine()}, {torch.__version__}")
    print(f"device: {device}, dtype: {args.dtype}")
    print(f"model: {model.name} ({model.num_parameters / 1e6:.2f}M parameters)")
    print(f"rows: {args.rows} (one at a time: {n1}), gen_length {gen_length}, strategies t2t/lowprob/t2t_remask/logitdiff, "
          f"median of {args.repeat} alternating runs each")
    print(f"batched (batch {args.batch_size}): {steps_b} row-steps in {wall_b:.2f}s = {rate_b:,.0f} row-steps/s, "
          f"{100 * (1 - fwd_b / wall_b):.1f}% of wall time outside forward")
    print(f"one at a time:        {steps_1} row-steps in {wall_1:.2f}s = {rate_1:,.0f} row-steps/s, "
          f"{100 * (1 - fwd_1 / wall_1):.1f}% of wall time outside forward")
    print(f"speed-up: {rate_b / rate_1:.1f}x  (identical tokens: {same})")


if __name__ == "__main__":
    main()
