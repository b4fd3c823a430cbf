"""Matched random-remask controls: is a detector's gain detection's, or refilling's?

A job with `strategy=random_remask control_of={strategy: lowprob, tau: 0.7}` is the control of that
detector (the *target*: this job's settings with `control_of`'s values): before it decodes, it finds
the tau at which random remasking spends the target's remasks per problem, and then runs
random_remask at that tau. Everything else (caps, M2T threshold, temperature, seed, model, dataset)
is the job's own, so the two differ only in *which* tokens are remasked. The report pairs the target's
row with the control's (`t2m.pipeline.report.paired`: the control row names the target by its
fingerprint, `control_for`) and compares them like a configuration with its baseline.

Calibration (`calibrate`): the target and random_remask at POINTS values of tau, spaced evenly in
log10(tau) over [1e-5, 1], decode CALIBRATION_PROBLEMS development problems; the tau whose mean remask
count is closest wins, and ROUNDS - 1 more rounds search between its neighbours. It reads remask
counts only, never correctness. For a dataset whose registry entry has development problems (the
bundled `arith` splits: a stream of the same generator with its own seed, evaluation questions
excluded; `carry_test`: `carry_dev`'s first problems) those; for others, the first problems of the
dataset itself (only their remask counts are read). Deterministic: a re-run finds
the same tau, so the same store entry, and resumes it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from t2m.decoding.config import DECODE_KEYS, DecodeConfig

CONTROL = "random_remask"  # the built-in control strategy (t2m/decoding/policies.py)
CALIBRATION_PROBLEMS = 32
POINTS, ROUNDS = 6, 3  # tau per round, rounds: log10(tau) to within 5 / 7**3 = 0.015 (3.4%)
LOG10_RANGE = (-5.0, 0.0)


@dataclass(frozen=True)
class Calibration:
    tau: float  # the control's tau
    target_remasks: float  # the target's mean remasks per problem on the calibration problems
    remasks: float  # the control's, at tau
    problems: int
    tried: int  # values of tau decoded

    def line(self, target: DecodeConfig) -> str:
        return (f"control of {describe(target)}: random_remask tau={self.tau:.4g} remasks {self.remasks:.2f} per problem "
                f"(target {self.target_remasks:.2f}) on {self.problems} calibration problems, {self.tried} values of tau tried")  # fmt: skip


def target_config(dcfg: DecodeConfig, control_of) -> DecodeConfig:
    """The configuration a control job matches: the job's own with `control_of`'s values. Raises
    ValueError (one line) for a control_of that is not a remasking detector, or one whose caps differ
    from the job's (a matched control shares them)."""
    values = {str(k): v for k, v in dict(control_of).items()}
    unknown = sorted(set(values) - set(DECODE_KEYS))
    if unknown:
        raise ValueError(f"control_of.{unknown[0]} is unknown; allowed: decoding keys ({', '.join(DECODE_KEYS)})")
    if dcfg.strategy != CONTROL:
        raise ValueError(f"control_of is set but strategy={dcfg.strategy}; allowed: strategy={CONTROL} (the control)")
    for cap in ("c_max", "rho_max"):
        if cap in values and values[cap] != getattr(dcfg, cap):
            raise ValueError(f"control_of.{cap}={values[cap]} differs from this job's {cap}={getattr(dcfg, cap)}; "
                             f"allowed: the same value (a matched control remasks under the same caps)")  # fmt: skip
    if "strategy" not in values:
        raise ValueError("control_of has no strategy; allowed: e.g. {strategy: lowprob, tau: 0.7}")
    target = dcfg.replace(**values)
    if not target.is_remask or target.strategy == CONTROL:
        raise ValueError(f"control_of.strategy={target.strategy} does not remask by detection; allowed: a T2M detector (lowprob, t2t_remask, logitdiff, ...)")
    return target


def calibration_problems(dataset: str, problems: list) -> list:
    """The problems tau is calibrated on: the dataset's development problems where its registry entry
    has them, else its own first ones (see the module docstring)."""
    from t2m.data import dataset as registered

    development = registered(dataset).development
    return development(CALIBRATION_PROBLEMS) if development else problems[:CALIBRATION_PROBLEMS]


def calibrate(lm, control: DecodeConfig, target: DecodeConfig, prompts: list, batch_size: int) -> Calibration:
    """The tau at which `control` (random_remask) spends `target`'s mean remasks on `prompts`."""
    (want,) = _mean_remasks(lm, [target], prompts, batch_size)
    lo, hi = LOG10_RANGE
    tried: dict[float, float] = {}
    for _ in range(ROUNDS):
        grid = [lo + (hi - lo) * k / (POINTS - 1) for k in range(POINTS)]
        taus = [_round(10**g) for g in grid]
        tried.update(zip(taus, _mean_remasks(lm, [control.replace(tau=t) for t in taus], prompts, batch_size)))
        k = min(range(POINTS), key=lambda k: (abs(tried[taus[k]] - want), taus[k]))
        step = (hi - lo) / (POINTS - 1)
        lo, hi = grid[k] - step, min(grid[k] + step, LOG10_RANGE[1])  # between the best one's neighbours
    tau = min(tried, key=lambda t: (abs(tried[t] - want), t))
    return Calibration(tau=tau, target_remasks=want, remasks=tried[tau], problems=len(prompts), tried=len(tried))


def summary_fields(target: DecodeConfig, control_for: str, calibration: Calibration) -> dict:
    """What a control job adds to its summary.json (flat, so that the sweep table shows it)."""
    return {
        "control_of": describe(target),
        "control_for": control_for,  # the target's fingerprint: how the report finds its row
        **{f"calibration_{k}": v for k, v in asdict(calibration).items()},
    }


def describe(dcfg: DecodeConfig) -> str:
    return f"{dcfg.strategy} tau={dcfg.tau:g} c_max={dcfg.c_max} rho_max={dcfg.rho_max:g}"


def _mean_remasks(lm, configs: list[DecodeConfig], prompts: list, batch_size: int) -> list[float]:
    """Each configuration's mean remasks per prompt, all in one batched decode."""
    from t2m.decoding import decode

    results = decode(lm, prompts * len(configs), [c for c in configs for _ in prompts], batch_size=batch_size)
    n = len(prompts)
    return [sum(r.remasks for r in results[k * n : (k + 1) * n]) / n for k in range(len(configs))]


def _round(tau: float) -> float:
    """Four significant digits: a readable tau, the same on every machine."""
    return float(f"{min(1.0, tau):.4g}") if tau > 0 else 0.0

