"""`python -m t2m.sweep`: the command. It lives in `t2m.pipeline.cli`; this module only names it."""

from t2m.pipeline.cli import main

if __name__ == "__main__":
    main()
