"""What the LMDB storage raises, besides the contract's ``Compacted`` and ``Unavailable``.

::

    StorageError                  (aspen.raft.errors)
    ├── Compacted / Unavailable   the Storage contract's own
    ├── StorageFullError          map or disk full: the write was refused, reads still work (507)
    ├── StorageIOError            any other LMDB or disk failure while running
    └── DataDirError              the data directory cannot be opened; the message is one line
        ├── StorageCorruptError   not an LMDB environment, unreadable, unknown format version
        └── ForeignDataDirError   another node's or cluster's data, or another program's files

Every ``lmdb.Error`` is translated into one of these where LmdbStorage calls LMDB.
"""

from __future__ import annotations

import errno
import os

import lmdb

from aspen.raft.errors import StorageError


class StorageFullError(StorageError):
    """The LMDB map or the disk is full. The write was rolled back; reads keep working."""


class StorageIOError(StorageError):
    """LMDB or the disk failed in a way that is neither "full" nor a bad data directory."""


class DataDirError(StorageError):
    """The data directory cannot be used; ``str(e)`` is one line naming the path and why."""


class StorageCorruptError(DataDirError):
    """The directory holds something unreadable: not LMDB, damaged, or an unknown format."""


class ForeignDataDirError(DataDirError):
    """The directory belongs to another node, another cluster, or another program."""


_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_FULL_REASONS = tuple(os.strerror(n) for n in _FULL_ERRNOS)


def _is_full(e: lmdb.Error) -> bool:
    # The C extension's exceptions carry no errno (the cffi ones have ``code``): match both.
    code = getattr(e, "code", None)
    return code in _FULL_ERRNOS or any(r in str(e) for r in _FULL_REASONS)


def translate(e: lmdb.Error, what: str) -> StorageError:
    """The Aspen error for an ``lmdb.Error`` raised while doing ``what``."""
    if isinstance(e, lmdb.MapFullError):
        return StorageFullError(f"{what}: LMDB map is full (raise map_size or compact)")
    if isinstance(e, lmdb.DiskError) or _is_full(e):
        return StorageFullError(f"{what}: disk full ({e})")
    if isinstance(e, lmdb.CorruptedError | lmdb.PageNotFoundError | lmdb.InvalidError):
        return StorageCorruptError(f"{what}: data file is damaged ({e})")
    return StorageIOError(f"{what}: {e}")
