"""A lock shared by every process on this machine, by name: a ``flock`` on a file in the
temporary directory (image builds, the swarm a run joins or leaves, Docker tests)."""

from __future__ import annotations

import fcntl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def machine_lock(name: str) -> Iterator[None]:
    """Hold the lock ``name`` (a file name in the temporary directory) for the block."""
    with (Path(tempfile.gettempdir()) / name).open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
