"""The wheel users and the node image install: built from this tree, installed into a fresh
venv with the locked `lab` dependencies and nothing of the source checkout, it runs a short
chaos run that writes its report (templates are package data) and says which commit it is."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def _run(*args: str | Path, cwd: Path, timeout: float, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )
    assert proc.returncode == 0, f"{args} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.mark.integration
@pytest.mark.timeout(1500)  # a cold pip cache downloads the whole lab lock on a busy machine
def test_a_wheel_in_a_clean_venv_runs_chaos_and_writes_its_report(tmp_path: Path) -> None:
    commit = "0123456789abcdef0123456789abcdef01234567"
    dist = tmp_path / "dist"
    env = {**os.environ, "ASPEN_BUILD_COMMIT": commit}
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, REPO,
         cwd=tmp_path, timeout=600, env=env)  # fmt: skip
    (wheel,) = dist.glob("aspen-*.whl")

    venv.create(tmp_path / "venv", with_pip=True)
    bin_dir = tmp_path / "venv" / "bin"
    pip = [bin_dir / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    _run(*pip, "--require-hashes", "-r", REPO / "requirements" / "lab.txt",
         cwd=tmp_path, timeout=900)  # fmt: skip
    _run(*pip, "--no-deps", wheel, cwd=tmp_path, timeout=300)

    work = tmp_path / "work"  # no source tree anywhere near: only the installed wheel
    work.mkdir()
    clean_env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    clean_env["PATH"] = f"{bin_dir}{os.pathsep}{clean_env.get('PATH', '')}"
    for prog in ("aspen", "aspen-node", "aspen-lab"):
        out = _run(bin_dir / prog, "--version", cwd=work, timeout=60, env=clean_env)
        assert out.strip() == f"{prog} {VERSION} (commit {commit})"

    where = _run(bin_dir / "python", "-c", "import lab, aspen; print(lab.__file__, aspen.__file__)",
                 cwd=work, timeout=60, env=clean_env)  # fmt: skip
    assert str(REPO) not in where and str(tmp_path / "venv") in where

    _run(bin_dir / "aspen-lab", "chaos", "--scenario", "partition", "--duration", "8",
         cwd=work, timeout=600, env=clean_env)  # fmt: skip
    report = work / "store" / "partition" / "latest" / "report.html"
    assert report.is_file(), sorted(work.rglob("*"))
    html = report.read_text()
    assert "partition" in html and "<svg" in html
