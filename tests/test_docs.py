"""The docs site builds strictly: every page in the nav exists, and every link and anchor between the
README's pages resolves (mkdocs.yml turns link warnings into errors)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from conftest import REPO


def test_docs_site_builds_strictly(tmp_path):
    pytest.importorskip("mkdocs")
    p = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                       cwd=REPO, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert p.returncode == 0, p.stderr[-3000:]
    assert (tmp_path / "site" / "index.html").exists()


def test_readme_links_point_at_files_that_exist():
    """The README is not part of the site (it is the repository's front page): its relative links
    are checked here."""
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 300, "the README is the entry point: at most 300 lines; the rest belongs in docs/"
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme):
        if "://" not in target:
            assert (REPO / target).exists(), target
