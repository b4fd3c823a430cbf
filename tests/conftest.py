"""Shared fixtures: where the repository is, and how to run the command line as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
sys.path.insert(0, str(REPO))  # Hydra finds the union sweeper under REPO/hydra_plugins even without an install
# The test models are tiny: one thread is as fast as two, and immune to a busy second core, where
# two threads wait on each other at every op (measured 15x slower on a loaded 2-core machine).
torch.set_num_threads(1)

# The fault-and-bad-input matrix's counts (tests/test_faults.py), printed at the end of a test run:
# the figures the README's "Reliability" section reports.
TALLY: Counter = Counter()


def pytest_terminal_summary(terminalreporter):
    if TALLY:
        terminalreporter.section("fault and bad-input matrix")
        for name, count in sorted(TALLY.items()):
            terminalreporter.write_line(f"{name}: {count}")


def cli_env(tmp_path: Path) -> dict:
    """A clean environment for `python -m t2m.sweep`: repository importable (t2m and its Hydra
    plugin), no network, W&B writing only under tmp_path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "HYDRA_"))}
    env.update(
        PYTHONPATH=os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        HF_HUB_OFFLINE="1",
        WANDB_DIR=str(tmp_path),  # only used by W&B runs that were not given a dir
        WANDB_CONFIG_DIR=str(tmp_path / ".wandb-config"),
        WANDB_CACHE_DIR=str(tmp_path / ".wandb-cache"),
    )
    return env


@pytest.fixture
def t2m_cli(tmp_path):
    """Run `python -m t2m.sweep ARGS` in tmp_path; returns the CompletedProcess."""

    def run(*args: str, timeout: float = 600, check: bool = False) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "t2m.sweep", *args]
        p = subprocess.run(cmd, cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"{' '.join(args)} exited {p.returncode}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
        return p

    return run


@pytest.fixture
def cli(monkeypatch, capfd, tmp_path):
    """Run `python -m t2m.sweep ARGS` through `cli.main` in this process: the real command line
    (Hydra, conf/, the checks, decoder, store, W&B) without a Python start-up; returns (exit status,
    stdout, stderr). The model, once loaded, stays cached for the next call, as in a sweep."""
    from hydra.core.global_hydra import GlobalHydra

    from t2m.pipeline import cli as command
    from t2m.pipeline import network, task, tracking

    for name in [k for k in os.environ if k.startswith(("WANDB_", "HYDRA_", "HF_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for name in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(name, str(tmp_path / f".{name.lower()}"))
    monkeypatch.setattr(tracking, "_broken", None)
    monkeypatch.setattr(tracking, "_offline", None)
    network.hub_offline.cache_clear()

    def run(cwd: Path, *args: str) -> tuple[int, str, str]:
        monkeypatch.chdir(cwd)
        monkeypatch.setattr(sys, "argv", ["t2m.sweep", *args])
        monkeypatch.setattr(task, "PROGRESS", task.Progress())
        GlobalHydra.instance().clear()
        capfd.readouterr()
        try:
            command.main()
            code = 0
        except SystemExit as e:
            code = e.code
        finally:
            GlobalHydra.instance().clear()
            os.environ.pop("HYDRA_FULL_ERROR", None)  # cli.main sets it for Hydra; a user who sets it wants tracebacks
        out, err = capfd.readouterr()
        return code, out, err

    return run


@pytest.fixture
def report_cli(capsys, monkeypatch):
    """Run `python -m t2m.report ARGS` through its `main` in this process (the command's own argument
    parsing, checks and printing, without a Python start-up); returns (exit status, stdout, stderr)."""
    from t2m.pipeline.report.cli import main

    def run(*args: str, cwd: Path | None = None) -> tuple[int, str, str]:
        if cwd is not None:
            monkeypatch.chdir(cwd)
        capsys.readouterr()
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:  # argparse's own usage errors
            code = e.code
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture(scope="session")
def bundled():
    """The bundled tiny dLLM, loaded once for the whole run (no test changes its weights)."""
    from t2m.decoding import load_model

    return load_model()


@pytest.fixture
def project(tmp_path):
    """A fresh project directory holding docs/examples' own modules (mylab/) and YAMLs (myconf/), as a
    user who copied them would have it."""
    import shutil

    for name in ("mylab", "myconf"):
        shutil.copytree(REPO / "docs" / "examples" / name, tmp_path / name)
    return tmp_path
