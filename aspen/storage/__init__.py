"""A node's stable storage in LMDB: the Raft log, hard state, snapshots and the KV state machine."""

from aspen.storage.errors import (
    DataDirError,
    ForeignDataDirError,
    StorageCorruptError,
    StorageFullError,
    StorageIOError,
)
from aspen.storage.lmdb import DEFAULT_MAP_SIZE, FsyncMode, LmdbStorage

__all__ = [
    "DEFAULT_MAP_SIZE",
    "DataDirError",
    "ForeignDataDirError",
    "FsyncMode",
    "LmdbStorage",
    "StorageCorruptError",
    "StorageFullError",
    "StorageIOError",
]
