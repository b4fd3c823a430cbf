"""Numbers computed from stored sample records: what the store, report and tracking all report.

    metrics.py   accuracy with its interval, cost means: the summary of one configuration
    errors.py    error classes of a generation (correct, last-mile corruption, reasoning, no answer)
    stats.py     a configuration against a baseline on the same problems: fixed / broken, Δaccuracy
                 with a paired bootstrap interval, exact McNemar p
    diff.py      the per-problem diff of two configurations (fixed, broken, other answer, ...)
    repair.py    corruption and repair per error class against a baseline (the paper's Table 2)
    sampling.py  several samples per problem: pass@k, majority vote, diversity
"""
