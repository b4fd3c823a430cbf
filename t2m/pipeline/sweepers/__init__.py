"""How `-m` expands into jobs: Hydra sweepers (plugins in hydra_plugins/t2m_sweepers).

    union.py   `hydra/sweeper=union` (default): the union of a named sweep's grids
    optuna.py  `hydra/sweeper=optuna` (picked by `search=NAME`): an Optuna search for a Pareto front
"""
