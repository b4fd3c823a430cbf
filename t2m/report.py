"""`python -m t2m.report`: the command. It lives in `t2m.pipeline.report`; this module only names it."""

import sys

from t2m.pipeline.report.cli import main

if __name__ == "__main__":
    sys.exit(main())
