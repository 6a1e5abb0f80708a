"""Opening a node's data directory: lock it, open the LMDB environment, check whose it is.

A directory is refused with a one-line :class:`~aspen.storage.errors.DataDirError` when it is not
a directory, holds other files and no LMDB data, holds an LMDB environment that is damaged or not
Aspen's, records an unknown format version, another node's id or another cluster's id, or is
already open (``flock`` on ``aspen.lock``: in this process or another).
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path
from typing import Literal

import lmdb

from aspen.storage import layout as L
from aspen.storage.errors import DataDirError, ForeignDataDirError, StorageCorruptError

FsyncMode = Literal["always", "never"]
LOCK_FILE = "aspen.lock"
"""Held with ``flock`` while the storage is open: one process, one opener per directory."""
_LMDB_FILES = {"data.mdb", "lock.mdb"}


def lock_dir(path: Path) -> int:
    """Create ``path`` if needed and take its lock file; the fd holds the lock."""
    if path.exists() and not path.is_dir():
        raise ForeignDataDirError(f"{path}: not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as e:
        raise DataDirError(f"{path}: cannot use the directory: {e.strerror or e}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        os.close(fd)
        if e.errno in (errno.EWOULDBLOCK, errno.EACCES):
            raise DataDirError(f"{path}: already in use by another storage or process") from None
        raise DataDirError(f"{path}: cannot lock the directory: {e.strerror or e}") from None
    return fd


def open_env(
    path: Path, node_id: int, map_size: int, fsync: FsyncMode, cluster_id: str | None
) -> tuple[lmdb.Environment, tuple[lmdb._Database, ...], str | None]:
    present = set(os.listdir(path)) - {LOCK_FILE}
    fresh = "data.mdb" not in present
    if fresh and present - _LMDB_FILES:
        shown = ", ".join(sorted(present)[:3])
        raise ForeignDataDirError(f"{path}: not an Aspen data directory (holds {shown})")
    try:
        env = lmdb.open(
            str(path),
            map_size=map_size,
            subdir=True,
            max_dbs=len(L.DATABASES),
            sync=fsync == "always",
            metasync=fsync == "always",
            readahead=False,
            max_spare_txns=1,
        )
    except lmdb.Error as e:
        raise StorageCorruptError(f"{path}: not a readable LMDB environment ({e})") from None
    try:
        return (env, *_check_or_init(env, path, node_id, cluster_id))
    except BaseException:
        env.close()
        raise


def _check_or_init(
    env: lmdb.Environment, path: Path, node_id: int, cluster_id: str | None
) -> tuple[tuple[lmdb._Database, ...], str | None]:
    try:
        with env.begin() as txn:
            names = {k for k, _ in txn.cursor()}
        if not names:
            return _init(env, node_id, cluster_id), cluster_id
        if not names <= set(L.DATABASES):
            raise ForeignDataDirError(f"{path}: an LMDB environment that is not Aspen's")
        # A handle opened in a transaction lives on only if that transaction commits.
        with env.begin(write=True) as txn:
            dbs = tuple(env.open_db(name, txn=txn, create=False) for name in L.DATABASES)
            meta = dbs[1]
            fmt = txn.get(L.META_FORMAT, db=meta)
            recorded_node = txn.get(L.META_NODE_ID, db=meta)
            recorded_cluster = txn.get(L.META_CLUSTER_ID, db=meta)
    except lmdb.NotFoundError:
        raise StorageCorruptError(f"{path}: Aspen databases are missing") from None
    except lmdb.IncompatibleError:
        raise ForeignDataDirError(f"{path}: an LMDB environment that is not Aspen's") from None
    except lmdb.Error as e:
        raise StorageCorruptError(f"{path}: unreadable ({e})") from None
    if fmt is None or len(fmt) != 4 or recorded_node is None or len(recorded_node) != 8:
        raise StorageCorruptError(f"{path}: no valid format record")
    if L.read_u32(fmt) != L.FORMAT_VERSION:
        raise StorageCorruptError(
            f"{path}: data format version {L.read_u32(fmt)}; this build reads version "
            f"{L.FORMAT_VERSION}"
        )
    if L.read_u64(recorded_node) != node_id:
        raise ForeignDataDirError(
            f"{path}: holds node {L.read_u64(recorded_node)}'s data, not node {node_id}'s"
        )
    recorded = None if recorded_cluster is None else recorded_cluster.decode()
    if cluster_id and recorded and cluster_id != recorded:
        raise ForeignDataDirError(f"{path}: holds data of cluster {recorded!r}, not {cluster_id!r}")
    if cluster_id and not recorded:
        with env.begin(write=True) as txn:
            txn.put(L.META_CLUSTER_ID, cluster_id.encode(), db=dbs[1])
        recorded = cluster_id
    return dbs, recorded


def _init(
    env: lmdb.Environment, node_id: int, cluster_id: str | None
) -> tuple[lmdb._Database, ...]:
    with env.begin(write=True) as txn:
        dbs = tuple(env.open_db(name, txn=txn) for name in L.DATABASES)
        meta = dbs[1]
        txn.put(L.META_FORMAT, L.u32(L.FORMAT_VERSION), db=meta)
        txn.put(L.META_NODE_ID, L.u64(node_id), db=meta)
        if cluster_id:
            txn.put(L.META_CLUSTER_ID, cluster_id.encode(), db=meta)
    return dbs
