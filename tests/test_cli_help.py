"""The command lines explain themselves: `python -m t2m.sweep --help` says what t2m does, shows examples,
the config groups (read from conf/ and sweeps/) and where the reference is, instead of Hydra's banner
and a config dump; `python -m t2m.report --help` lists its subcommands; common slips get a hint."""

from __future__ import annotations

import re
import shlex

import pytest

from conftest import REPO

from t2m.pipeline import cli as command

CONF, SWEEPS = REPO / "conf", REPO / "sweeps"


def groups_on_disk() -> dict[str, list[str]]:
    groups = {str(d.relative_to(CONF)): sorted(f.stem for f in d.glob("*.yaml")) for d in CONF.rglob("*") if d.is_dir()}
    groups["sweep"] = sorted(f.stem for f in SWEEPS.glob("*.yaml"))
    return {g: o for g, o in groups.items() if o and g != "hydra/help"}


@pytest.fixture(scope="module")
def sweep_help(tmp_path_factory):
    """`python -m t2m.sweep --help` as a user runs it, and with two picks: (status, stdout, stderr) each."""
    import subprocess
    import sys

    from conftest import cli_env

    tmp = tmp_path_factory.mktemp("help")
    out = {}
    for name, args in {"plain": ["--help"], "picked": ["--help", "strategy=lowprob", "hydra/launcher=slurm"]}.items():
        p = subprocess.run([sys.executable, "-m", "t2m.sweep", *args], cwd=tmp, env=cli_env(tmp), capture_output=True, text=True, timeout=300)
        out[name] = (p.returncode, p.stdout, p.stderr)
    assert not any(tmp.iterdir()), "--help wrote files"
    return out


def test_sweep_help_opens_with_what_t2m_does_then_examples_not_hydra_and_a_config_dump(sweep_help):
    code, out, err = sweep_help["plain"]
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("t2m ") and "Token-to-Mask" in lines[0] and "powered by Hydra" not in out
    assert "max_post_steps" not in out and "_target_" not in out  # no 76-line config dump
    assert len(lines) < 45, out
    examples = [line.split("#")[0].strip().removeprefix("python -m t2m.sweep ") for line in lines if line.strip().startswith("python -m t2m.sweep ")]
    for wanted in ("-m strategy=lowprob,logitdiff", "-m sweep=paper_ablation", "-m search=cheaper", "hydra/launcher=slurm_a100"):
        assert any(wanted in e for e in examples), (wanted, examples)
    assert any("-m" not in shlex.split(e) and "--cfg" not in e for e in examples)  # a single run
    assert "docs/" in out and "README.md" in out


def test_sweep_help_examples_name_only_groups_and_options_that_exist(sweep_help):
    groups = groups_on_disk()
    _, out, _ = sweep_help["plain"]
    picks = re.findall(r"(?<=\s)([\w/]+)=(\w+)(?=\s)", " ".join(line.split("#")[0] for line in out.splitlines() if "python -m t2m.sweep " in line) + " ")
    picks = [(g, o) for g, o in picks if g in groups]
    assert {g for g, _ in picks} >= {"strategy", "sweep", "search", "hydra/launcher"}, picks
    for group, option in picks:
        assert option in groups[group], (group, option)


def test_sweep_help_lists_every_config_group_and_option_from_conf_and_marks_the_picked_ones(sweep_help):
    groups = groups_on_disk()
    assert {"strategy", "unmasking", "model", "dataset", "tracker", "sweep", "search", "hydra/launcher", "hydra/sweeper"} <= set(groups)
    for name, marked in {"plain": {"strategy": "t2t", "hydra/launcher": "inprocess"}, "picked": {"strategy": "lowprob", "hydra/launcher": "slurm"}}.items():
        _, out, _ = sweep_help[name]
        listed = {}
        for line in out.splitlines():
            m = re.fullmatch(r"  ([\w/]+) +(\w+\*?(?:, \w+\*?)*)", line)
            if m and m.group(1) in groups:
                listed[m.group(1)] = m.group(2).split(", ")
        assert {g: sorted(o.rstrip("*") for o in opts) for g, opts in listed.items()} == groups, out
        for group, option in marked.items():
            assert [o for o in listed[group] if o.endswith("*")] == [option + "*"], (name, group, listed[group])


def test_the_help_groups_follow_the_files(monkeypatch, tmp_path):
    """A new option file is listed without touching the help (the list is read, not written by hand)."""
    conf = tmp_path / "conf"
    (conf / "strategy").mkdir(parents=True)
    (conf / "hydra" / "launcher").mkdir(parents=True)
    for path in ("strategy/mine.yaml", "strategy/t2t.yaml", "hydra/launcher/cloud.yaml"):
        (conf / path).write_text("{}\n")
    (tmp_path / "sweeps").mkdir()
    (tmp_path / "sweeps" / "big.yaml").write_text("{}\n")
    monkeypatch.setattr(command, "CONF_DIR", conf)
    monkeypatch.setattr(command, "SWEEPS_DIR", tmp_path / "sweeps")
    text = command.config_groups()
    assert [line.split() for line in text.splitlines()] == [["strategy", "mine,", "t2t"], ["sweep", "big"], ["hydra/launcher", "cloud"]]


@pytest.mark.parametrize(
    "args, hint",
    [
        (["--strategy", "lowprob"], "write strategy=lowprob (Hydra overrides, no dashes)"),
        (["-m", "--strategy=lowprob,logitdiff", "tau=0.1"], "write strategy=lowprob,logitdiff (Hydra overrides, no dashes)"),
        (["--c_max"], "write c_max=VALUE (Hydra overrides, no dashes)"),
        (["c_max=None"], "use null: c_max=null"),
        (["-m", "c_max=1,None"], "use null: c_max=1,null"),
        (["baseline={strategy:lowprob,tau:None}"], "use null: baseline={strategy:lowprob,tau:null}"),
    ],
)
def test_common_slips_get_a_hint(args, hint):
    assert hint in command.slip_hint(args)


@pytest.mark.parametrize(
    "args",
    [["--help"], ["-m", "--cfg", "job", "strategy=lowprob"], ["strategy=none", "tracker=none"], ["experiment='None'"],
     ["c_max=null"], ["--hydra-help"], ["--multirun", "tau=0.1,0.3"], ["hydra.run.dir=/tmp/NoneSuch"]],
)  # fmt: skip
def test_what_is_right_gets_no_hint(args):
    assert command.slip_hint(args) is None


@pytest.mark.parametrize(
    "args, hint",
    [(["--strategy", "lowprob"], "write strategy=lowprob (Hydra overrides, no dashes)"), (["c_max=None"], "use null: c_max=null")],
)
def test_a_slip_ends_the_command_with_its_hint_before_anything_runs(cli, tmp_path, args, hint):
    code, out, err = cli(tmp_path, *args, "tracker=none")
    assert code == 2
    assert err.strip().splitlines() == [err.strip()] and err.startswith("t2m.sweep: ") and hint in err, err
    assert not any(tmp_path.iterdir())


def test_report_help_lists_its_subcommands_in_usage(capsys):
    from t2m.pipeline import report

    with pytest.raises(SystemExit) as e:
        report.main(["--help"])
    assert e.value.code == 0
    usage = capsys.readouterr().out.split("\n\n")[0]
    for command_line in ("python -m t2m.report RESULTS_DIR", "python -m t2m.report diff BEFORE AFTER", "python -m t2m.report repair RESULTS_DIR",
                         "python -m t2m.report trajectory JOB_DIR --id ID"):  # fmt: skip
        assert command_line in usage, usage
    with pytest.raises(SystemExit):
        report.main([])
    assert "python -m t2m.report diff" in capsys.readouterr().err  # an error shows the subcommands too
