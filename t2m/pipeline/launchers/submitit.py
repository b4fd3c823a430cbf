"""hydra-submitit-launcher, packed: one submitit job (a SLURM job, or a local process) per pack.

    python -m t2m.sweep -m sweep=paper_ablation hydra/launcher=slurm_a100 hydra.launcher.jobs=4
    python -m t2m.sweep -m sweep=quick hydra/launcher=local hydra.launcher.jobs=2    # 2 processes here

hydra-submitit-launcher submits one job per configuration (the paper's ablation would load the model
109 times). Here the jobs are dealt into packs (`t2m.pipeline.launchers.packs`) and each pack is one
submitit job (one task of a job array), which runs its configurations as one packed job
(`t2m.pipeline.launchers.runner`) and returns one JobReturn per configuration.

Pre-emption, requeue and time-outs: submitit's SLURM jobs handle USR2 (sent `signal_delay_s` before
the time limit, or by `scancel --signal=USR2`) by requeueing the same pack (this class is
checkpointable: `checkpoint` resubmits the same arguments), up to `max_num_timeout` times for time-outs;
a job killed or requeued by SLURM (`scontrol requeue`, pre-emption with `--requeue`) runs its pack again
from the start. Either way the pack claims its configurations again and decodes only what the store
lacks: nothing is lost, nothing decoded twice, complete configurations are not logged again. A job
that fails or runs out of requeues comes back as FAILED JobReturns for its configurations, never as an
exception, so the others still reach the table.

Around that, on the submitting host: configurations the store already holds are not submitted
(`done`), a time limit too short for the start-up and a re-run while the sweep's jobs are still
queued are refused in one line (`limits`, `queued`), the wait shows each job's changes and the samples
stored (`watch`), and an interrupted wait names the jobs left running. In the job: USR1 requeues like
USR2, a job of N tasks decodes N shares of its pack (one GPU each), and a pack requeued twice without
storing a sample stops with one line (`limits`).
"""

from __future__ import annotations

import logging
import os
import select
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Sequence

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, setup_globals
from omegaconf import OmegaConf

from t2m.pipeline.checks.validate import ConfigError
from t2m.pipeline.launchers import limits, queued, watch
from t2m.pipeline.launchers.packs import check_packing, deal
from t2m.pipeline.launchers.runner import Slot, compose, failed_returns, run_configurations
from t2m.pipeline.store.lock import alive

log = logging.getLogger(__name__)


class PackedSubmitit:
    """Mixed into hydra-submitit-launcher's SlurmLauncher / LocalLauncher (hydra_plugins.t2m_launchers)."""

    def __init__(self, configs_per_job: int | None = None, jobs: int | None = None, startup_margin_s: int | None = None,
                 cancel_on_interrupt: bool | None = None, **params: Any) -> None:  # fmt: skip
        check_packing(configs_per_job, jobs)
        gpus = params.get("gpus_per_node")
        if isinstance(gpus, int) and gpus > 1 and params.get("tasks_per_node", 1) == 1:
            params["tasks_per_node"] = gpus  # one task per GPU, each with its share of the pack
        self.cancel_on_interrupt = cancel_on_interrupt
        limits.check_time_limit(params.get("timeout_min"), params.get("signal_delay_s"), startup_margin_s or limits.STARTUP_MARGIN_S)
        self.configs_per_job, self.jobs = configs_per_job, jobs
        super().__init__(**params)

    # ---- in the job ------------------------------------------------------------------------------

    def __call__(self, pack: list[tuple[list[str], int]], singleton_state: dict, sweep_pid: int | None = None) -> list[JobReturn]:
        """One pack, on the node the job landed on: (overrides, job number) per configuration.
        `sweep_pid`: a local job's sweep process, which this one must not outlive."""
        import submitit

        if sweep_pid is not None:
            die_with(sweep_pid)
        Singleton.set_state(singleton_state)
        setup_globals()
        env = submitit.JobEnvironment()
        if self._EXECUTOR == "slurm":  # USR1 (what Lightning users send) requeues like submitit's USR2
            signal.signal(signal.SIGUSR1, signal.getsignal(signal.SIGUSR2))
        pack = pack[env.global_rank :: env.num_tasks]  # N tasks (one per GPU): each decodes its share, loading the model once
        _one_gpu_per_task(env)
        configs = [compose(self.hydra_context, self.config, overrides, num=num, job_id=env.job_id) for overrides, num in pack]
        stuck = self._stuck(env, configs) if self._EXECUTOR == "slurm" else None
        if stuck:  # before the model loads: another run would spend its time starting up again
            print(f"t2m.sweep: {stuck}", file=sys.stderr, flush=True)
            return failed_returns(configs, ConfigError(stuck))
        returns = run_configurations(self.hydra_context, self.task_function, configs)
        for r in returns:
            if r.status == JobStatus.FAILED:  # one line in the job's own log (.submitit/<job>/*_log.err)
                from t2m.pipeline.launchers.outcomes import reason

                print(f"t2m.sweep: job {r.hydra_cfg.hydra.job.num} failed: {reason(r._return_value)}", file=sys.stderr, flush=True)
        return returns

    def _stuck(self, env, configs) -> str | None:
        """This run recorded; the one line when it is the third in a row to find nothing new stored."""
        dirs = [Path(str(c.hydra.sweep.dir), str(c.hydra.sweep.subdir)) for c in configs]
        attempts = limits.Attempts(env.paths.folder, env.global_rank).start(limits.stored_samples(dirs))
        return limits.stuck_message(attempts, self.params.get("timeout_min"), self.params.get("signal_delay_s"))

    # ---- on the submitting host ------------------------------------------------------------------

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        sweep_dir = str(self.config.hydra.sweep.dir)
        slurm = self._EXECUTOR == "slurm"
        if slurm:  # a second set of jobs would claim the same store entries as the first
            queued.refuse_if_queued(Path(sweep_dir))
        returns: list = [None] * len(job_overrides)
        left = self._work_left(job_overrides, initial_job_idx, returns)
        if not left:
            log.info(f"All {len(job_overrides)} configurations are complete in the store: nothing submitted")
            return returns
        executor = self._executor()
        packs = [[left[k] for k in pack] for pack in deal(len(left), self.configs_per_job, self.jobs)]
        args = [[(list(job_overrides[i]), initial_job_idx + i) for i in pack] for pack in packs]
        # A local job is a process of this machine that nobody would stop after a kill -9 of the sweep
        # (a SLURM job goes on by design: its results land in the store for the re-run).
        sweep_pid = os.getpid() if self._EXECUTOR == "local" else None
        jobs = executor.map_array(self, args, [Singleton.get_state()] * len(packs), [sweep_pid] * len(packs))
        ids = [j.job_id for j in jobs]
        if slurm:
            queued.record(Path(sweep_dir), ids)
        done = f" ({len(job_overrides) - len(left)} complete in the store, not submitted)" if len(left) < len(job_overrides) else ""
        log.info(f"Submitted {len(left)} configurations as {len(jobs)} {self._EXECUTOR} job(s) of up to "
                 f"{max(map(len, packs), default=0)}{done}: {', '.join(ids)}; logs in {sweep_dir}/.submitit/")  # fmt: skip
        if not slurm:
            return self._wait(packs, jobs, job_overrides, initial_job_idx, returns)
        dirs, total = zip(*(self._planned[i] for i in left))
        view = watch.Watch(ids, list(dirs), sum(total))
        try:
            with queued.interruptible():
                return self._wait(packs, jobs, job_overrides, initial_job_idx, returns, view)
        except KeyboardInterrupt:  # Ctrl-C, or the ssh session closed: the jobs go on unless asked otherwise
            queued.on_interrupt(ids, bool(self.cancel_on_interrupt))
            raise

    def _wait(self, packs, jobs, job_overrides, initial_job_idx: int, returns: list, view=None) -> list:
        """Each job's returns (FAILED ones for a job that never came back), in configuration order;
        with a live `view`, its lines and bar until every job has ended."""
        if view is not None:
            try:
                while not all(job.done() for job in jobs):
                    view.poll()
                    time.sleep(watch.POLL_S)
            finally:
                view.close()
            queued.record(Path(str(self.config.hydra.sweep.dir)), [j.job_id for j in jobs], {j.job_id: view.restarts(j.job_id) for j in jobs})
        for pack, job in zip(packs, jobs):
            try:
                results = _by_configuration(job.results(), len(pack))
            except Exception as e:  # noqa: BLE001 - killed, cancelled, out of requeues, crashed: its configurations are incomplete
                configs = [compose(self.hydra_context, self.config, job_overrides[i], num=initial_job_idx + i, job_id=job.job_id) for i in pack]
                results = failed_returns(configs, e)
            failed = sum(r.status != JobStatus.COMPLETED for r in results)
            restarts = view.restarts(job.job_id) if view is not None else 0
            log.info(f"Job {job.job_id}: {len(results) - failed} of {len(results)} configurations complete"
                     + (f", {restarts} restart(s) (requeued or pre-empted)" if restarts else ""))  # fmt: skip
            for i, r in zip(pack, results):
                returns[i] = r
        return returns

    def _work_left(self, job_overrides, initial_job_idx: int, returns: list) -> list[int]:
        """The indexes of configurations with work left; the finished ones get their COMPLETED return
        now, so a finished sweep run again submits nothing (and loads no model anywhere)."""
        from hydra.core.hydra_config import HydraConfig

        from t2m.pipeline.launchers.done import expected_samples, finished_summary

        previous, left, self._planned = HydraConfig.instance().cfg, [], {}
        try:
            for i, overrides in enumerate(job_overrides):
                config = compose(self.hydra_context, self.config, overrides, num=initial_job_idx + i, job_id="")
                slot = Slot(self.hydra_context, self.task_function, config)
                summary = finished_summary(slot)
                if summary is None:
                    left.append(i)
                    self._planned[i] = (Path(slot.output_dir), expected_samples(slot.cfg))
                else:
                    returns[i] = slot.job_return(summary)
        finally:
            HydraConfig.instance().cfg = previous
        return left

    def _executor(self):
        """The submitit executor, built from the launcher's config as hydra-submitit-launcher builds it."""
        import submitit
        from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf

        params = dict(self.params)
        init = {"folder": params.pop("submitit_folder")}
        if "max_num_timeout" in params:
            init[f"{self._EXECUTOR}_max_num_timeout"] = params.pop("max_num_timeout")
        executor = submitit.AutoExecutor(cluster=self._EXECUTOR, **init)
        common = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(**{k if k in common else f"{self._EXECUTOR}_{k}": v for k, v in params.items()})
        return executor


def _one_gpu_per_task(env) -> None:
    """With several tasks on a node that sees several GPUs, task k uses the k-th (before CUDA starts)."""
    visible = [d for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d]
    if env.num_tasks > 1 and len(visible) > 1:
        os.environ["CUDA_VISIBLE_DEVICES"] = visible[env.local_rank % len(visible)]


def _by_configuration(task_results: list, n: int) -> list:
    """The returns of a job's tasks (task r decoded configurations r, r+N, ...) in configuration order."""
    out: list = [None] * n
    for rank, returns in enumerate(task_results):
        for k, r in zip(range(rank, n, len(task_results)), returns):
            out[k] = r
    return out


def die_with(pid: int) -> None:
    """End this process as soon as process `pid` (the sweep) ends, however it ended. submitit's local
    controller sits between the two, so a parent-death signal would only follow the controller. The
    end is a SIGKILL, as if the worker had been killed with the sweep: the store is built for that
    (a dead holder's locks are taken over, a torn last line is dropped)."""

    def watch() -> None:
        try:
            fd = os.pidfd_open(pid)  # Linux: readable once the process has ended
        except ProcessLookupError:
            fd = None  # already gone
        except (AttributeError, OSError):  # no pidfd here: look once a second
            while alive(pid):
                time.sleep(1)
            fd = None
        if fd is not None:
            select.select([fd], [], [])
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="t2m-die-with-sweep", daemon=True).start()
