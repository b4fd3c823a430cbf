"""A non-editable install (`pip install .`) runs sweeps and named sweeps from any directory: the Hydra
config tree (conf/) and the named sweeps (sweeps/) ship inside the package, with t2m's Hydra plugins.

The repository is copied (so that the build writes nothing into it) and installed into a fresh virtual
environment that sees this interpreter's packages (torch, Hydra, ... are not downloaded again) but not
the repository: the commands run without PYTHONPATH, from a directory that has no conf/ or sweeps/.
"This interpreter's packages" are those of whatever runs the tests, a virtual environment (the README's
setup) or a system Python (CI); `venv --system-site-packages` would give the base interpreter's instead.
"""

from __future__ import annotations

import json
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO, cli_env

pytestmark = pytest.mark.slow

NOT_SHIPPED = (".git", "results", "outputs", "multirun", "wandb", "build", "*.egg-info", "__pycache__", ".pytest_cache", ".venv", ".whl")


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The venv's python, with t2m installed from a copy of the repository by `pip install .`."""
    root = tmp_path_factory.mktemp("install")
    source = root / "src"
    shutil.copytree(REPO, source, symlinks=True, ignore=shutil.ignore_patterns(*NOT_SHIPPED))
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True, timeout=300)
    python = root / "venv" / "bin" / "python"
    see_packages_of_this_interpreter(python)
    # --no-deps: the dependencies are this interpreter's; the build itself runs as pip runs it for users
    p = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(source)], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    return python


def see_packages_of_this_interpreter(python: Path) -> None:
    """Put this interpreter's site-packages on the sys.path of the venv of `python`, after the venv's
    own. Plain paths in a .pth file: the .pth files inside them (an editable install's link back to
    the repository) are not run, so the venv sees the dependencies but not the repository."""
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True, timeout=120).stdout.strip()  # fmt: skip
    Path(purelib, "_t2m_test_outer_packages.pth").write_text("".join(f"{p}\n" for p in site.getsitepackages()))


def env_without_repo(tmp_path: Path) -> dict:
    env = cli_env(tmp_path)
    del env["PYTHONPATH"]
    return env


def test_a_non_editable_install_ships_conf_and_sweeps(installed, tmp_path):
    code = ("import json, t2m, hydra_plugins.t2m_launchers as l, hydra_plugins.t2m_sweepers as s; from pathlib import Path; "
            "p = Path(t2m.__file__).parent; "
            "print(json.dumps([str(p), l.__file__, s.__file__, sorted(str(f.relative_to(p / 'conf')) for f in (p / 'conf').rglob('*.yaml')), "
            "sorted(f.name for f in (p / 'sweeps').glob('*.yaml')), (p / 'conf').is_symlink()]))")  # fmt: skip
    p = subprocess.run([str(installed), "-c", code], cwd=tmp_path, env=env_without_repo(tmp_path), capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    package, launchers, sweepers, conf, sweeps, linked = json.loads(p.stdout)
    venv = str(installed.parent.parent)
    assert package.startswith(venv) and launchers.startswith(venv) and sweepers.startswith(venv), (package, launchers, sweepers)
    assert not linked  # real files in the installed package, not a link back to a checkout
    assert conf == sorted(str(f.relative_to(REPO / "conf")) for f in (REPO / "conf").rglob("*.yaml"))
    assert sweeps == sorted(f.name for f in (REPO / "sweeps").glob("*.yaml"))


def test_the_venv_uses_the_dependencies_of_the_interpreter_that_runs_the_tests(installed, tmp_path):
    """Not the base interpreter's: run from a venv, `venv --system-site-packages` would give the system
    Python's packages (other versions, or none: `No module named 'hydra'`)."""
    import hydra
    import pandas

    code = "import json, hydra, pandas; print(json.dumps([hydra.__file__, pandas.__file__]))"
    p = subprocess.run([str(installed), "-c", code], cwd=tmp_path, env=env_without_repo(tmp_path), capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == [hydra.__file__, pandas.__file__]


def test_a_non_editable_install_runs_a_named_sweep_and_a_single_run_from_elsewhere(installed, tmp_path):
    env = env_without_repo(tmp_path)
    assert not (tmp_path / "conf").exists() and not (tmp_path / "sweeps").exists()
    p = subprocess.run([str(installed), "-m", "t2m.sweep", "-m", "sweep=quick", "dataset.limit=2", "gen_length=32", "tracker=none",
                        f"hydra.sweep.dir={tmp_path / 'quick'}"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert p.returncode == 0, p.stderr[-3000:]
    table = pd.read_csv(tmp_path / "quick" / "sweep_results.csv")
    assert sorted(table["strategy"]) == sorted(["t2t", "none", "lowprob", "t2t_remask", "logitdiff"]) and table["complete"].all()

    p = subprocess.run([str(installed), "-m", "t2m.sweep", "strategy=lowprob", "dataset.limit=2", "gen_length=32", "tracker=none",
                        f"hydra.run.dir={tmp_path / 'one'}"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert p.returncode == 0, p.stderr[-3000:]
    assert json.loads((tmp_path / "one" / "summary.json").read_text())["n"] == 2
