"""LmdbStorage against the contract tests of tests/raft/test_storage_contract.py.

The contract module's tests are imported here and run with this module's ``storage`` fixture:
once on a plain LmdbStorage, and once through a wrapper that closes and reopens the environment
after every write, so every answer must come from what was committed to disk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aspen.storage import LmdbStorage
from tests.raft.test_storage_contract import *  # noqa: F403  (the contract tests themselves)

WRITES = {
    "set_hard_state",
    "set_conf_state",
    "append",
    "apply_snapshot",
    "create_snapshot",
    "compact",
}


class ReopenAfterWrites:
    """Forwards to an LmdbStorage, closing and reopening it after each write method."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.inner = LmdbStorage(path, node_id=1, map_size=16 << 20)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name not in WRITES:
            return attr

        def write_then_reopen(*args: Any, **kwargs: Any) -> Any:
            try:
                return attr(*args, **kwargs)
            finally:
                self.inner.close()
                self.inner = LmdbStorage(self.path, node_id=1, map_size=16 << 20)

        return write_then_reopen

    def close(self) -> None:
        self.inner.close()


FACTORIES: dict[str, Callable[[Path], Any]] = {
    "lmdb": lambda p: LmdbStorage(p, node_id=1, map_size=16 << 20),
    "lmdb-reopened": ReopenAfterWrites,
}


@pytest.fixture(params=sorted(FACTORIES))  # type: ignore[no-redef]  # replaces the contract's
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    s = FACTORIES[request.param](tmp_path / "node")
    yield s
    s.close()
