"""Shared by the etcd and bring-your-own-db lab tests: run ``aspen-lab chaos`` as a user does."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


def need_etcd_and_namespaces() -> None:
    """Skip (with the reason printed) unless etcd is installed and we may make namespaces."""
    if shutil.which("etcd") is None:
        pytest.skip("etcd is not installed (Debian: apt-get install etcd-server)")
    if os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("nft") is None:
        pytest.skip("per-node network namespaces need root, ip (iproute2) and nft (nftables)")


@dataclass(frozen=True)
class ChaosRun:
    code: int
    output: str
    results: dict[str, Any]
    run_dir: Path


def chaos(store: Path, *args: str, timeout: float = 180.0) -> ChaosRun:
    """``aspen-lab chaos ARGS --store STORE`` in a subprocess; its exit code and only run."""
    argv = [sys.executable, "-m", "lab.cli", "chaos", "--store", str(store), "--no-report",
            "--quiet", *args]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    output = done.stdout + done.stderr
    runs = sorted(p for p in store.glob("*/*/results.json") if p.parent.name != "latest")
    assert len(runs) == 1, f"expected one run in {store}, got {runs}\n{output}"
    results = json.loads(runs[0].read_text())
    return ChaosRun(done.returncode, output, results, runs[0].parent)


def history(run_dir: Path, name: str = "history") -> list[dict[str, Any]]:
    """``history.jsonl`` (or ``nemesis.jsonl``) of a run, one dict per event."""
    lines = (run_dir / f"{name}.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]
