"""The metrics of one configuration, computed from its sample records.

One module for every number a summary, table, W&B run or plot shows, so they all agree:

    summarize(records)          accuracy (flexible and strict) with 95% Wilson intervals, cost means,
                                errors by class (n_last_mile, n_reasoning, n_no_answer), the stricter
                                last-mile rule (n_last_value) and the corruption forms (n_marker_repeated,
                                n_digits_appended, n_digits_dropped, n_digit_substituted, n_other_corruption);
                                answer-line fidelity (t2m.analysis.errors.faithful) with its interval, over
                                the n_fidelity samples where it is defined, and n_faithful of them
    wilson_interval(k, n)       the interval itself
"""

from __future__ import annotations

import math

from t2m.analysis.errors import record_faithful

# The per-problem outcomes a configuration is judged by, with their labels: what a plot's y-axis
# (report.metric) and the paired statistics may be about.
METRICS = {"accuracy": "accuracy", "fidelity": "answer-line fidelity"}
from t2m.analysis.repair import error_counts


def wilson_interval(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """95% Wilson score interval for k successes in n trials (sound at 0% and 100%, unlike k/n ± ...)."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if k == 0 else max(0.0, centre - half)  # exact ends, not 0.9999999999999999
    hi = 1.0 if k == n else min(1.0, centre + half)
    return (lo, hi)


def summarize(records: list[dict], n_expected: int | None = None) -> dict:
    """The metrics of one configuration from its sample records."""
    n = len(records)
    k = sum(bool(r["correct"]) for r in records)
    ks = sum(bool(r["strict_correct"]) for r in records)
    wall = sum(r.get("decode_share_s", 0.0) for r in records)
    out_tokens = sum(r["output_tokens"] for r in records)
    defined = [f for f in map(record_faithful, records) if f is not None]  # a chain that computed nothing has no fidelity
    kf = sum(defined)

    def mean(field):
        return sum(r[field] for r in records) / n if n else None

    return {
        "n": n,
        "complete": n_expected is None or n >= n_expected,
        "accuracy": k / n if n else None,
        "accuracy_ci95": list(wilson_interval(k, n)),
        "n_correct": k,
        "strict_accuracy": ks / n if n else None,
        "strict_accuracy_ci95": list(wilson_interval(ks, n)),
        "fidelity": kf / len(defined) if defined else None,
        "fidelity_ci95": list(wilson_interval(kf, len(defined))),
        "n_faithful": kf,
        "n_fidelity": len(defined),
        "mean_modifications": mean("modifications"),
        "mean_t2t_edits": mean("t2t_edits"),
        "mean_remasks": mean("remasks"),
        "mean_forwards": mean("forwards"),
        "mean_output_tokens": mean("output_tokens"),
        "n_truncated": sum(bool(r.get("truncated")) for r in records),  # filled gen_length without EOS
        "wall_time_s": wall,
        "tokens_per_s": out_tokens / wall if wall > 0 else None,
        **{f"n_{c}": v for c, v in error_counts(records).items() if c != "correct"},  # errors by class (t2m.analysis.errors)
    }
