"""Packing: a sweep's configurations decoded together in one job (t2m.pipeline.launchers).

Results must not depend on the packing (one pack, several, one configuration at a time, or Hydra's own
basic launcher); a configuration that fails does not stop the others from reaching the table, and the
sweep ends with one line naming it and the command that resumes it; a complete configuration is not
rewritten or logged again. Everything runs through the real command line (`cli.main` in this process,
as in tests/test_faults.py), the real model, decoder, store and W&B files.
"""

from __future__ import annotations

import json
import shlex

import pandas as pd
import pytest

from t2m.pipeline.launchers.packs import deal
from test_faults import count_samples, count_wandb, entries, one_line, survived

TIMING = ("wall_time_s", "decode_share_s", "checksum")  # how long a row took depends on its batch (and the checksum covers it); nothing else may
SMALL = ("dataset.limit=5", "gen_length=32", "batch_size=4")  # 5 configurations x 5 problems: 25 rows, calls of 4 mix configurations


def test_deal_round_robin():
    assert deal(5) == [[0, 1, 2, 3, 4]]
    assert deal(5, configs_per_job=2) == [[0, 3], [1, 4], [2]]
    assert deal(5, jobs=2) == [[0, 2, 4], [1, 3]]
    assert deal(5, configs_per_job=1, jobs=2) == [[0, 2, 4], [1, 3]]  # jobs wins
    assert deal(2, jobs=8) == [[0], [1]]
    assert deal(109, jobs=4) and sorted(i for p in deal(109, jobs=4) for i in p) == list(range(109))


def test_a_bad_packing_key_is_one_line(cli, tmp_path):
    code, out, err = cli(tmp_path, "-m", "strategy=t2t,lowprob", "hydra.launcher.jobs=0", f"hydra.sweep.dir={tmp_path / 's'}")
    assert code == 2 and err == "t2m.sweep: hydra.launcher.jobs=0 is invalid; allowed: an integer >= 1, or null\n", err
    assert not (tmp_path / "s").exists()


def _samples(store) -> dict:
    """fingerprint -> {problem id: record without timing}"""
    out = {}
    for path in sorted(store.glob("*/samples.jsonl")):
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        out[path.parent.name] = {r["id"]: {k: v for k, v in r.items() if k not in TIMING} for r in rows}
    return out


@pytest.mark.slow
def test_results_do_not_depend_on_the_packing(cli, tmp_path):
    from t2m.pipeline import task

    packings = {
        "one_pack": [],  # the default: all five configurations in one batched decode
        "two_packs": ["hydra.launcher.jobs=2"],
        "unpacked": ["hydra.launcher.configs_per_job=1"],
        "hydra_basic": ["hydra/launcher=basic"],  # Hydra's own launcher: task.run, one configuration per job
    }
    stores, tables = {}, {}
    for name, extra in packings.items():
        task.get_model.cache_clear()
        root = tmp_path / name
        code, out, err = cli(tmp_path, "-m", "sweep=quick", *SMALL, "tracker=none", *extra, f"results_dir={root}", f"hydra.sweep.dir={root / 'sweep'}")
        assert code == 0, err
        assert (out + err).count("Loaded ") == 1, name  # one model load, however the configurations are packed
        stores[name] = _samples(root / "store")
        tables[name] = pd.read_csv(root / "sweep" / "sweep_results.csv").drop(columns=["tokens_per_s", "wall_time_s"])
    reference = stores["unpacked"]
    assert len(reference) == 5 and all(len(v) == 5 for v in reference.values())
    for name in packings:
        assert stores[name] == reference, name  # same fingerprints, same tokens, answers, forwards, edits, remasks
        pd.testing.assert_frame_equal(tables[name].drop(columns=["store"]), tables["unpacked"].drop(columns=["store"]))


@pytest.mark.slow
def test_a_failed_configuration_leaves_the_others_and_one_line_that_resumes_it(cli, tmp_path, monkeypatch):
    import t2m.decoding

    decode = t2m.decoding.decode

    def failing_for_logitdiff(model, prompts, config, **kwargs):
        configs = config if isinstance(config, list) else [config] * len(prompts)
        if any(c.strategy == "logitdiff" for c in configs):
            raise RuntimeError("injected decoder failure")
        return decode(model, prompts, config, **kwargs)

    sweep_dir = tmp_path / "sweep"
    args = ("-m", "sweep=quick", *SMALL, f"hydra.sweep.dir={sweep_dir}")
    monkeypatch.setattr(t2m.decoding, "decode", failing_for_logitdiff, raising=False)
    code, out, err = cli(tmp_path, *args)
    monkeypatch.setattr(t2m.decoding, "decode", decode, raising=False)
    assert code == 1, err
    line = one_line(err).splitlines()[-1]
    assert line.startswith("t2m.sweep: 1 of 5 configurations are incomplete: 4_logitdiff_tau0.2_c1_rho0.25 (RuntimeError: injected "
                           "decoder failure); the table and plot show the others; resume with: python -m t2m.sweep -m sweep=quick"), line  # fmt: skip
    table = pd.read_csv(sweep_dir / "sweep_results.csv")
    assert sorted(table["strategy"]) == ["lowprob", "none", "t2t", "t2t_remask"] and table["complete"].all()
    assert (sweep_dir / "cost_vs_accuracy.png").exists()
    before = entries(tmp_path / "results" / "store")
    assert sorted(before.values()) == [(5, 5)] * 4  # the failed configuration's rows never reached the store
    summaries = {p: unpaired(p) for p in sweep_dir.glob("*/summary.json")}

    code, out, err = cli(tmp_path, *shlex.split(line.split("resume with: ", 1)[1])[3:])
    assert code == 0, err
    assert (out + err).count("5/5 samples already") == 4  # only the failed configuration is decoded
    after = entries(tmp_path / "results" / "store")
    count_samples(before, after, {fp: 5 for fp in after if fp not in before})
    assert len(after) == 5 and all(v == (5, 5) for v in after.values())
    assert len(pd.read_csv(sweep_dir / "sweep_results.csv")) == 5
    # complete configurations are not decoded or summarised again; only their paired comparison follows
    # the family, which has grown by the resumed configuration (Holm adjusts over every compared row)
    assert {p: unpaired(p) for p in summaries} == summaries
    compared = [json.loads(p.read_text())["paired"] for p in summaries]
    assert all(c is not None for c in compared)
    assert {c["family_size"] for c in compared if c["vs_baseline"] != "baseline"} == {4}
    count_wandb(sweep_dir, expected_ids=5 + 1)  # one run per configuration, one for the sweep
    survived("a failed configuration in a packed sweep")


@pytest.mark.slow
def test_ctrl_c_in_a_pack_keeps_every_finished_row(cli, tmp_path, monkeypatch):
    from t2m.pipeline.store.entries import Entry

    append = Entry.append

    def append_then_ctrl_c(self, records):
        append(self, records)
        raise KeyboardInterrupt

    args = ("-m", "strategy=t2t,lowprob,logitdiff", *SMALL, "tracker=none", f"hydra.sweep.dir={tmp_path / 'sweep'}")
    monkeypatch.setattr(Entry, "append", append_then_ctrl_c)
    code, out, err = cli(tmp_path, *args)
    monkeypatch.setattr(Entry, "append", append)
    assert code == 130, err
    line = one_line(err).splitlines()[-1]
    # 15 rows in even calls of at most 4 (3, 4, 4, 4): the first call's 3 rows of the T2T run were stored
    assert line.startswith("t2m.sweep: interrupted; kept 3 samples of 3 unfinished configurations (in "), line
    before = entries(tmp_path / "results" / "store")
    assert list(before.values()) == [(3, 3)]

    code, out, err = cli(tmp_path, *shlex.split(line.split("resume with: ", 1)[1])[3:])
    assert code == 0, err
    after = entries(tmp_path / "results" / "store")
    count_samples(before, after, {fp: 5 - before.get(fp, (0, 0))[0] for fp in after})
    assert sorted(after.values()) == [(5, 5)] * 3 and "Resuming t2t tau=0.5 c_max=- rho_max=-: 3/5 samples already" in out + err
    survived("Ctrl-C in a packed sweep")


def unpaired(summary: Path) -> dict:
    """A summary without its paired comparison (which the sweep's table writes into it)."""
    return {k: v for k, v in json.loads(summary.read_text()).items() if k != "paired"}
