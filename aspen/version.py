"""What ``--version`` prints for every command: the release and the commit it was built from.

A wheel carries its commit in ``aspen/BUILD_COMMIT`` (written by ``setup.py`` when the wheel is
built); a source checkout (an editable install) asks git, and marks uncommitted changes with
``+dirty``. Neither: ``unknown``. The commit is what a bug report needs: two builds of one
release differ by it.
"""

from __future__ import annotations

import argparse
import subprocess
from importlib import metadata, resources
from pathlib import Path
from typing import Any, NoReturn

BUILD_COMMIT_FILE = "BUILD_COMMIT"


def version() -> str:
    """The installed distribution's version (pyproject's), or ``unknown`` when not installed."""
    try:
        return metadata.version("aspen")
    except metadata.PackageNotFoundError:
        return "unknown"


def commit() -> str:
    """The git commit this code came from: the one stamped into the wheel, else the checkout's."""
    stamped = resources.files("aspen").joinpath(BUILD_COMMIT_FILE)
    if stamped.is_file():
        return stamped.read_text(encoding="ascii").strip() or "unknown"
    return checkout_commit(Path(__file__).resolve().parents[1])


def checkout_commit(root: Path) -> str:
    """HEAD of the git checkout at ``root``, ``+dirty`` with uncommitted changes, else
    ``unknown``: what a wheel or an image built from that tree is stamped with."""
    if not (root / ".git").exists():
        return "unknown"
    try:
        head = _git(root, "rev-parse", "HEAD").stdout.strip()
        dirty = _git(root, "status", "--porcelain", "--untracked-files=no").stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}+dirty" if dirty and head else head or "unknown"


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=True
    )


def version_line(prog: str) -> str:
    """``aspen-node 0.1.0 (commit 9c9f34e…)``: argparse's ``version`` action prints it."""
    return f"{prog} {version()} (commit {commit()})"


class VersionAction(argparse.Action):
    """``--version``: prints `version_line` and exits 0. Asks git only when used, not whenever
    a parser is built (every node start builds one)."""

    def __init__(self, option_strings: list[str], dest: str = "version", **kw: Any) -> None:
        kw.setdefault("help", "print the version and the commit, then exit")
        kw["default"] = argparse.SUPPRESS  # parsers built with argument_default pass their own
        super().__init__(option_strings, dest, nargs=0, **kw)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any, **__: Any) -> NoReturn:
        print(version_line(parser.prog))  # to stdout, as argparse's own "version" action does
        parser.exit()
