"""``aspen-node verify``: is a (stopped) node's data directory consistent? Read-only.

What must hold, checked in this order, the first failure named in one line:

* the environment opens and holds Aspen's databases, format record and node id;
* the log is contiguous from ``log_start + 1`` to its last index, terms never decrease, and
  every entry's kind is known;
* ``snapshot index <= applied <= commit`` and ``applied <= last index`` (an entry is applied only
  once it is in the log and committed), and the log still holds every entry after the snapshot;
* the snapshot image decodes and is at its recorded index;
* THE CHECKSUM: replaying the log entries ``(snapshot, applied]`` onto the snapshot image gives
  a state machine whose SHA-256 equals that of the state machine on disk. A damaged value, a
  lost or extra key, or an applied index that does not match the state all show up here.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import lmdb
import msgpack

from aspen.errors import AspenError, ProtocolError
from aspen.kv.commands import decode
from aspen.kv.state_machine import MemoryKV, encode_snapshot
from aspen.raft.messages import EntryKind
from aspen.storage import layout as L
from aspen.storage.datadir import lock_dir
from aspen.storage.errors import DataDirError
from aspen.storage.lmdb import read_image


class VerifyError(AspenError):
    """The data directory is inconsistent; ``str(e)`` is one line naming the problem."""


@dataclass(frozen=True, slots=True)
class VerifyReport:
    node_id: int
    applied: int
    commit: int
    first_index: int
    last_index: int
    snapshot_index: int
    keys: int
    sha256: str
    """Of the state machine at ``applied`` (as a sorted snapshot image)."""

    def line(self) -> str:
        return (
            f"ok: node {self.node_id}, log {self.first_index}..{self.last_index}, snapshot "
            f"{self.snapshot_index}, applied {self.applied}, commit {self.commit}, "
            f"{self.keys} keys, state sha256 {self.sha256}"
        )


def state_digest(applied: int, pairs: Iterable[tuple[str, str]]) -> str:
    return hashlib.sha256(encode_snapshot(applied, pairs)).hexdigest()


def verify(path: Path) -> VerifyReport:
    """Check the data directory at ``path``; raises :class:`VerifyError` naming the problem."""
    if not (path / "data.mdb").is_file():
        raise VerifyError(f"{path}: no data.mdb (not a data directory)")
    try:
        lock = lock_dir(path)  # held throughout: no node may start on it meanwhile
    except DataDirError as e:
        raise VerifyError(f"{e} (stop the node first)") from None
    try:
        return _verify_env(path)
    finally:
        os.close(lock)


def _verify_env(path: Path) -> VerifyReport:
    try:
        env = lmdb.open(str(path), readonly=True, lock=False, max_dbs=len(L.DATABASES), subdir=True)
    except lmdb.Error as e:
        raise VerifyError(f"{path}: not a readable LMDB environment ({e})") from None
    try:
        # LMDB maps the file: reading a page past its end is a SIGBUS, not an error.
        need = (int(env.info()["last_pgno"]) + 1) * int(env.stat()["psize"])
        size = (path / "data.mdb").stat().st_size
        if size < need:
            raise VerifyError(f"{path}: data file truncated ({size} of {need} bytes)")
        with env.begin() as txn:
            return _verify(env, txn)
    except lmdb.Error as e:
        raise VerifyError(f"{path}: data file is damaged ({e})") from None
    finally:
        env.close()


def _verify(env: lmdb.Environment, txn: lmdb.Transaction[bytes]) -> VerifyReport:
    try:
        log_db, meta, snap_db, kv_db, applied_db = (
            env.open_db(name, txn=txn, create=False) for name in L.DATABASES
        )
    except lmdb.NotFoundError:
        raise VerifyError("Aspen databases are missing") from None
    fmt, node = txn.get(L.META_FORMAT, db=meta), txn.get(L.META_NODE_ID, db=meta)
    if fmt is None or len(fmt) != 4 or L.read_u32(fmt) != L.FORMAT_VERSION:
        raise VerifyError("no valid format record")
    if node is None or len(node) != 8:
        raise VerifyError("no node id record")
    try:
        hs = L.read_hard_state(txn.get(L.META_HARD_STATE, db=meta))
        start, start_term = L.read_log_start(txn.get(L.META_LOG_START, db=meta))
        snap = L.read_snapshot_meta(txn.get(L.META_SNAPSHOT, db=meta))
        applied_raw = txn.get(L.APPLIED_INDEX, default=L.u64(0), db=applied_db)
        applied = L.read_u64(applied_raw)
    except (ValueError, TypeError, msgpack.ExtraData) as err:
        raise VerifyError(f"damaged metadata record ({err!r})") from None

    # the log
    last, term = start, start_term
    entries = {}
    for key, value in txn.cursor(db=log_db):
        if len(key) != 8 or len(value) < 9:
            raise VerifyError(f"log record {key.hex()} is malformed")
        index = L.read_u64(key)
        if index != last + 1:
            raise VerifyError(f"log has a gap: entry {index} follows {last}")
        if value[8] >= len(EntryKind):
            raise VerifyError(f"log entry {index} has an unknown kind {value[8]}")
        entry = L.read_entry(index, value)
        if entry.term < term:
            raise VerifyError(f"log entry {index} has term {entry.term} after term {term}")
        last, term = index, entry.term
        if snap.index < index <= applied:
            entries[index] = entry

    # the indexes
    if applied > hs.commit:
        raise VerifyError(f"applied index {applied} is past the commit index {hs.commit}")
    if applied > last:
        raise VerifyError(f"applied index {applied} is past the last log index {last}")
    if snap.index > applied:
        raise VerifyError(f"snapshot index {snap.index} is past the applied index {applied}")
    if start > snap.index:
        raise VerifyError(f"log starts after {start} but the snapshot is at {snap.index}")

    # the snapshot image, replayed up to applied
    expected = MemoryKV()
    if snap.index:
        image = read_image(txn, snap_db)
        if not image:
            raise VerifyError(f"snapshot {snap.index} has no image")
        try:
            expected.restore(image)
        except ProtocolError as err:
            raise VerifyError(f"snapshot image unreadable: {err}") from None
        if expected.applied != snap.index:
            raise VerifyError(f"snapshot image is at {expected.applied}, meta at {snap.index}")
    for index in range(snap.index + 1, applied + 1):
        entry = entries[index]
        if entry.kind is EntryKind.NORMAL and entry.data:
            try:
                expected.apply(index, decode(entry.data))
            except ProtocolError:
                expected.mark_applied(index)  # skipped on every replica alike
        else:
            expected.mark_applied(index)

    # the state machine on disk, against the replay
    actual: list[tuple[str, str]] = []
    for stored, value in txn.cursor(db=kv_db):
        if not stored.startswith(L.KV_PREFIX):
            raise VerifyError(f"state record {stored[:40]!r} has no key prefix")
        try:
            kb, vb = L.split_stored(stored, value)
            actual.append((kb.decode(), vb.decode()))
        except (UnicodeDecodeError, ValueError) as err:
            raise VerifyError(f"state record {stored[:40]!r} is damaged ({err})") from None
    digest = state_digest(applied, actual)
    if digest != state_digest(applied, expected.data.items()):
        theirs = dict(actual)
        diff = sorted(set(theirs.items()) ^ set(expected.data.items()))
        first = diff[0][0] if diff else "?"
        raise VerifyError(
            f"state checksum mismatch at applied {applied}: the state machine differs from "
            f"snapshot {snap.index} + log replay (first differing key {first[:60]!r})"
        )
    return VerifyReport(
        node_id=L.read_u64(node),
        applied=applied,
        commit=hs.commit,
        first_index=start + 1,
        last_index=last,
        snapshot_index=snap.index,
        keys=len(actual),
        sha256=digest,
    )


__all__ = ["VerifyError", "VerifyReport", "state_digest", "verify"]
