"""The union sweeper as a Hydra plugin (Hydra instantiates sweepers only from `hydra_plugins`).
The behaviour is t2m.sweeper.UnionSweep; see conf/hydra/sweeper/union.yaml."""

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

from t2m.sweeper import UnionSweep


class UnionSweeper(UnionSweep, BasicSweeper):
    """BasicSweeper's batching and launching over the union of the sweep file's grids."""
