"""The storage a node runs on, and how it is opened from the configuration."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from aspen.config import NodeConfig
from aspen.errors import AspenError
from aspen.kv.commands import CommandResult
from aspen.raft.messages import ConfState, Entry, HardState, Snapshot
from aspen.raft.storage import Storage
from aspen.storage.space import MapUsage


class StorageOpenError(AspenError):
    """The data directory cannot be used (corrupt, foreign, unreadable): one line says why."""


class NodeStorage(Protocol):
    """Everything the driver, the service and the core need from a node's storage."""

    @property
    def raft_view(self) -> Storage: ...

    def write_ready(
        self,
        hard_state: HardState | None,
        entries: Sequence[Entry],
        snapshot: Snapshot | None,
        committed: Sequence[Entry],
        conf_state: ConfState | None,
    ) -> list[CommandResult | None]: ...

    def applied_index(self) -> int: ...

    def first_index(self) -> int: ...

    def last_index(self) -> int: ...

    def snapshot_image(self) -> tuple[int, ConfState, bytes]: ...

    def create_snapshot(self, index: int, conf_state: ConfState, data: bytes) -> Snapshot: ...

    def compact(self, index: int) -> None: ...

    def get(self, key: str) -> str | None: ...

    def read(self, key: str) -> tuple[str | None, int]:
        """``key``'s value and the applied index of the state it was read from, in one view
        (entries are applied in the storage thread while the loop serves reads, so asking
        for the two apart could pair a value with another index)."""
        ...

    def scan(
        self, prefix: str, limit: int, start_after: str = ""
    ) -> tuple[list[tuple[str, str]], bool]: ...

    def conf_state(self) -> ConfState: ...

    def size_bytes(self) -> int: ...

    def used_fraction(self) -> float: ...

    def usage(self) -> MapUsage:
        """The map's live pages now (see :mod:`aspen.storage.space`)."""
        ...

    def close(self) -> None: ...


def open_storage(config: NodeConfig) -> NodeStorage:
    """LMDB with a durable commit per Ready; ``fsync never`` is the UNSAFE volatile mode."""
    if config.fsync == "never":
        from aspen.node.volatile import VolatileStorage

        return VolatileStorage(config.data_dir)
    from aspen.storage.errors import DataDirError
    from aspen.storage.lmdb import LmdbStorage

    try:
        return LmdbStorage(
            config.data_dir,
            config.node_id,
            map_size=config.map_size,
            fsync="always",
            cluster_id=config.cluster_id or None,
        )
    except DataDirError as e:
        raise StorageOpenError(str(e)) from None
