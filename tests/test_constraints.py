"""constraints.txt stays in step with pyproject.toml: every dependency (every extra too) has exactly one
exact pin on each supported Python that satisfies what pyproject asks for, and pip installs the project
with it without resolving anything (no backtracking; every package it picks is pinned).

Regenerate the file with `.ci/pin` after changing a dependency."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from conftest import REPO

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

PYTHONS = ("3.10", "3.11", "3.12")
CUDA_ONLY = re.compile(r"^(nvidia-|cuda-|triton$)")  # torch's CUDA build needs them, the CPU build not (.ci/pin)


def linux(python: str) -> dict[str, str]:
    return {"python_version": python, "python_full_version": f"{python}.9", "sys_platform": "linux", "platform_system": "Linux",
            "platform_machine": "x86_64", "implementation_name": "cpython", "platform_python_implementation": "CPython",
            "os_name": "posix", "extra": ""}  # fmt: skip


def pins() -> list[Requirement]:
    lines = (REPO / "constraints.txt").read_text().splitlines()
    return [Requirement(line) for line in lines if line.strip() and not line.lstrip().startswith("#")]


def pinned(python: str) -> dict[str, str]:
    """name -> version of the pins that apply on Linux with `python`; a name pinned twice fails."""
    out: dict[str, str] = {}
    for r in pins():
        if r.marker is None or r.marker.evaluate(linux(python)):
            name = canonicalize_name(r.name)
            assert name not in out, f"{r.name} is pinned twice for Python {python}"
            out[name] = str(r.specifier).removeprefix("==")
    return out


def dependencies() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = [d for ds in project.get("optional-dependencies", {}).values() for d in ds]
    return [Requirement(d) for d in [*project["dependencies"], *extras]]


def test_every_pin_is_exact():
    for r in pins():
        assert [s.operator for s in r.specifier] == ["=="] and "*" not in str(r.specifier), r


@pytest.mark.parametrize("python", PYTHONS)
def test_every_dependency_of_pyproject_has_one_pin_that_satisfies_it(python):
    versions = pinned(python)
    assert versions["torch"] == "2.13.0"  # the CPU build the README and CI install first
    for r in dependencies():
        if r.marker is not None and not r.marker.evaluate(linux(python)):
            continue
        name = canonicalize_name(r.name)
        assert name in versions, f"{r.name} (pyproject.toml) has no pin in constraints.txt for Python {python}: run .ci/pin"
        assert r.specifier.contains(versions[name], prereleases=True), f"{r} is not met by the pin {r.name}=={versions[name]}: run .ci/pin"


def test_the_pin_check_catches_a_missing_and_a_stale_pin(monkeypatch):
    """The check above can fail: a dependency without a pin, and one whose pin it no longer admits."""
    real = dependencies()
    monkeypatch.setattr(sys.modules[__name__], "dependencies", lambda: [*real, Requirement("not-a-pinned-package>=1")])
    with pytest.raises(AssertionError, match="not-a-pinned-package"):
        test_every_dependency_of_pyproject_has_one_pin_that_satisfies_it("3.11")
    monkeypatch.setattr(sys.modules[__name__], "dependencies", lambda: [*real, Requirement("pandas>=99")])
    with pytest.raises(AssertionError, match="pandas>=99"):
        test_every_dependency_of_pyproject_has_one_pin_that_satisfies_it("3.11")


@pytest.mark.slow  # asks the package index: CI runs it (`.ci/run`), the default test command does not
def test_pip_resolves_the_project_with_the_constraints_without_backtracking(tmp_path):
    """What `pip install -c constraints.txt -e '.[every extra]'` would install, in a dry run that ignores
    what is installed: it resolves without backtracking, and every package it picks is pinned."""
    extras = ",".join(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    report = tmp_path / "report.json"
    p = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--report", str(report),
                        "-c", "constraints.txt", f".[{extras}]"], cwd=REPO, capture_output=True, text=True, timeout=900)  # fmt: skip
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "looking at multiple versions" not in p.stdout + p.stderr, "pip backtracked: run .ci/pin"
    versions = pinned(f"{sys.version_info.major}.{sys.version_info.minor}")
    picked = {canonicalize_name(i["metadata"]["name"]): i["metadata"]["version"] for i in json.loads(report.read_text())["install"]}
    assert picked.pop("t2m")
    unpinned = sorted(n for n in picked if n not in versions and not CUDA_ONLY.match(n))
    assert not unpinned, f"pip picked packages constraints.txt does not pin: {unpinned}; run .ci/pin"
    for name, version in picked.items():
        if name in versions:
            assert version.split("+")[0] == versions[name], (name, version, versions[name])


def test_the_documented_headless_notebook_command_installs_what_jupytext_execute_needs():
    """`jupytext --execute` runs a notebook through nbconvert's ExecutePreprocessor and an ipykernel
    kernel: the extra the docs install for it (docs/analyses.md, "Notebooks") has to bring both (it
    once lacked nbconvert)."""
    readme = (REPO / "docs" / "analyses.md").read_text()
    install = re.search(r"python -m pip install -c constraints\.txt -e '\.\[(\w+)\]'`\s*\([^)]*\):\s*`[^`]*jupytext --execute", readme)
    assert install, "docs/analyses.md's headless notebook command and its install were not found"
    extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"][install.group(1)]
    assert {"jupytext", "nbconvert", "ipykernel"} <= {canonicalize_name(Requirement(d).name) for d in extra}, extra
