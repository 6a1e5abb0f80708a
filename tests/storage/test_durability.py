"""What ``persist`` returned is on disk even if the process dies the next instant (SIGKILL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from aspen.raft.messages import Entry, HardState
from aspen.storage import LmdbStorage

REPO = Path(__file__).resolve().parents[2]

WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from aspen.raft.messages import Entry, HardState
    from aspen.storage import LmdbStorage

    path, rounds, batch, suicide = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    s = LmdbStorage(path, 1, 64 << 20, fsync="always")
    index = 0
    for r in range(rounds):
        ents = [Entry(1 + r, index + i + 1, data=os.urandom(100)) for i in range(batch)]
        s.persist(HardState(1 + r, 1, index), ents)
        index += batch
        if suicide == "yes" and r == rounds - 1:
            os.kill(os.getpid(), signal.SIGKILL)  # no close, no atexit, no flush
        print(index, flush=True)
    sys.stdin.read()  # wait to be killed
    """
)


def start_writer(path: Path, rounds: int, batch: int, suicide: bool) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            WRITER,
            str(path),
            str(rounds),
            str(batch),
            "yes" if suicide else "no",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )


def check_log(path: Path, at_least: int) -> None:
    with LmdbStorage(path, 1, 64 << 20) as s:
        last = s.last_index()
        assert last >= at_least
        ents = s.entries(1, last + 1)
        assert [e.index for e in ents] == list(range(1, last + 1))
        assert all(len(e.data) == 100 for e in ents)
        hs = s.initial_state()[0]
        assert hs.term == ents[-1].term  # hard state and entries were one commit


def test_sigkill_right_after_persist_returns_loses_nothing(tmp_path: Path) -> None:
    proc = start_writer(tmp_path / "node", rounds=20, batch=8, suicide=True)
    try:
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert out.split()[-1] == str(19 * 8)  # the last round never got to print
    check_log(tmp_path / "node", at_least=20 * 8)


def test_sigkill_while_persisting_keeps_every_acknowledged_entry(tmp_path: Path) -> None:
    proc = start_writer(tmp_path / "node", rounds=10_000, batch=4, suicide=False)
    acknowledged = 0
    try:
        assert proc.stdout is not None
        while acknowledged < 200:
            line = proc.stdout.readline()
            assert line, "writer died"
            acknowledged = int(line)
        proc.send_signal(signal.SIGKILL)  # while it keeps writing
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        if proc.stdin is not None:
            proc.stdin.close()
    check_log(tmp_path / "node", at_least=acknowledged)


def test_a_clean_close_and_reopen_keeps_everything(tmp_path: Path) -> None:
    with LmdbStorage(tmp_path / "node", 1, 64 << 20) as s:
        s.persist(HardState(1, 1, 0), [Entry(1, i, data=b"x" * 100) for i in range(1, 9)])
    check_log(tmp_path / "node", at_least=8)
