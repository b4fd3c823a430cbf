"""t2m's Hydra launchers: every one packs several configurations into one job (conf/hydra/launcher/).

    inprocess.py   the default: jobs run one after another in this process, model loaded once
    submitit.py    hydra-submitit-launcher's SLURM and local launchers, one submitit job per pack
    packs.py       how configurations are dealt into packs (configs_per_job, jobs)
    runner.py      Hydra's run_job for a pack: one JobReturn per configuration
    outcomes.py    what became of each configuration, for the line a sweep ends with
    done.py        configurations already finished in the store: not submitted again
    limits.py      time limits checked before submitting; a pack requeued without progress
    queued.py      a sweep's SLURM jobs outliving the submitter: recorded, named on Ctrl-C, no second set
    watch.py       the live view of a sweep's SLURM jobs while the submitter waits

Hydra instantiates plugins only from the `hydra_plugins` package, so the plugin classes are thin
combinations made in `hydra_plugins/t2m_launchers`, which also registers their config schemas.
Contract for sweepers (the union sweeper, the Optuna search): `launch(job_overrides, initial_job_idx)`
returns one JobReturn per configuration, in order, and never raises for a configuration that failed
(its JobReturn is FAILED with the exception inside) — except the in-process launcher, which ends the
command with one line for an error a user can fix (a busy configuration, a full disk), as a single run does.
"""
