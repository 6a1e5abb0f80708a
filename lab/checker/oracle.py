"""The real Porcupine (Go), wrapped as a command, as an oracle for `check`.

``shared/tools/porcupine-oracle`` holds the wrapper; its ``build.sh`` builds it offline with
Go (Debian's golang-go) and prints the binary's path. The oracle reads the same history files
and prints, per file, Porcupine's verdict and its check time in milliseconds (parsing
excluded): the benchmark compares speed with it in the same run, and the differential tests
compare verdicts. ``PORCUPINE_ORACLE`` names a binary to use instead of building one.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

ROOT: Final = Path(__file__).resolve().parents[2]
BUILD_SCRIPT: Final = ROOT.parent / "shared/tools/porcupine-oracle/build.sh"

OracleVerdict = Literal["Ok", "Illegal", "Unknown", "Error"]


@dataclass(frozen=True)
class OracleResult:
    """Porcupine's answer for one file: verdict, operations it saw, check time (ms)."""

    path: str
    verdict: OracleVerdict
    ops: int
    ms: float


class OracleUnavailable(RuntimeError):
    """No oracle binary: no Go toolchain, or the build failed (the message says which)."""


def find_oracle() -> Path:
    """The oracle binary: ``$PORCUPINE_ORACLE``, else built with the shared script (a no-op
    when already built). Raises `OracleUnavailable` saying why there is none."""
    given = os.environ.get("PORCUPINE_ORACLE")
    if given:
        if not os.access(given, os.X_OK):
            raise OracleUnavailable(f"PORCUPINE_ORACLE={given} is not an executable")
        return Path(given)
    if shutil.which("go") is None:
        raise OracleUnavailable("no Go toolchain (apt-get install -y golang-go)")
    if not BUILD_SCRIPT.exists():
        raise OracleUnavailable(f"no oracle sources at {BUILD_SCRIPT.parent}")
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "porcupine-oracle"
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / "build.lock", "w") as lock:  # test workers may build at once
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = subprocess.run(
            ["bash", str(BUILD_SCRIPT), str(cache)],
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
    if done.returncode != 0:
        raise OracleUnavailable(f"building the oracle failed: {done.stderr.strip()[-400:]}")
    return Path(done.stdout.strip().splitlines()[-1])


def run_oracle(
    binary: Path, files: Sequence[Path], *, timeout_s: float = 60.0, model: str = "auto"
) -> list[OracleResult]:
    """Porcupine's verdict on each file, in order (one process for all of them)."""
    if not files:
        return []
    done = subprocess.run(
        [str(binary), "--model", model, "--timeout", str(timeout_s), *map(str, files)],
        capture_output=True, text=True, check=False,
        timeout=60 + timeout_s * len(files),
    )  # fmt: skip
    if done.returncode not in (0, 1, 2, 3):
        raise OracleUnavailable(f"the oracle exited {done.returncode}: {done.stderr.strip()}")
    out = []
    for line in done.stdout.splitlines():
        path, verdict, ops, ms = line.rsplit("\t", 3)
        assert verdict in ("Ok", "Illegal", "Unknown", "Error"), line
        out.append(OracleResult(path, verdict, int(ops), float(ms)))  # type: ignore[arg-type]
    if len(out) != len(files):
        raise OracleUnavailable(f"the oracle answered {len(out)} of {len(files)} files")
    return out
