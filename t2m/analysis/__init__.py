"""Numbers computed from stored sample records: what the store, report and tracking all report.

    metrics.py   accuracy with its interval, cost means: the summary of one configuration
    errors.py    error classes of a generation (correct, last-mile corruption, reasoning, no answer)
"""
