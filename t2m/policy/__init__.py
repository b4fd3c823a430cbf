"""Training learned decoding policies (`python -m t2m.policy.train`); the policies themselves are
registry entries of the decoder (t2m/decoding/learned.py)."""
