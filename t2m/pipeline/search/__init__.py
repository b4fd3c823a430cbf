"""The Optuna search for cheaper configurations (`python -m t2m.sweep -m search=cheaper`).

    space.py        the dimensions a search varies (strategy, tau per strategy, C_max, rho_max, threshold, ...)
    objectives.py   what a trial is scored on (accuracy, forward passes, ...) and the accuracy constraint
    storage.py      where a study lives: a journal file (default) or an RDB URL; the study's identity
    halving.py      successive halving on growing subsets of problems, by Pareto rank (an Optuna pruner)
    outputs.py      the trials table, the shortlist of the front, the study's W&B run
    plot.py         the study's front over a grid sweep's front

The loop that asks Optuna for trials and runs them through Hydra's launcher is the sweeper,
`t2m/pipeline/sweepers/optuna.py`.
"""
