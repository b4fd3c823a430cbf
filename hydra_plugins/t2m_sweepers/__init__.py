"""t2m's Hydra sweepers as plugins (Hydra instantiates sweepers only from `hydra_plugins`).
The behaviour lives in `t2m.pipeline.sweepers`; see conf/hydra/sweeper/."""

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.plugins.sweeper import Sweeper

from t2m.pipeline.sweepers.optuna import OptunaSearch
from t2m.pipeline.sweepers.union import UnionSweep


class UnionSweeper(UnionSweep, BasicSweeper):
    """BasicSweeper's batching and launching over the union of a named sweep's grids."""


class OptunaSweeper(OptunaSearch, Sweeper):
    """An Optuna search through the configured launcher (`hydra/sweeper=optuna`, `search=cheaper`)."""
