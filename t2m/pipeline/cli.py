"""The command line behind `python -m t2m.sweep`: Hydra with t2m's config, named sweeps and errors.

    python -m t2m.sweep                                              # one configuration (conf/config.yaml)
    python -m t2m.sweep -m strategy=lowprob,logitdiff tau=0.1,0.3    # a grid: four configurations (+ the baseline)
    python -m t2m.sweep -m sweep=paper_ablation                      # a named sweep from sweeps/
    python -m t2m.sweep -m sweep=paper_ablation hydra/launcher=slurm hydra.launcher.jobs=4   # as 4 SLURM jobs

Every configuration runs `t2m.pipeline.task` (packed with others by t2m's launchers). Every mistake a user can fix ends the command with one line
on stderr: a bad config, dataset file, model directory or results directory with status 2, before
anything is loaded or written; a configuration another process is decoding (store.if_busy=stop) with
status 75; Ctrl-C with status 130, saying what was kept and the command that resumes; a sweep in which
some configurations failed (a job that crashed, was cancelled or ran out of requeues) writes its table
and plot from the others and ends with status 1, naming the incomplete ones and the command that
resumes them. With HYDRA_FULL_ERROR=1 in the environment every error shows its traceback instead.
"""

from __future__ import annotations

import os
import re
import shlex
import sys

import hydra
from hydra.core.config_store import ConfigStore
from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from t2m.pipeline.store.lock import Busy, LockUnsupported, WaitedTooLong
from t2m.pipeline.paths import CONF_DIR, REPO, SWEEPS_DIR
from t2m.pipeline.store.entries import StoreError
from t2m.pipeline.checks.validate import EXIT_CODE, ConfigError, Rejected, exit_on_error, unknown_key

EXIT_BUSY = 75  # sysexits' EX_TEMPFAIL: try again later
EXIT_INTERRUPTED = 130  # the shell's code for a command ended by Ctrl-C
EXIT_INCOMPLETE = 1  # a sweep whose table was written, but some configurations failed (the line says which)


def register_named_sweeps() -> None:
    """Make sweeps/*.yaml the options of the `sweep` config group (`sweep=paper_ablation`). They
    live at the top of the repository, beside conf/, because they are documents users read and
    write; a Hydra group must sit under a config root, so they are registered from there."""
    cs = ConfigStore.instance()
    for path in sorted(SWEEPS_DIR.glob("*.yaml")):
        cs.store(group="sweep", name=path.stem, node=OmegaConf.load(path), package="_global_", provider="t2m")


def config_groups(_root_=None) -> str:
    """`--help`'s list of config groups and their options, read from conf/ (and sweeps/, the `sweep`
    group), one group a line; * marks the option the composed config picked (`_root_`'s choices)."""
    groups = {str(d.relative_to(CONF_DIR)): sorted(f.stem for f in d.glob("*.yaml")) for d in CONF_DIR.rglob("*") if d.is_dir()}
    groups["sweep"] = sorted(f.stem for f in SWEEPS_DIR.glob("*.yaml"))
    groups = {g: options for g, options in groups.items() if options and g != "hydra/help"}
    choices = OmegaConf.select(_root_, "hydra.runtime.choices", default=None) if _root_ is not None else None
    picked = OmegaConf.to_container(choices) if choices is not None else {}
    width = max(map(len, groups))
    lines = []
    for group in sorted(groups, key=lambda g: (g.startswith("hydra/"), g)):
        options = ", ".join(f"{o}*" if o == picked.get(group) else o for o in groups[group])
        lines.append(f"  {group:<{width}}  {options}")
    return "\n".join(lines)


def register_help() -> None:
    """The resolver behind `--help`'s config groups (conf/hydra/help/t2m.yaml)."""
    OmegaConf.register_new_resolver("t2m.config_groups", config_groups, replace=True)


def slip_hint(args: list[str]) -> str | None:
    """One line for the command-line slips that Hydra answers cryptically, or not at all: argparse-style
    `--strategy lowprob` (Hydra takes KEY=VALUE) and Python's `c_max=None` (YAML's None is null; Hydra
    would pass the string 'None')."""
    from hydra._internal.utils import get_args_parser

    flags = set(get_args_parser()._option_string_actions)  # Hydra's own: --help, --multirun, --cfg, ...
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if arg.startswith("--") and len(arg) > 2 and arg.split("=", 1)[0] not in flags:
            key, _, value = arg[2:].partition("=")
            if not value and i + 1 < len(args) and "=" not in args[i + 1] and not args[i + 1].startswith("-"):
                value = args[i + 1]
            return f"unknown option {arg}; write {key}={value or 'VALUE'} (Hydra overrides, no dashes)"
        key, eq, value = arg.partition("=")
        if eq and not key.startswith("-") and _NONE.search(value):
            return f"{arg} would be the string 'None'; use null: {key}={_NONE.sub('null', value)}"
    return None


_NONE = re.compile(r"(?<![\w.'\"])None(?![\w.'\"])")  # a bare None in an override's value, not 'None' or NoneType


def one_line(e: Exception) -> str:
    """A config error as one line naming the key and what it allows."""
    if isinstance(e, MissingConfigException) and e.missing_cfg_file and e.options:
        group, _, option = e.missing_cfg_file.rpartition("/")
        return f"{group}={option} is unknown; allowed: {', '.join(sorted(e.options))}"
    text = " ".join(str(e).split())
    unknown = re.search(r"Could not override '([^']+)'\. To append to your config use \+", text)
    if unknown and not unknown.group(1).startswith("hydra."):
        return unknown_key(unknown.group(1))
    if text.startswith("Config group override must be a string"):  # `strategy=null`: a group needs an option
        nulls = [a.split("=", 1)[0] for a in sys.argv[1:] if a.endswith("=null") and (CONF_DIR / a.split("=", 1)[0]).is_dir()]
        if nulls:
            options = sorted(p.stem for p in (CONF_DIR / nulls[0]).glob("*.yaml"))
            return f"{nulls[0]}=null picks no option of the config group {nulls[0]}; allowed: {', '.join(options)}"
    if "'sweep_name'" in text:
        return "sweep_name was renamed; use experiment=NAME (the results subfolder and W&B group)"
    return text or type(e).__name__


def conflicting_overrides(args: list[str]) -> str | None:
    """Two overrides of one key with different values (`tau=0.1 tau=0.3`): Hydra would silently keep
    the last one. The one line naming them, or None. Overrides it cannot parse are Hydra's to report."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser, seen = OverridesParser.create(), {}
    for arg in (a for a in args if not a.startswith("-")):
        try:
            (o,) = parser.parse_overrides([arg])
        except Exception:  # noqa: BLE001 - a syntax error: Hydra reports it in its own words
            continue
        key = o.get_key_element().lstrip("+~")
        if key in seen and seen[key] != arg:
            return f"{key} is set twice ({seen[key]} and {arg}); allowed: one value, or a list with -m ({key}=a,b)"
        seen.setdefault(key, arg)
    return None


def resume_command() -> str:
    """This command again, pinned to the directory it was writing, so that it picks up there."""
    from t2m.pipeline.task import PROGRESS

    args = sys.argv[1:]
    key = "hydra.sweep.dir" if PROGRESS.mode == "MULTIRUN" else "hydra.run.dir"
    if PROGRESS.out_dir is not None and not any(a.split("=", 1)[0].lstrip("+") == key for a in args):
        args = [*args, f"{key}={PROGRESS.out_dir}"]
    return " ".join(["python -m t2m.sweep", *map(shlex.quote, args)])


def kept() -> str:
    """What an interrupted command leaves behind, in a few words."""
    from t2m.pipeline.task import PROGRESS

    if PROGRESS.out_dir is None:
        return "nothing was written"
    parts = []
    if PROGRESS.finished:
        parts.append(f"{PROGRESS.finished} finished configuration{'s' * (PROGRESS.finished != 1)}")
    if len(PROGRESS.current) == 1:
        (c,) = PROGRESS.current
        parts.append(f"{len(c['entry'].records(c['ids']))}/{c['total']} samples of {c['label']} (in {c['entry'].path})")
    elif PROGRESS.current:  # a packed job: several configurations were in progress
        kept_samples = sum(len(c["entry"].records(c["ids"])) for c in PROGRESS.current)
        stores = sorted({str(c["entry"].path.parent) for c in PROGRESS.current})
        parts.append(f"{kept_samples} samples of {len(PROGRESS.current)} unfinished configurations (in {', '.join(stores)})")
    return "kept " + (" and ".join(parts) if parts else "every finished sample") + f" under {PROGRESS.out_dir}"


def main() -> None:
    # Hydra prints its own multi-line report for config errors; let them reach us instead, so every
    # config mistake ends the same way: one line on stderr, exit status 2, nothing loaded. Whoever set
    # HYDRA_FULL_ERROR=1 themselves gets the tracebacks.
    full_error = os.environ.get("HYDRA_FULL_ERROR") == "1"
    hint = slip_hint(sys.argv[1:])
    if hint:
        exit_on_error(hint, EXIT_CODE)
    register_help()
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")
    # conf/, sweeps/ and the sweeper plugin (hydra_plugins/) live in the checkout beside t2m/; make the
    # plugin importable however t2m itself was installed and wherever the command is launched.
    if str(REPO) not in sys.path:
        sys.path.append(str(REPO))
    register_named_sweeps()
    conflict = conflicting_overrides(sys.argv[1:])
    if conflict:
        exit_on_error(conflict)
    from hydra.core.hydra_config import HydraConfig

    # A command run again in one process (the Python API, the tests) must not resolve relative paths
    # against the previous command's directory: Hydra keeps its last job's config in a singleton.
    HydraConfig.instance().cfg = None
    from t2m.pipeline.task import run  # the task's own module, so that it pickles by reference (submitit)

    task = hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")(run)
    try:
        task()
    except BaseException as e:  # noqa: BLE001 - sorted below: a user's mistake is one line, a bug a traceback
        if isinstance(e, Rejected):  # a Hydra callback had to leave by a BaseException; the error is inside
            e = e.error
        from t2m.pipeline.launchers.outcomes import SweepIncomplete

        if (full_error and not isinstance(e, SweepIncomplete)) or isinstance(e, SystemExit):
            raise
        fail(e)


def fail(e: BaseException) -> None:
    """End the command with one line for the errors a user can act on; re-raise anything else."""
    from t2m.pipeline.task import ResultsUnwritable

    from t2m.pipeline.launchers.outcomes import SweepIncomplete

    if isinstance(e, SweepIncomplete):
        exit_on_error(f"{e}; resume with: {resume_command()}", EXIT_INCOMPLETE)
    if isinstance(e, KeyboardInterrupt):
        exit_on_error(f"interrupted; {kept()}; resume with: {resume_command()}", EXIT_INTERRUPTED)
    if isinstance(e, ResultsUnwritable):
        exit_on_error(f"{e.strerror}; free space or fix the directory, then resume with: {resume_command()}", EXIT_CODE)
    if isinstance(e, Busy):
        exit_on_error(f"{e}; resume with: {resume_command()}" if isinstance(e, WaitedTooLong) else str(e), EXIT_BUSY)
    if isinstance(e, (ConfigError, ConfigCompositionException, OverrideParseException, OmegaConfBaseException, LockUnsupported, StoreError)):
        exit_on_error(one_line(e), EXIT_CODE)
    if isinstance(e, ValueError) and _raised_in_hydra(e):  # Hydra composing an override it cannot use (e.g. strategy=null)
        exit_on_error(one_line(e), EXIT_CODE)
    raise e


def _raised_in_hydra(e: BaseException) -> bool:
    """Whether `e` comes from Hydra's own code (composing the config), not from a job."""
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and f"{os.sep}hydra{os.sep}" in tb.tb_frame.f_code.co_filename
