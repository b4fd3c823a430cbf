"""A private, real single-node SLURM (slurmctld, slurmd and munged from the Debian packages) for the
cluster tests and the cluster benchmark.

    python tests/slurm_cluster.py up DIR [--cpus N]   # start it; prints the `export` lines for sbatch & co.
    python tests/slurm_cluster.py down DIR            # stop it

Everything lives under DIR and nothing touches the machine's own SLURM or munge: a munge key and
socket of its own, slurm.conf with free ports, state and spool directories, and a node that looks
like a GPU node: its GPUs are character devices made with mknod (GRES gpu:a100:2, so jobs that ask for
an A100 are scheduled and get CUDA_VISIBLE_DEVICES; there is no CUDA behind them). Node sizes beyond
the machine's are declared with `SlurmdParameters=config_overrides`, so a job asking for 8 CPUs and
64 GB fits.

There is no accounting database (slurmdbd and MariaDB), so `sacct` cannot answer. submitit asks
`sacct -o JobID,State,NodeList --parsable2 -j ID` for a job's state; DIR/bin/sacct answers that one
question from `squeue -t all` (finished jobs stay visible for MinJobAge seconds). Put DIR/bin first
on PATH (the `env` of a Cluster does).

Needs root (slurmd runs jobs as their owner, munged runs as the munge user) and the packages
`slurm-wlm` and `munge` (`.ci/run` installs them; `up` below runs apt-get where they are missing).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

PACKAGES = ("slurm-wlm", "munge")
DAEMONS = ("slurmctld", "slurmd", "munged")

SACCT = """#!/bin/sh
# sacct stand-in for a cluster without an accounting database: answers the question submitit asks
# (`sacct -o JobID,State,NodeList --parsable2 -j ID ...`) from squeue, which keeps finished jobs for MinJobAge seconds.
ids=""
while [ $# -gt 0 ]; do
  case "$1" in -j) shift; ids="$ids,$1" ;; esac
  shift
done
echo "JobID|State|NodeList"
exec squeue -h -t all -o '%i|%T|%N' ${ids:+-j "${ids#,}"}
"""


class Unavailable(RuntimeError):
    """SLURM cannot run here (packages missing and not installable, not root, no mknod)."""


def missing() -> list[str]:
    """The daemons (and client commands) this cluster needs that are not on PATH."""
    return [c for c in (*DAEMONS, "sbatch", "squeue", "scontrol", "sinfo", "runuser") if not shutil.which(c)]


def install() -> None:
    """apt-get the packages where a daemon is missing; Unavailable (one line) if that cannot be done.
    `.ci/run` installs them itself; the tests only check (see `Cluster.start(install_packages=False)`)."""
    if not missing():
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise Unavailable(f"SLURM is not installed and cannot be ({'not root' if os.geteuid() else 'no apt-get'}); needs Debian packages {' '.join(PACKAGES)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *PACKAGES]):
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        if p.returncode != 0:
            raise Unavailable(f"`{' '.join(cmd)}` failed: {(p.stderr.strip().splitlines() or ['?'])[-1]}")
    if missing():
        raise Unavailable(f"installed {' '.join(PACKAGES)} but {', '.join(missing())} is still missing")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A single-node SLURM under `root`; `with Cluster(root) as c:` starts and stops it."""

    def __init__(self, root: Path, cpus: int = 16, memory_mb: int = 131072, gpus: int = 2):
        self.root = Path(root).resolve()
        self.cpus, self.memory_mb, self.gpus = cpus, memory_mb, gpus
        self.node = socket.gethostname()
        self.conf = self.root / "etc" / "slurm.conf"
        self.munge_socket = self.root / "munge" / "munge.socket"
        self.bin = self.root / "bin"

    @property
    def env(self) -> dict:
        """What the client commands (sbatch, squeue, scontrol, scancel, the sacct stand-in) need."""
        return {"SLURM_CONF": str(self.conf), "PATH": f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}"}

    def __enter__(self) -> "Cluster":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- start -----------------------------------------------------------------------------------

    def start(self, timeout: float = 90, install_packages: bool = True) -> None:
        """Start munged, slurmctld and slurmd; with install_packages=False, Unavailable where they are missing."""
        if os.geteuid() != 0:
            raise Unavailable("the test SLURM needs root (slurmd runs jobs as their owner, munged as the munge user)")
        if install_packages:
            install()
        elif missing():
            raise Unavailable(f"{', '.join(missing())} not on PATH; install the Debian packages {' '.join(PACKAGES)} (.ci/run does)")
        self.stop()  # a previous cluster in the same directory
        for d in ("state", "spool"):  # a fresh cluster: no jobs, no node state from before
            shutil.rmtree(self.root / d, ignore_errors=True)
        for d in ("etc", "state", "spool", "log", "dev", "bin", "munge", "run"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        try:
            self._fake_gpus()
            self._munge()
            self._write_conf()
            (self.bin / "sacct").write_text(SACCT)
            (self.bin / "sacct").chmod(0o755)
            env = {**os.environ, **self.env}
            self._daemon(["slurmctld", "-c", "-f", str(self.conf)], env)
            self._daemon(["slurmd", "-f", str(self.conf)], env)
            deadline = time.time() + timeout
            while time.time() < deadline:
                p = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True)
                if p.returncode == 0 and p.stdout.strip() == "idle":
                    return
                time.sleep(0.5)
            raise Unavailable(f"the test SLURM did not come up within {timeout:.0f}s; see {self.root / 'log'}")
        except BaseException:
            self.stop()
            raise

    def _fake_gpus(self) -> None:
        for i in range(self.gpus):
            dev = self.root / "dev" / f"nvidia{i}"
            if not dev.exists():
                try:
                    os.mknod(dev, 0o666 | 0o020000, os.makedev(195, i))  # a character device, as NVIDIA's are
                except OSError as e:
                    raise Unavailable(f"cannot make fake GPU devices with mknod ({e.strerror})") from None

    def _munge(self) -> None:
        d = self.root / "munge"
        key = d / "munge.key"
        if not key.exists():
            key.write_bytes(os.urandom(1024))
        shutil.chown(d, "munge", "munge")
        shutil.chown(key, "munge", "munge")
        d.chmod(0o755)  # munged wants its socket's directory searchable by all, and writable by nobody else
        key.chmod(0o400)
        self.root.chmod(0o755)
        cmd = ["runuser", "-u", "munge", "--", "munged", f"--socket={self.munge_socket}", f"--key-file={key}",
               f"--pid-file={d / 'munged.pid'}", f"--log-file={d / 'munged.log'}", f"--seed-file={d / 'munged.seed'}"]  # fmt: skip
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise Unavailable(f"munged did not start: {(p.stderr.strip().splitlines() or ['?'])[-1]}")

    def _write_conf(self) -> None:
        r = self.root
        gres_devices = f"{r / 'dev'}/nvidia[0-{self.gpus - 1}]" if self.gpus > 1 else f"{r / 'dev'}/nvidia0"
        lines = [
            "ClusterName=t2mtest",
            "SlurmctldHost=localhost",
            f"SlurmctldPort={_free_port()}",
            f"SlurmdPort={_free_port()}",
            "SlurmUser=root",
            "AuthType=auth/munge",
            # cred_expire is also how long a requeued job waits before it may start again (default 120 s)
            f"AuthInfo=socket={self.munge_socket},cred_expire=10",
            "CredType=cred/munge",
            f"StateSaveLocation={r / 'state'}",
            f"SlurmdSpoolDir={r / 'spool'}",
            f"SlurmctldPidFile={r / 'run' / 'slurmctld.pid'}",
            f"SlurmdPidFile={r / 'run' / 'slurmd.pid'}",
            f"SlurmctldLogFile={r / 'log' / 'slurmctld.log'}",
            f"SlurmdLogFile={r / 'log' / 'slurmd.log'}",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "MpiDefault=none",
            "SchedulerType=sched/backfill",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core_Memory",
            "SlurmdParameters=config_overrides",  # a node bigger than this machine (a GPU node's CPUs and memory)
            "ReturnToService=2",
            "JobRequeue=1",
            "KillWait=2",  # seconds between SIGTERM and SIGKILL for a cancelled or requeued job
            "MinJobAge=900",  # finished jobs stay in squeue (and so in the sacct stand-in) for 15 minutes
            "SchedulerParameters=sched_interval=2,bf_interval=2",
            "GresTypes=gpu",
            f"NodeName={self.node} NodeHostname={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={self.memory_mb} "
            f"Gres=gpu:a100:{self.gpus} State=UNKNOWN",
            f"PartitionName=t2m Nodes={self.node} Default=YES MaxTime=INFINITE State=UP",
        ]
        self.conf.write_text("\n".join(lines) + "\n")
        (self.conf.parent / "gres.conf").write_text(f"NodeName={self.node} Name=gpu Type=a100 File={gres_devices}\n")

    def _daemon(self, cmd: list[str], env: dict) -> None:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            log = self.root / "log" / f"{cmd[0]}.log"
            last = log.read_text().strip().splitlines()[-1:] if log.exists() else []
            raise Unavailable(f"{cmd[0]} did not start: {(p.stderr.strip().splitlines() or last or ['?'])[-1]}")

    # ---- stop ------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop this cluster's daemons (by the pids they wrote), and nothing else."""
        for pid_file in (self.root / "run" / "slurmd.pid", self.root / "run" / "slurmctld.pid", self.root / "munge" / "munged.pid"):
            pid = _read_pid(pid_file)
            if pid is None:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                if not _alive(pid):
                    break
                time.sleep(0.1)
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                pid_file.unlink()

    # ---- jobs ------------------------------------------------------------------------------------

    def run(self, *cmd: str, check: bool = True) -> str:
        p = subprocess.run(list(cmd), env={**os.environ, **self.env}, capture_output=True, text=True, timeout=60)
        if check and p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}: {p.stderr.strip()}")
        return p.stdout

    def jobs(self) -> list[dict]:
        """Every job SLURM still knows: id, state, restarts (requeues), name."""
        out = self.run("squeue", "-h", "-t", "all", "-o", "%i|%T|%j")
        rows = []
        for line in out.splitlines():
            job_id, state, name = line.split("|", 2)
            restarts = self.run("scontrol", "show", "job", job_id, check=False)
            count = next((w.split("=", 1)[1] for w in restarts.split() if w.startswith("Restarts=")), "0")
            rows.append({"id": job_id, "state": state, "name": name, "restarts": int(count) if count.isdigit() else 0})
        return rows


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie we do not reap still answers kill(0); its /proc state says Z
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    return True


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="a private single-node SLURM under DIR (root; Debian packages slurm-wlm, munge)")
    ap.add_argument("action", choices=["up", "down"])
    ap.add_argument("dir", type=Path)
    ap.add_argument("--cpus", type=int, default=16, help="CPUs the node declares (e.g. $(nproc) for benchmarks)")
    ap.add_argument("--memory-mb", type=int, default=131072)
    args = ap.parse_args()
    cluster = Cluster(args.dir, cpus=args.cpus, memory_mb=args.memory_mb)
    if args.action == "up":
        args.dir.mkdir(parents=True, exist_ok=True)
        cluster.start()
        for k, v in cluster.env.items():
            print(f"export {k}={v}")
    else:
        cluster.stop()
