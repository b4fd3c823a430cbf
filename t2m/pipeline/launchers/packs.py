"""How a sweep's configurations are dealt into jobs ("packs"); every launcher of t2m takes these keys:

    hydra.launcher.configs_per_job=N    at most N configurations per job (null: no limit)
    hydra.launcher.jobs=K               K jobs; wins over configs_per_job (null: as many as needed)

With both null, all configurations are one job. A job decodes the rows of its configurations together
(one model load, full batches) and still writes each configuration to its own job directory, store
entry, summary and W&B run. Configurations are dealt round-robin (job k gets configurations k, k+K,
k+2K, ...), so each job gets a similar mix of strategies and so a similar amount of work. Results do
not depend on the packing: a row's result does not depend on its batch (t2m.decode's contract).
"""

from __future__ import annotations

from t2m.pipeline.checks.validate import ConfigError, Rejected


def check_packing(configs_per_job, jobs) -> None:
    """One line (exit 2) for a bad packing key. Launchers call this in their constructor, where Hydra
    would wrap an Exception in its own report, hence the BaseException `Rejected` around it."""
    for key, value in (("configs_per_job", configs_per_job), ("jobs", jobs)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise Rejected(ConfigError(f"hydra.launcher.{key}={value!r} is invalid; allowed: an integer >= 1, or null"))


def deal(n: int, configs_per_job: int | None = None, jobs: int | None = None) -> list[list[int]]:
    """The indexes of `n` configurations, dealt into packs."""
    check_packing(configs_per_job, jobs)
    if n == 0:
        return []
    if jobs is not None:
        k = jobs
    elif configs_per_job is not None:
        k = -(-n // configs_per_job)
    else:
        k = 1
    k = min(k, n)
    return [list(range(i, n, k)) for i in range(k)]
