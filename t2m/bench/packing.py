"""Packing benchmark: the rows of many configurations in one batched decode, against each
configuration's rows decoded on their own, side by side in one run.

    python -m t2m.bench packing                                   # CPU, bundled model, 16 configurations x 100 problems
    python -m t2m.bench packing --device cuda --dtype bfloat16 --configs 109 --batch-size 1024

A sweep job that holds one configuration can batch only its own problems (100 for arith100 or
CMATH-100), which do not fill a GPU; a packed job (t2m/pipeline/launchers/) decodes the rows of all its
configurations together. The configurations are the first `--configs` of the paper's ablation grid
(sweeps/paper_ablation.yaml, in its order). Prints row-steps per second (a row-step = one row taking
part in one forward pass) both ways, their ratio, and whether every row's tokens are identical.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch

import t2m
from t2m import DecodeConfig


def ablation_configs(n: int, gen_length: int) -> list[DecodeConfig]:
    """The first `n` configurations of the paper's ablation, as the union sweeper expands it."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    from t2m.pipeline.sweepers.union import expand, grid_overrides

    sweep = OmegaConf.load(Path(t2m.__file__).parent / "sweeps" / "paper_ablation.yaml")
    parser = OverridesParser.create()
    grids = [parser.parse_overrides(grid_overrides(g)) for g in sweep.hydra.sweeper.grids.values()]
    configs = []
    for job in expand([], grids)[:n]:
        keys = dict(o.split("=", 1) for o in job)
        configs.append(DecodeConfig(strategy=keys["strategy"], tau=float(keys["tau"]), c_max=int(keys.get("c_max", 1)),
                                    rho_max=float(keys.get("rho_max", 0.25)), gen_length=gen_length))  # fmt: skip
    return configs


def timed(model, prompts, configs, batch_size) -> tuple[list, float]:
    if model.device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    results = t2m.decode(model, prompts, configs, batch_size=batch_size)
    if model.device.startswith("cuda"):
        torch.cuda.synchronize()
    return results, time.perf_counter() - start


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m t2m.bench packing", description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="checkpoint dir or hub id (default: bundled tiny model)")
    ap.add_argument("--trust-remote-code", action="store_true")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--dataset", default="arith100")
    ap.add_argument("--problems", type=int, default=100, help="problems per configuration")
    ap.add_argument("--configs", type=int, default=16, help="configurations (the first N of the paper's 109)")
    ap.add_argument("--batch-size", type=int, default=512, help="rows per forward in the packed run (one configuration's run: min(this, problems))")
    ap.add_argument("--gen-length", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--repeat", type=int, default=1, help="alternating timed runs of each kind; the median is reported")
    args = ap.parse_args(argv)

    from t2m.data import build_prompt, dataset, load_problems

    if args.threads:
        torch.set_num_threads(args.threads)
    model = t2m.load_model(args.model, trust_remote_code=args.trust_remote_code, device=args.device, dtype=args.dtype)
    gen_length = args.gen_length or dataset(args.dataset).gen_length
    problems = load_problems(args.dataset, limit=args.problems)
    prompts = [build_prompt(p, dataset(args.dataset).template, model.tokenizer) for p in problems]
    configs = ablation_configs(args.configs, gen_length)
    timed(model, prompts[:2], configs[:1] * 2, 2)  # warm-up: allocator, kernels, lazy imports

    all_prompts = [p for _ in configs for p in prompts]
    all_configs = [c for c in configs for _ in prompts]
    one_batch = min(args.batch_size, len(prompts))
    packed_runs, alone_runs = [], []
    for _ in range(args.repeat):  # alternate, so that a shared machine's drift hits both alike
        packed_runs.append(timed(model, all_prompts, all_configs, args.batch_size))
        alone = [timed(model, prompts, [c] * len(prompts), one_batch) for c in configs]
        alone_runs.append(([r for results, _ in alone for r in results], sum(wall for _, wall in alone)))
    packed, wall_packed = sorted(packed_runs, key=lambda run: run[1])[(args.repeat - 1) // 2]
    alone, wall_alone = sorted(alone_runs, key=lambda run: run[1])[(args.repeat - 1) // 2]
    same = all(a.tokens == b.tokens for a, b in zip(packed, alone))
    steps = sum(r.forwards for r in packed)

    cpu = platform.processor() or platform.machine()
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU ({cpu}, {torch.get_num_threads()} threads)"
    print(f"machine: {platform.node()} {platform.system()} {platform.machine()}, torch {torch.__version__}")
    print(f"device: {device}, dtype: {args.dtype}; model: {model.name} ({model.num_parameters / 1e6:.2f}M parameters)")
    print(f"{len(configs)} configurations x {len(prompts)} {args.dataset} problems = {len(all_prompts)} rows, gen_length {gen_length}, "
          f"median of {args.repeat}")  # fmt: skip
    print(f"packed (batches of up to {args.batch_size} rows, configurations mixed): {steps} row-steps in {wall_packed:.2f}s "
          f"= {steps / wall_packed:,.0f} row-steps/s")  # fmt: skip
    print(f"one configuration at a time (batches of up to {one_batch}):       {sum(r.forwards for r in alone)} row-steps in "
          f"{wall_alone:.2f}s = {sum(r.forwards for r in alone) / wall_alone:,.0f} row-steps/s")  # fmt: skip
    print(f"packing speed-up: {wall_alone / wall_packed:.2f}x  (identical tokens: {same})")


if __name__ == "__main__":
    main()
