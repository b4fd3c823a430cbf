"""t2m.pipeline.tracking with real W&B offline files, called as the pipeline calls it."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

from test_sweep_e2e import wandb_run


def test_a_run_logged_after_a_chdir_keeps_its_log(tmp_path, monkeypatch):
    # W&B writes a run's .wandb log from one service process per Python process, started by the first
    # run in the directory it was then in. Two commands in one process from two directories (a
    # notebook, the in-process test runs), each given a relative results directory: both runs keep
    # their logs under their own directory.
    from t2m.pipeline import tracking

    for name in [k for k in os.environ if k.startswith("WANDB_")]:
        monkeypatch.delenv(name)
    for name in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(name, str(tmp_path / f".{name.lower()}"))
    monkeypatch.setattr(tracking, "_broken", None)
    tracker = SimpleNamespace(mode="offline", project="t2m", entity=None, log_samples=False)
    for where in ("first", "second"):
        (tmp_path / where).mkdir()
        monkeypatch.chdir(tmp_path / where)
        tracking.log_configuration(tracker, wandb_dir=Path("results"), run_id=tracking.run_id(where), name=where, group="chdir",
                                   job_type="test", config={"where": where}, summary={"n": 1, "where": where}, records=[])  # fmt: skip
        assert tracking._broken is None
    for where in ("first", "second"):
        (run,) = (tmp_path / where / "results" / "wandb").glob("offline-run-*")
        assert list(run.glob("*.wandb")), f"{where}: no .wandb log in {run}"
        assert wandb_run(run)[1]["where"] == where
