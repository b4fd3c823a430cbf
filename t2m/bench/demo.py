"""Does remasking matter on the bundled demo? The paper's grid against T2T, paired, on one split.

    python -m t2m.bench.demo                                # bundled model, arith1000, all 109 configurations
    python -m t2m.bench.demo --model outputs/tiny-dllm --split arith100

Prints, for the held-out split: T2T's accuracy and its error classes (`t2m.analysis.errors`:
last-mile corruption, reasoning, no answer); every configuration of `sweeps/paper_ablation.yaml`
beside T2T on the same problems (accuracy, remasks and forward passes per problem, discordant pairs
fixed / broken, exact McNemar p); and a random-remask control at matched remask counts: the same
caps as the best configuration, with tokens picked at random instead of by a detector, so a gain that
comes from remasking as such (any extra refill) is told apart from a gain that comes from detection.

Every configuration runs in one batched `t2m.decode` call (rows = problems x configurations).
"""

from __future__ import annotations

import argparse
import platform
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch

import t2m
from t2m import DecodeConfig
from t2m.analysis.stats import mcnemar_exact

SWEEP = Path(__file__).resolve().parents[2] / "sweeps" / "paper_ablation.yaml"
CONTROL = "random_remask"  # the built-in control (t2m/decoding/policies.py)
TARGET_P = 0.01  # issue 10's bar for "remasking really helps" (stricter than the report's 0.05)


def paper_grid(path: Path = SWEEP) -> list[dict]:
    """The configurations of a named sweep's grids, expanded as the union sweeper expands them."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    from t2m.pipeline.sweepers.union import expand, grid_overrides

    parser = OverridesParser.create()
    grids = OmegaConf.load(path).hydra.sweeper.grids
    jobs = expand([], [parser.parse_overrides(grid_overrides(g)) for g in grids.values()])
    return [{o.key_or_group: o.value() for o in parser.parse_overrides(job)} for job in jobs]


@dataclass
class Outcome:
    config: DecodeConfig
    correct: list[bool]
    classes: Counter
    remasks: float
    forwards: float

    def versus(self, base: "Outcome") -> tuple[int, int, float]:
        """Discordant pairs against `base` (fixed, broken) and the exact McNemar p (two-sided), as
        `t2m.analysis.stats` counts them (problem i of one against problem i of the other)."""
        fixed = sum(a and not b for a, b in zip(self.correct, base.correct))
        broken = sum(b and not a for a, b in zip(self.correct, base.correct))
        return fixed, broken, mcnemar_exact(fixed, broken)


def run(model, problems, configs: list[DecodeConfig], batch_size: int) -> list[Outcome]:
    from t2m.analysis.errors import classify
    from t2m.data import PROMPT_TEMPLATES, build_prompt

    prompts = [build_prompt(p, PROMPT_TEMPLATES["arith"], model.tokenizer) for p in problems]
    results = t2m.decode(model, prompts * len(configs), [c for c in configs for _ in problems], batch_size=batch_size)
    n, out = len(problems), []
    for k, config in enumerate(configs):
        rows = results[k * n : (k + 1) * n]
        texts = [model.tokenizer.decode(r.tokens, skip_special_tokens=True) for r in rows]
        classes = [classify(t, p.gold, truncated=model.eos_id not in r.tokens) for t, p, r in zip(texts, problems, rows)]
        out.append(Outcome(config, [c == "correct" for c in classes], Counter(classes),
                           sum(r.remasks for r in rows) / n, sum(r.forwards for r in rows) / n))
    return out


def _label(c: DecodeConfig) -> str:
    if c.strategy == "t2t":
        return f"t2t tau={c.tau:g}"
    return f"{c.strategy} tau={c.tau:g} C_max={c.c_max} rho_max={c.rho_max:g}"


def _row(o: Outcome, base: Outcome) -> str:
    n = len(o.correct)
    fixed, broken, p = o.versus(base)
    mark = " " if p >= TARGET_P else ("+" if fixed > broken else "-")
    return (f"{mark} {_label(o.config):42s} acc {100 * sum(o.correct) / n:5.1f}%  remasks {o.remasks:5.2f}  "
            f"forwards {o.forwards:5.2f}  fixed {fixed:3d} broken {broken:3d}  p {p:.2g}")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _rates(text: str) -> list[float]:
    try:
        rates = [float(t) for t in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {text!r}") from None
    if not all(0 < r <= 1 for r in rates):
        raise argparse.ArgumentTypeError(f"every rate must be in (0, 1], got {text}")
    return rates


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m t2m.bench.demo", description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="checkpoint dir (default: the bundled tiny model)")
    ap.add_argument("--split", default="arith1000", choices=["arith100", "arith1000"], help="an arith evaluation split")
    ap.add_argument("--limit", type=_positive, default=None, help="first N problems only")
    ap.add_argument("--batch-size", type=_positive, default=512, help="rows per forward batch")
    ap.add_argument("--threads", type=_positive, default=1, help="torch CPU threads")
    ap.add_argument("--controls", type=_rates, default="0.001,0.003,0.01,0.03,0.1,0.3",
                    help="random-remask rates (tau in (0, 1]) to try, comma-separated")
    args = ap.parse_args(argv)
    try:
        model = t2m.load_model(args.model)
    except (FileNotFoundError, OSError, ValueError) as e:
        ap.error(f"--model: {e}")  # one line, exit 2, before any decoding

    from t2m.data import GEN_LENGTH, load_problems

    torch.set_num_threads(args.threads)
    problems = load_problems(args.split)
    problems = problems[: args.limit] if args.limit else problems
    gen_length = GEN_LENGTH["arith1000"]
    grid = [DecodeConfig(gen_length=gen_length, **values) for values in paper_grid()]

    start = time.perf_counter()
    outcomes = run(model, problems, grid, args.batch_size)
    grid_wall = time.perf_counter() - start
    base = next(o for o in outcomes if o.config.strategy == "t2t")
    n = len(problems)
    errors = n - sum(base.correct)

    print(f"machine: {platform.node()} {platform.system()} {platform.machine()}, torch {torch.__version__}, {args.threads} thread(s)")
    print(f"model: {model.name} ({model.num_parameters / 1e6:.2f}M parameters); split: {args.split} ({n} problems); "
          f"greedy, threshold {base.config.threshold}, block {base.config.block_length}, gen_length {gen_length}")
    print(f"grid: {len(grid)} configurations x {n} problems = {len(grid) * n} rows in one decode call: {grid_wall:.0f} s")
    print(f"\nT2T accuracy: {sum(base.correct)}/{n} = {100 * sum(base.correct) / n:.1f}%")
    shares = ", ".join(f"{c} {base.classes[c]} ({100 * base.classes[c] / max(errors, 1):.0f}%)" for c in ("last_mile", "reasoning", "no_answer"))
    print(f"T2T errors: {errors}: {shares}")

    print(f"\nEvery configuration vs T2T on the same {n} problems (+/-: exact McNemar p < {TARGET_P}, better/worse):")
    for o in outcomes:
        print(_row(o, base))
    tested = [o for o in outcomes if o is not base]
    better = [o for o in tested if o.versus(base)[2] < TARGET_P and o.versus(base)[0] > o.versus(base)[1]]
    worse = [o for o in tested if o.versus(base)[2] < TARGET_P and o.versus(base)[0] < o.versus(base)[1]]
    print(f"\nsignificantly better than T2T: {len(better)} of {len(tested)}; significantly worse: {len(worse)}")

    best = min(tested, key=lambda o: (o.versus(base)[2], -sum(o.correct)))
    controls = [best.config.replace(strategy=CONTROL, tau=t) for t in args.controls]
    start = time.perf_counter()
    control_outcomes = run(model, problems, controls, args.batch_size)
    control_wall = time.perf_counter() - start
    matched = min(control_outcomes, key=lambda o: abs(o.remasks - best.remasks))
    print(f"\nRandom-remask control at the caps of the best configuration ({len(controls)} rates, {control_wall:.0f} s):")
    print(_row(best, base) + "   <- best configuration")
    for o in control_outcomes:
        print(_row(o, base) + ("   <- matched remask count" if o is matched else ""))


if __name__ == "__main__":
    main()
