"""Where the pipeline's files live: the Hydra config tree (`conf/`) and the named sweeps (`sweeps/`).

In a checkout they are at the top of the repository, and `t2m/conf`, `t2m/sweeps` are links to them;
an installed package holds copies at those places (pyproject.toml ships them as package data), so the
same paths work for an editable install, a wheel and a plain checkout.
"""

from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]  # t2m/
REPO = PACKAGE.parent  # the checkout (site-packages, when installed)
CONF_DIR = PACKAGE / "conf"
SWEEPS_DIR = PACKAGE / "sweeps"


def absolute(path) -> Path:
    """A path as the user meant it: relative to where the command was launched, even inside a job."""
    from hydra.core.hydra_config import HydraConfig

    p = Path(str(path)).expanduser()
    if p.is_absolute() or not HydraConfig.initialized():
        return p
    return Path(HydraConfig.get().runtime.cwd) / p


def looks_local(name: str) -> bool:
    return name.startswith((".", "/", "~")) or Path(name).exists()


def shown(path) -> str:
    """A path as a log line shows it: relative to the current directory when it lies below it."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(p)
