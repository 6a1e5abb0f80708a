"""Stamps the git commit into built wheels as ``aspen/BUILD_COMMIT`` (see ``aspen.version``).

Everything else about the package is in ``pyproject.toml``. The commit comes from
``$ASPEN_BUILD_COMMIT`` (the image build sets it: it builds from a snapshot without ``.git``),
else from git in this directory; with neither, no file is written and ``--version`` says
``unknown``. Editable installs ask git at run time instead.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


def _commit() -> str:
    if os.environ.get("ASPEN_BUILD_COMMIT"):
        return os.environ["ASPEN_BUILD_COMMIT"].strip()
    here = Path(__file__).resolve().parent
    if not (here / ".git").exists():
        return ""
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


class BuildPyWithCommit(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        commit = _commit()
        if commit:
            target = Path(self.build_lib) / "aspen" / "BUILD_COMMIT"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(commit + "\n", encoding="ascii")


setup(cmdclass={"build_py": BuildPyWithCommit})
