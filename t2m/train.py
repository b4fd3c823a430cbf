"""`python -m t2m.train`: kept as an alias of `python -m t2m.tiny.train` (the bundled model's training)."""

from t2m.tiny.train import main

if __name__ == "__main__":
    main()
