"""The real Porcupine (Go), wrapped as a command, as an oracle for `check`.

``shared/tools/porcupine-oracle`` holds the wrapper; its ``build.sh`` builds it offline with
Go (Debian's golang-go) and prints the binary's path. The oracle reads the same history files
and prints, per file, Porcupine's verdict and its check time in milliseconds (parsing
excluded): the benchmark compares speed with it in the same run, and the differential tests
compare verdicts. ``PORCUPINE_ORACLE`` names a binary to use instead of building one.

The oracle reads the lab's JSONL as it was before compare failures were recorded as ``ok``
observations (`lab.history.op.COMPARE_FAILED`). `run_oracle` hands it such files in the form
it knows: a copy where each compare failure is a ``fail`` cas, read with ``--cas-fail
observe`` (Porcupine's own reading of Jepsen's etcd logs), and where the real fails, which did
not happen, are left out.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from lab.history.jsonl import op_to_dict, read_jsonl
from lab.history.op import Op, Process

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
    """Porcupine's verdict on each file, in order (one process for the files it reads as they
    are, one for those with compare failures, rewritten as the module docstring says)."""
    with tempfile.TemporaryDirectory(prefix="oracle-") as tmp:
        rewritten = {i: observing_copy(p, Path(tmp) / f"{i}.jsonl") for i, p in enumerate(files)}
        plain = [i for i, r in rewritten.items() if r is None]
        observe = [i for i, r in rewritten.items() if r is not None]
        answers: dict[int, OracleResult] = {}
        for group, paths, cas_fail in (
            (plain, [files[i] for i in plain], "auto"),
            (observe, [rewritten[i] for i in observe], "observe"),
        ):
            got = _run(binary, [p for p in paths if p is not None], timeout_s, model, cas_fail)
            for i, answer in zip(group, got, strict=True):
                answers[i] = OracleResult(str(files[i]), answer.verdict, answer.ops, answer.ms)
    return [answers[i] for i in range(len(files))]


def observing_copy(path: Path, out: Path) -> Path | None:
    """``path`` rewritten for ``--cas-fail observe`` at ``out``, when it is a lab JSONL history
    with compare failures or revisions (which the oracle does not know, and which go); else
    None (the oracle reads it as it is)."""
    if not path.name.endswith(".jsonl"):
        return None
    events = read_jsonl(path).events
    if not any(
        e.revision is not None or (e.type == "ok" and e.outcome == "compare_failed") for e in events
    ):
        return None
    kept: list[Op | None] = []
    open_: dict[Process, int] = {}
    for e in events:
        if e.is_nemesis:
            kept.append(e)
        elif e.type == "invoke":
            open_[e.process] = len(kept)
            kept.append(e)
        elif e.type == "fail":  # it did not happen: leave out its invoke too
            at = open_.pop(e.process, None)
            if at is not None:
                kept[at] = None
        else:  # the oracle predates revisions: they go
            open_.pop(e.process, None)
            observed = e.outcome == "compare_failed"
            kept.append(dataclasses.replace(e, type="fail" if observed else e.type, revision=None))
    with out.open("w", encoding="utf-8") as fh:
        for op in kept:
            if op is not None:
                fh.write(json.dumps(op_to_dict(op)) + "\n")
    return out


def _run(
    binary: Path, files: Sequence[Path], timeout_s: float, model: str, cas_fail: str
) -> list[OracleResult]:
    if not files:
        return []
    done = subprocess.run(
        [
            str(binary), "--model", model, "--timeout", str(timeout_s),
            "--cas-fail", cas_fail, *map(str, files),
        ],
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
