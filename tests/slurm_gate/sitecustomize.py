"""Holds a SLURM job mid-decode so that a test can requeue, signal or cancel it there.

tests/test_cluster.py puts this directory on PYTHONPATH (sbatch passes the environment to the job)
with T2M_TEST_GATE=DIR. Python imports `sitecustomize` at start-up; in the first run of a SLURM job
(not a requeued one: SLURM_RESTART_COUNT unset), the job's first stored chunk of samples is followed
by DIR/<job id>.ready and a wait that only ends when the test acts on the job. Everything else is the
real job: the real launcher, store, decoder and submitit's signal handling.
"""

import os

if os.environ.get("T2M_TEST_GATE") and os.environ.get("SLURM_JOB_ID") and not os.environ.get("SLURM_RESTART_COUNT"):
    import time
    from pathlib import Path

    from t2m.pipeline.store import entries as store

    _append = store.Entry.append

    def _append_then_wait(self, records):
        n = _append(self, records)
        task = os.environ.get("SLURM_ARRAY_TASK_ID")
        name = f"{os.environ['SLURM_ARRAY_JOB_ID']}_{task}" if task is not None else os.environ["SLURM_JOB_ID"]
        Path(os.environ["T2M_TEST_GATE"], f"{name}.ready").write_text(str(os.getpid()))
        while True:  # until SLURM kills, requeues or signals this job
            time.sleep(0.2)
        return n

    store.Entry.append = _append_then_wait

# T2M_TEST_STALL=DIR: every run of the job (requeues too) stops before its first chunk is stored,
# writes DIR/<job id>.<SLURM_RESTART_COUNT or 0>.stalled and waits: a job that never gets to store a
# sample before its signal (what a time limit too short for the start-up does).
if os.environ.get("T2M_TEST_STALL") and os.environ.get("SLURM_JOB_ID"):
    import time
    from pathlib import Path

    from t2m.pipeline.store import entries as _store

    def _stall(self, records):
        task = os.environ.get("SLURM_ARRAY_TASK_ID")
        name = f"{os.environ['SLURM_ARRAY_JOB_ID']}_{task}" if task is not None else os.environ["SLURM_JOB_ID"]
        Path(os.environ["T2M_TEST_STALL"], f"{name}.{os.environ.get('SLURM_RESTART_COUNT', '0')}.stalled").write_text(str(os.getpid()))
        while True:
            time.sleep(0.2)

    _store.Entry.append = _stall
