"""Does remasking matter on the bundled demo? The paper's grid against T2T, paired, on one split.

    python -m t2m.bench.demo                                # bundled model, arith1000, all 109 configurations
    python -m t2m.bench.demo --model outputs/tiny-dllm --split arith100

Prints, for the held-out split: T2T's accuracy and its error classes (`t2m.analysis.errors`:
last-mile corruption, reasoning, no answer); every configuration of `sweeps/paper_ablation.yaml`
beside T2T on the same problems (accuracy, remasks and forward passes per problem, discordant pairs
fixed / broken, exact McNemar p raw and Holm-adjusted over the 108); and each detector against a
random-remask control at its own remask count.

Against T2T, a T2M configuration also drops T2T's edit phase, so that comparison mixes the detector
with the loss of that phase. The control isolates detection: it remasks each committed token with
probability τ at random under the detector's caps (C_max, ρ_max) and, like the detector, has no edit
phase. Its τ is calibrated per detector on the first `--calibrate` problems (a ladder of τ, the mean
remasks per problem interpolated to the detector's own mean on those problems; printed), then each
detector and its matched control are compared on every problem, paired, Holm over the detectors.

Every family is tested at `TARGET_P` family-wise (Holm): 108 raw tests at 0.01 would mark about one
configuration by chance. Every configuration runs in one batched `t2m.decode` call (rows = problems
x configurations), the calibration in one more and the matched controls in a third.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import t2m
from t2m import DecodeConfig
from t2m.analysis.stats import adjust, mcnemar_exact, verdict

SWEEP = Path(__file__).resolve().parents[2] / "sweeps" / "paper_ablation.yaml"
CONTROL = "random_remask"  # the built-in control (t2m/decoding/policies.py)
TARGET_P = 0.01  # issue 10's bar for "remasking really helps", family-wise (Holm) over each family of tests


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
    remask_counts: list[int]  # per problem, in problem order
    forwards: float

    @property
    def remasks(self) -> float:
        """Mean remasks per problem."""
        return sum(self.remask_counts) / max(len(self.remask_counts), 1)

    def remasks_on(self, k: int) -> float:
        """Mean remasks per problem on the first `k` problems (the calibration's)."""
        return sum(self.remask_counts[:k]) / max(min(k, len(self.remask_counts)), 1)

    def versus(self, base: "Outcome") -> tuple[int, int, float]:
        """Discordant pairs against `base` (fixed, broken) and the exact McNemar p (two-sided), as
        `t2m.analysis.stats` counts them (problem i of one against problem i of the other)."""
        fixed = sum(a and not b for a, b in zip(self.correct, base.correct))
        broken = sum(b and not a for a, b in zip(self.correct, base.correct))
        return fixed, broken, mcnemar_exact(fixed, broken)


def run(model, problems, configs: list[DecodeConfig], batch_size: int) -> list[Outcome]:
    from t2m.analysis.errors import classify
    from t2m.data import build_prompt
    from t2m.data.arith import TEMPLATE

    prompts = [build_prompt(p, TEMPLATE, model.tokenizer) for p in problems]
    results = t2m.decode(model, prompts * len(configs), [c for c in configs for _ in problems], batch_size=batch_size)
    n, out = len(problems), []
    for k, config in enumerate(configs):
        rows = results[k * n : (k + 1) * n]
        texts = [model.tokenizer.decode(r.tokens, skip_special_tokens=True) for r in rows]
        classes = [classify(t, p.gold, truncated=model.eos_id not in r.tokens) for t, p, r in zip(texts, problems, rows)]
        out.append(Outcome(config, [c == "correct" for c in classes], Counter(classes), [r.remasks for r in rows], sum(r.forwards for r in rows) / n))
    return out


def _label(c: DecodeConfig) -> str:
    if c.strategy == "t2t":
        return f"t2t tau={c.tau:g}"
    return f"{c.strategy} tau={c.tau:g} C_max={c.c_max} rho_max={c.rho_max:g}"


@dataclass
class Test:
    """One paired comparison of a family: `outcome` against `base`, its p adjusted over the family."""

    outcome: Outcome
    base: Outcome
    fixed: int
    broken: int
    p: float
    p_holm: float

    @property
    def verdict(self) -> str:
        return verdict(self.fixed - self.broken, self.p_holm, TARGET_P)


def family(pairs: list[tuple[Outcome, Outcome]]) -> list[Test]:
    """Each (outcome, base) pair tested, paired, with Holm's p over all of them."""
    counts = [o.versus(b) for o, b in pairs]
    holm = adjust([p for _, _, p in counts], "holm")
    return [Test(o, b, f, k, p, q) for (o, b), (f, k, p), q in zip(pairs, counts, holm)]


def calibrate(model, problems, detectors: list[DecodeConfig], rates: list[float], batch_size: int) -> dict[tuple, list[tuple[float, float]]]:
    """{(C_max, ρ_max): [(τ, the control's mean remasks per problem)]} on `problems`, for the caps of
    `detectors` (every other key as theirs), τ = 0 included (no remask at all); one decode call."""
    templates = {caps(c): c for c in detectors}
    controls = [c.replace(strategy=CONTROL, tau=t) for c in templates.values() for t in rates]
    curves = {cap: [(0.0, 0.0)] for cap in templates}
    for o in run(model, problems, controls, batch_size):
        curves[caps(o.config)].append((o.config.tau, o.remasks))
    return curves


def caps(c: DecodeConfig) -> tuple:
    """What bounds a remasking policy's count besides its own choices: (C_max, ρ_max)."""
    return (c.c_max, c.rho_max)


def matched_tau(curve: list[tuple[float, float]], target: float) -> float:
    """The τ at which the control's mean remasks meet `target`, interpolated between the two ladder
    points around it (3 significant digits; the ladder's largest τ where `target` is beyond reach).
    Between positive counts the interpolation is log-log: the count grows like a power of τ (measured
    on the bundled model: 0.04 at τ 0.003, 1.46 at 0.01), and a straight line would undershoot."""
    taus, counts = zip(*sorted(curve))
    counts = np.maximum.accumulate(counts)  # more τ never remasks less; a few problems' noise must not fold the curve
    j = int(np.searchsorted(counts, target))  # the first point that reaches the target
    if j == 0 or j == len(counts):
        return float(taus[min(j, len(counts) - 1)])
    (t1, r1), (t2, r2) = (taus[j - 1], counts[j - 1]), (taus[j], counts[j])
    if r1 > 0:
        tau = t1 * (t2 / t1) ** (np.log(target / r1) / np.log(r2 / r1))
    else:
        tau = t1 + (t2 - t1) * (target - r1) / (r2 - r1)
    return float(f"{tau:.3g}")


def _label(c: DecodeConfig) -> str:
    if c.strategy == "t2t":
        return f"t2t tau={c.tau:g}"
    return f"{c.strategy} tau={c.tau:g} C_max={c.c_max} rho_max={c.rho_max:g}"


def _row(t: Test) -> str:
    o = t.outcome
    n = len(o.correct)
    mark = {"better": "+", "worse": "-"}.get(t.verdict, " ")
    return (f"{mark} {_label(o.config):42s} acc {100 * sum(o.correct) / n:5.1f}%  remasks {o.remasks:5.2f}  "
            f"forwards {o.forwards:5.2f}  fixed {t.fixed:3d} broken {t.broken:3d}  p {t.p:.2g}  p_Holm {t.p_holm:.2g}")


def _tally(tests: list[Test], what: str) -> str:
    """`significantly better than T2T: 0 of 108 after Holm; worse: 1 (α = 0.01; m·α = 1.08 false marks expected without correction; 2 at raw p < 0.01)`"""
    m, raw = len(tests), sum(t.p < TARGET_P for t in tests)
    better, worse = (sum(t.verdict == v for t in tests) for v in ("better", "worse"))
    return (f"significantly better than {what}: {better} of {m} after Holm; worse: {worse} (α = {TARGET_P}; m·α = {m * TARGET_P:.2f} "
            f"false marks expected without correction; {raw} at raw p < {TARGET_P})")


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
    ap.add_argument("--controls", type=_rates, default="0.001,0.002,0.003,0.005,0.007,0.01,0.02,0.03,0.1,0.3",  # detectors remask about 0-1 times per problem: dense there
                    help="the ladder of random-remask rates (tau in (0, 1]) the control is calibrated on, comma-separated")
    ap.add_argument("--calibrate", type=_positive, default=50, help="the first N problems calibrate the control's tau (its remask counts only)")
    args = ap.parse_args(argv)
    try:
        model = t2m.load_model(args.model)
    except (FileNotFoundError, OSError, ValueError) as e:
        ap.error(f"--model: {e}")  # one line, exit 2, before any decoding

    from t2m.data import dataset, load_problems

    torch.set_num_threads(args.threads)
    problems = load_problems(args.split)
    problems = problems[: args.limit] if args.limit else problems
    gen_length = dataset(args.split).gen_length
    grid = [DecodeConfig(gen_length=gen_length, **values) for values in paper_grid()]

    start = time.perf_counter()
    outcomes = run(model, problems, grid, args.batch_size)
    base = next(o for o in outcomes if o.config.strategy == "t2t")
    _header(model, args, base, len(grid), time.perf_counter() - start)
    detectors = [o for o in outcomes if o is not base]
    _versus_t2t(family([(o, base) for o in detectors]))
    _versus_controls(model, problems, detectors, args)


def _header(model, args, base: Outcome, configurations: int, wall: float) -> None:
    n, c = len(base.correct), base.config
    errors = n - sum(base.correct)
    print(f"machine: {platform.node()} {platform.system()} {platform.machine()}, torch {torch.__version__}, {args.threads} thread(s)")
    print(f"model: {model.name} ({model.num_parameters / 1e6:.2f}M parameters); split: {args.split} ({n} problems); "
          f"greedy, threshold {c.threshold}, block {c.block_length}, gen_length {c.gen_length}")
    print(f"grid: {configurations} configurations x {n} problems = {configurations * n} rows in one decode call: {wall:.0f} s")
    print(f"\nT2T accuracy: {sum(base.correct)}/{n} = {100 * sum(base.correct) / n:.1f}%")
    shares = ", ".join(f"{k} {base.classes[k]} ({100 * base.classes[k] / max(errors, 1):.0f}%)" for k in ("last_mile", "reasoning", "no_answer"))
    print(f"T2T errors: {errors}: {shares}")


def _versus_t2t(tests: list[Test]) -> None:
    n = len(tests[0].base.correct)
    print(f"\nEvery configuration vs T2T on the same {n} problems (+/-: Holm-adjusted exact McNemar p < {TARGET_P}, better/worse;")
    print("a T2M configuration also drops T2T's edit phase, so this mixes detection with the loss of that phase):")
    print(f"  {_label(tests[0].base.config):42s} acc {100 * sum(tests[0].base.correct) / n:5.1f}%   <- T2T, the baseline")
    for t in tests:
        print(_row(t))
    print(f"\n{_tally(tests, 'T2T')}")


def _versus_controls(model, problems, detectors: list[Outcome], args) -> None:
    """Each detector against the random control calibrated to its remask count, paired, Holm over the detectors."""
    k = min(args.calibrate, len(problems))
    start = time.perf_counter()
    curves = calibrate(model, problems[:k], [o.config for o in detectors], args.controls, args.batch_size)
    print(f"\nCalibration of the random control on the first {k} problems ({time.perf_counter() - start:.0f} s): mean remasks per problem at each tau")
    for (c_max, rho_max), curve in curves.items():
        print(f"  C_max={c_max} rho_max={rho_max:g}: " + ", ".join(f"tau {t:g} -> {r:.2f}" for t, r in curve))
    taus = [matched_tau(curves[caps(o.config)], o.remasks_on(k)) for o in detectors]
    controls = list(dict.fromkeys(o.config.replace(strategy=CONTROL, tau=t) for o, t in zip(detectors, taus)))  # one run per distinct control
    start = time.perf_counter()
    ran = {o.config: o for o in run(model, problems, controls, args.batch_size)}
    matched = [ran[o.config.replace(strategy=CONTROL, tau=t)] for o, t in zip(detectors, taus)]
    tests = family(list(zip(detectors, matched)))
    print(f"\nEvery detector vs its matched random control on the same {len(problems)} problems ({len(controls)} controls, "
          f"{time.perf_counter() - start:.0f} s; +/-: Holm-adjusted p < {TARGET_P}; remasks per problem on the first {k} -> control tau):")
    for t in tests:
        print(f"{_row(t)}   | calibration {t.outcome.remasks_on(k):.2f} -> control tau {t.base.config.tau:g}: "
              f"{t.base.remasks_on(k):.2f} on the first {k}, {t.base.remasks:.2f} on all; control acc {100 * sum(t.base.correct) / len(problems):.1f}%")
    print(f"\n{_tally(tests, 'its matched random control')}")


if __name__ == "__main__":
    main()
