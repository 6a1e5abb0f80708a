from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from aspen import version


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.email=t@t", "-c", "user.name=t", *args],
        cwd=root, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


def test_a_checkout_reports_its_head_and_whether_it_has_uncommitted_changes(
    tmp_path: Path,
) -> None:
    _git(tmp_path, "init", "-q")
    (tmp_path / "f").write_text("1")
    _git(tmp_path, "add", "f")
    _git(tmp_path, "commit", "-qm", "one")
    head = _git(tmp_path, "rev-parse", "HEAD")
    assert version.checkout_commit(tmp_path) == head
    (tmp_path / "f").write_text("2")
    assert version.checkout_commit(tmp_path) == f"{head}+dirty"


def test_no_checkout_and_no_stamp_is_unknown(tmp_path: Path) -> None:
    assert version.checkout_commit(tmp_path) == "unknown"


@pytest.mark.parametrize("module", ["aspen.node.cli", "aspen.cli", "lab.cli"])
def test_every_command_prints_version_and_commit(module: str) -> None:
    code = f"from {module} import main; main(['--version'])"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    prog, release, rest = proc.stdout.split(" ", 2)
    assert prog in {"aspen", "aspen-node", "aspen-lab"}
    assert release == version.version()
    assert rest.strip() == f"(commit {version.commit()})"
