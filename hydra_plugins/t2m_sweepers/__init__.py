"""t2m's Hydra sweepers as plugins (Hydra instantiates sweepers only from `hydra_plugins`).
The behaviour lives in `t2m.pipeline.sweepers`; see conf/hydra/sweeper/."""

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

from t2m.pipeline.sweepers.union import UnionSweep


class UnionSweeper(UnionSweep, BasicSweeper):
    """BasicSweeper's batching and launching over the union of a named sweep's grids."""
