"""Where the pipeline's files live: the Hydra config tree (`conf/`) and the named sweeps (`sweeps/`),
both at the top of the repository beside the `t2m` package."""

from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]  # t2m/
REPO = PACKAGE.parent
CONF_DIR = REPO / "conf"
SWEEPS_DIR = REPO / "sweeps"
