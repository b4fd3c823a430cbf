"""Benchmarks that print figures (ratios measured side by side in one run), never timed tests.

    python -m t2m.bench     the decoder, batched against one row at a time (`decoder.py`)
"""
