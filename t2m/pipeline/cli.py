"""The command line behind `python -m t2m.sweep`: Hydra with t2m's config, named sweeps and errors.

    python -m t2m.sweep                                              # one configuration (conf/config.yaml)
    python -m t2m.sweep -m strategy=lowprob,logitdiff tau=0.1,0.3    # a grid, one job per configuration
    python -m t2m.sweep -m sweep=paper_ablation                      # a named sweep from sweeps/

Every job runs `t2m.pipeline.task.run`. Config errors end the command with status 2 and one line on
stderr, before anything is loaded.
"""

from __future__ import annotations

import os
import sys

import hydra
from hydra.core.config_store import ConfigStore
from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
from omegaconf import OmegaConf

from t2m.pipeline.paths import CONF_DIR, REPO, SWEEPS_DIR
from t2m.pipeline.validate import ConfigError, exit_on_error


def register_named_sweeps() -> None:
    """Make sweeps/*.yaml the options of the `sweep` config group (`sweep=paper_ablation`). They
    live at the top of the repository, beside conf/, because they are documents users read and
    write; a Hydra group must sit under a config root, so they are registered from there."""
    cs = ConfigStore.instance()
    for path in sorted(SWEEPS_DIR.glob("*.yaml")):
        cs.store(group="sweep", name=path.stem, node=OmegaConf.load(path), package="_global_", provider="t2m")


def one_line(e: Exception) -> str:
    """A config error as one line naming the key and what it allows."""
    if isinstance(e, MissingConfigException) and e.missing_cfg_file and e.options:
        group, _, option = e.missing_cfg_file.rpartition("/")
        return f"{group}={option} is unknown; allowed: {', '.join(sorted(e.options))}"
    text = " ".join(str(e).split())
    if "'sweep_name'" in text:
        return "sweep_name was renamed; use experiment=NAME (the results subfolder and W&B group)"
    return text or type(e).__name__


def main() -> None:
    # Hydra prints its own multi-line report for config errors; let them reach us instead, so every
    # config mistake ends the same way: one line on stderr, exit status 2, nothing loaded.
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")
    # conf/, sweeps/ and the sweeper plugin (hydra_plugins/) live in the checkout beside t2m/; make the
    # plugin importable however t2m itself was installed and wherever the command is launched.
    if str(REPO) not in sys.path:
        sys.path.append(str(REPO))
    register_named_sweeps()
    from t2m.pipeline.task import run  # the task's own module, so that it pickles by reference (submitit)

    task = hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")(run)
    try:
        task()
    except (ConfigError, ConfigCompositionException, OverrideParseException) as e:
        exit_on_error(one_line(e))
