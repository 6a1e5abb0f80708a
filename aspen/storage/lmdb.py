"""A node's stable storage in one LMDB environment: Raft log, hard state, and the KV state machine.

:class:`LmdbStorage` is at once

* the core's read-only :class:`aspen.raft.storage.Storage` (it passes the same contract tests
  as ``MemoryStorage``, and has ``MemoryStorage``'s write side with the same semantics), and
* the node's storage: ``write_ready`` makes one Ready durable and applies its committed entries
  in ONE write transaction (group commit: one fsync per Ready, however many proposals it holds),
  ``get``/``scan`` serve reads, ``snapshot_image``/``create_snapshot``/``compact`` bound the log.

Every method runs in its own LMDB transaction, so a reader on one thread (the core, the HTTP
handlers) sees either all or none of a write committed by another (the driver's storage thread).
Writes are serialized by a lock. Nothing is cached in Python: bounds, hard state and applied
index are read from the same transaction as the data they describe.

Durability: with ``fsync="always"`` every commit is fsynced before it returns. ``"never"`` opens
the environment with ``sync=False, metasync=False``: commits still reach the OS at once, so a
killed process loses nothing, but a crash of the machine may lose the last commits.

The layout of keys and values is in :mod:`aspen.storage.layout`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import lmdb

from aspen.errors import ProtocolError
from aspen.kv import commands
from aspen.kv.commands import Command, CommandResult
from aspen.kv.state_machine import decode_snapshot, encode_snapshot, execute
from aspen.raft.errors import Compacted, InvariantViolation, StorageError, Unavailable
from aspen.raft.messages import ConfState, Entry, EntryKind, HardState, Snapshot, SnapshotMeta
from aspen.storage import layout as L
from aspen.storage.datadir import FsyncMode, lock_dir, open_env
from aspen.storage.errors import StorageFullError, translate
from aspen.storage.space import Headroom, MapUsage

log = logging.getLogger(__name__)

DEFAULT_MAP_SIZE = 1 << 30


class _TxnKV:
    """The state machine as seen from one write transaction (a ``KVView``)."""

    __slots__ = ("_db", "_txn")

    def __init__(self, txn: lmdb.Transaction[bytes], db: lmdb._Database) -> None:
        self._txn = txn
        self._db = db

    def get(self, key: str) -> str | None:
        stored = L.stored_key(key.encode())
        vb = L.value_for(stored, self._txn.get(stored, db=self._db))
        return None if vb is None else vb.decode()

    def put(self, key: str, value: str) -> None:
        kb = key.encode()
        self._txn.put(L.stored_key(kb), L.stored_value(kb, value.encode()), db=self._db)

    def delete(self, key: str) -> None:
        self._txn.delete(L.stored_key(key.encode()), db=self._db)


class _Txn:
    """A transaction as a context manager (cheaper than ``contextlib``'s, on the hot path):
    commits on success, aborts on an exception, and translates every ``lmdb.Error``.
    A write transaction (``wlock`` given) holds the lock from start to end.
    """

    __slots__ = ("_env", "_txn", "_what", "_wlock")

    def __init__(self, env: lmdb.Environment, what: str, wlock: threading.Lock | None) -> None:
        self._env = env
        self._what = what
        self._wlock = wlock

    def __enter__(self) -> lmdb.Transaction[bytes]:
        wlock = self._wlock
        if wlock is None:
            try:
                self._txn = self._env.begin()
            except lmdb.Error as e:
                raise translate(e, self._what) from None
            return self._txn
        wlock.acquire()
        try:
            self._txn = self._env.begin(write=True)
        except lmdb.Error as e:
            wlock.release()
            raise translate(e, self._what) from None
        except BaseException:
            wlock.release()
            raise
        return self._txn

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        try:
            if kind is None:
                self._txn.commit()
            else:
                self._txn.abort()
        except lmdb.Error as e:
            raise translate(e, self._what) from None
        finally:
            if self._wlock is not None:
                self._wlock.release()
        if isinstance(exc, lmdb.Error):
            raise translate(exc, self._what) from None


class LmdbStorage:
    """Stable storage for node ``node_id`` in the LMDB environment at ``path``.

    Opening refuses, with a one-line :class:`DataDirError`, a path that is not a directory, a
    directory holding other files and no LMDB data, an LMDB environment that is damaged or not
    Aspen's, an unknown format version, another node's data, or (when ``cluster_id`` is given
    and one is recorded) another cluster's. A directory already open (in this process or
    another) is refused too.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        node_id: int,
        map_size: int = DEFAULT_MAP_SIZE,
        fsync: FsyncMode = "always",
        *,
        cluster_id: str | None = None,
    ) -> None:
        if fsync not in ("always", "never"):
            raise ValueError(f"fsync must be 'always' or 'never', not {fsync!r}")
        if node_id <= 0:
            raise ValueError(f"node ids are positive, not {node_id}")
        self.path = Path(path)
        self.node_id = node_id
        self.fsync: FsyncMode = fsync
        self._wlock = threading.Lock()
        self._lock_fd = lock_dir(self.path)
        try:
            self._env, self._dbs, self.cluster_id = open_env(
                self.path, node_id, map_size, fsync, cluster_id
            )
        except BaseException:
            os.close(self._lock_fd)
            raise
        self._log, self._meta, self._snap, self._kv, self._applied = self._dbs
        self._closed = False
        self.floor_bytes = Headroom.for_map(map_size).reserve_bytes // 4
        """A Ready that adds entries or applies them must leave this much of the map free, so
        that what frees space (hard-state updates, compaction, installing a smaller snapshot)
        can always commit: a map filled to the last page could never be emptied again."""

    def close(self) -> None:
        """Close the environment and release the directory; idempotent."""
        if self._closed:
            return
        self._closed = True
        with self._wlock:
            self._env.close()
            os.close(self._lock_fd)

    def __enter__(self) -> LmdbStorage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def raft_view(self) -> LmdbStorage:
        """The core's read-only view: this object (every read is its own transaction)."""
        return self

    # --- transactions --------------------------------------------------------------------------

    def _reading(self, what: str) -> _Txn:
        """``with self._reading(what) as txn``: one read transaction, lmdb errors translated."""
        return _Txn(self._env, what, None)

    def _writing(self, what: str) -> _Txn:
        """One write transaction: committed on success, rolled back on any exception."""
        return _Txn(self._env, what, self._wlock)

    # --- read side: the Storage protocol -------------------------------------------------------

    def initial_state(self) -> tuple[HardState, ConfState]:
        with self._reading("read initial state") as txn:
            hs = L.read_hard_state(txn.get(L.META_HARD_STATE, db=self._meta))
            cs = L.read_conf_state(txn.get(L.APPLIED_CONF, db=self._applied))
        return hs, cs

    def entries(self, lo: int, hi: int, max_bytes: int | None = None) -> list[Entry]:
        with self._reading("read entries") as txn:
            start, _ = self._log_start(txn)
            if lo <= start:
                raise Compacted(f"index {lo} compacted (first is {start + 1})")
            last = self._last_index(txn, start)
            if hi > last + 1:
                raise Unavailable(f"index {hi - 1} beyond last {last}")
            out: list[Entry] = []
            if lo >= hi:
                return out
            total = 0
            cur = txn.cursor(db=self._log)
            if not cur.set_key(L.index_key(lo)):
                raise InvariantViolation(f"log entry {lo} missing inside the log's bounds")
            index = lo
            for value in cur.iternext(keys=False):
                e = L.read_entry(index, value)
                total += e.size()
                if max_bytes is not None and total > max_bytes and out:
                    break
                out.append(e)
                index += 1
                if index == hi:
                    break
            return out

    # The three below are the core's hot path: the transaction is opened inline rather than
    # through ``_reading``, which costs a few microseconds per call.

    def term(self, index: int) -> int:
        try:
            with self._env.begin() as txn:
                value = txn.get(L.index_key(index), db=self._log)
                if value is not None:
                    return L.entry_term(value)
                start, start_term = self._log_start(txn)
                if index == start:
                    return start_term
                if index < start:
                    raise Compacted(f"index {index} compacted (first is {start + 1})")
                raise Unavailable(f"index {index} beyond last {self._last_index(txn, start)}")
        except lmdb.Error as e:
            raise translate(e, "read term") from None

    def first_index(self) -> int:
        try:
            with self._env.begin() as txn:
                return self._log_start(txn)[0] + 1
        except lmdb.Error as e:
            raise translate(e, "read first index") from None

    def last_index(self) -> int:
        try:
            with self._env.begin() as txn:
                cur = txn.cursor(db=self._log)
                if cur.last():
                    return L.read_u64(cur.key())
                return self._log_start(txn)[0]
        except lmdb.Error as e:
            raise translate(e, "read last index") from None

    def snapshot(self) -> Snapshot:
        with self._reading("read snapshot") as txn:
            return self._snapshot(txn)

    def _log_start(self, txn: lmdb.Transaction[bytes]) -> tuple[int, int]:
        return L.read_log_start(txn.get(L.META_LOG_START, db=self._meta))

    def _last_index(self, txn: lmdb.Transaction[bytes], start: int) -> int:
        cur = txn.cursor(db=self._log)
        return L.read_u64(cur.key()) if cur.last() else start

    def _snapshot(self, txn: lmdb.Transaction[bytes]) -> Snapshot:
        meta = L.read_snapshot_meta(txn.get(L.META_SNAPSHOT, db=self._meta))
        if meta.index == 0:
            return Snapshot()
        return Snapshot(meta, read_image(txn, self._snap))

    # --- write side: MemoryStorage's, one transaction each --------------------------------------

    def set_hard_state(self, hs: HardState) -> None:
        with self._writing("save hard state") as txn:
            txn.put(L.META_HARD_STATE, L.hard_state_value(hs), db=self._meta)

    def set_conf_state(self, cs: ConfState) -> None:
        """Record the configuration the applied entries produced (reported by initial_state)."""
        with self._writing("save conf state") as txn:
            txn.put(L.APPLIED_CONF, L.conf_state_value(cs), db=self._applied)

    def append(self, entries: Sequence[Entry]) -> None:
        """Append, replacing any existing entries from ``entries[0].index`` on."""
        with self._writing("append entries") as txn:
            self._append(txn, entries)

    def apply_snapshot(self, snap: Snapshot) -> None:
        """Replace the log with ``snap`` (entries after it are kept only if they agree).

        The state machine is not touched: see :meth:`persist` and :meth:`restore` for that.
        """
        with self._writing("install snapshot") as txn:
            self._apply_snapshot(txn, snap)

    def create_snapshot(self, index: int, conf_state: ConfState, data: bytes) -> Snapshot:
        """Record a state-machine image at ``index`` (which must be applied, hence in the log)."""
        self._release_freed("create snapshot")
        with self._writing("create snapshot") as txn:
            current = self._snapshot(txn)
            if index <= current.meta.index:
                return current
            start, start_term = self._log_start(txn)
            last = self._last_index(txn, start)
            if index > last:
                raise InvariantViolation(f"snapshot index {index} > last index {last}")
            if index < start:
                raise Compacted(f"index {index} compacted (first is {start + 1})")
            term = start_term if index == start else self._term_in(txn, index)
            snap = Snapshot(SnapshotMeta(index, term, conf_state), data)
            self._put_snapshot(txn, snap)
            return snap

    def _release_freed(self, what: str) -> None:
        """Commit a tiny transaction: LMDB reuses the pages a transaction freed only once a
        LATER one has committed, and a snapshot may need all the room there is."""
        with self._writing(what) as txn:
            txn.put(L.META_FORMAT, L.u32(L.FORMAT_VERSION), db=self._meta)

    def compact(self, index: int) -> None:
        """Discard entries up to and including ``index`` (must be covered by a snapshot)."""
        with self._writing("compact log") as txn:
            start, _ = self._log_start(txn)
            if index <= start:
                return
            last = self._last_index(txn, start)
            if index > last:
                raise InvariantViolation(f"compact {index} > last index {last}")
            term = self._term_in(txn, index)
            self._delete_through(txn, index)
            txn.put(L.META_LOG_START, L.log_start_value(index, term), db=self._meta)
        # LMDB reuses the pages a transaction freed only once a LATER transaction has committed
        # (readers may still see them): commit a tiny one so the space is usable right away.
        with self._writing("compact log") as txn:
            txn.put(L.META_LOG_START, L.log_start_value(index, term), db=self._meta)

    def _term_in(self, txn: lmdb.Transaction[bytes], index: int) -> int:
        value = txn.get(L.index_key(index), db=self._log)
        if value is None:
            raise InvariantViolation(f"log entry {index} missing inside the log's bounds")
        return L.entry_term(value)

    def _append(self, txn: lmdb.Transaction[bytes], entries: Sequence[Entry]) -> None:
        if not entries:
            return
        start, _ = self._log_start(txn)
        first = start + 1
        if entries[-1].index < first:
            return  # all already compacted
        if entries[0].index < first:
            entries = entries[first - entries[0].index :]
        at = entries[0].index
        last = self._last_index(txn, start)
        if at > last + 1:
            raise InvariantViolation(f"missing log entries: last {last}, appending at {at}")
        cur = txn.cursor(db=self._log)
        if at <= last and cur.set_key(L.index_key(at)):
            while cur.delete() and cur.key():  # delete [at, last]
                pass
        _, added = cur.putmulti(
            [(L.index_key(e.index), L.entry_value(e)) for e in entries], append=True
        )
        if added != len(entries):
            raise InvariantViolation(f"entries to append are not consecutive from {at}")

    def _delete_through(self, txn: lmdb.Transaction[bytes], index: int) -> None:
        """Delete log entries with index <= ``index``."""
        end = L.index_key(index)
        cur = txn.cursor(db=self._log)
        if not cur.first():
            return
        while cur.key() and cur.key() <= end:
            if not cur.delete():
                break

    def _apply_snapshot(self, txn: lmdb.Transaction[bytes], snap: Snapshot) -> bool:
        """The log side of installing ``snap``; False if it is not newer than the last one."""
        idx, term = snap.meta.index, snap.meta.term
        if idx <= self._snapshot(txn).meta.index:
            return False
        self._put_snapshot(txn, snap)
        txn.put(L.APPLIED_CONF, L.conf_state_value(snap.meta.conf_state), db=self._applied)
        start, _ = self._log_start(txn)
        value = txn.get(L.index_key(idx), db=self._log) if idx > start else None
        if value is not None and L.entry_term(value) == term:
            self._delete_through(txn, idx)  # the log agrees: keep what follows
        else:
            txn.drop(self._log, delete=False)
        txn.put(L.META_LOG_START, L.log_start_value(idx, term), db=self._meta)
        return True

    def _put_snapshot(self, txn: lmdb.Transaction[bytes], snap: Snapshot) -> None:
        txn.put(L.META_SNAPSHOT, L.snapshot_meta_value(snap.meta), db=self._meta)
        txn.drop(self._snap, delete=False)  # the previous image, whole or in chunks
        # in key order, appended: pages are filled, not split half-empty
        txn.cursor(db=self._snap).putmulti(L.image_chunks(snap.data), append=True)

    # --- the node's writes ---------------------------------------------------------------------

    def persist(
        self,
        hard_state: HardState | None,
        entries: Sequence[Entry],
        snapshot: Snapshot | None = None,
    ) -> None:
        """Make steps 2 of a Ready durable in ONE transaction (one fsync): snapshot, entries,
        hard state, in that order.

        A snapshot newer than the applied index also replaces the state machine in the same
        transaction, so a crash can never leave a log that starts after the applied index.
        """
        with self._writing("persist") as txn:
            installed = self._persist(txn, hard_state, entries, snapshot)
        if installed:
            self._release_installed("persist")

    def apply(
        self,
        entries: Sequence[Entry],
        decode: Callable[[bytes], Command] = commands.decode,
        conf_state: ConfState | None = None,
    ) -> list[CommandResult | None]:
        """Apply committed entries to the state machine and record the applied index (and
        ``conf_state`` if given) in ONE transaction.

        Entries at or below the applied index are skipped (an installed snapshot covered them);
        entries that hold no command (leader no-op, conf change) only advance the applied index
        and give None. A payload ``decode`` refuses is logged and skipped, as on every replica.
        """
        with self._writing("apply") as txn:
            results = self._apply(txn, entries, decode)
            if conf_state is not None:
                txn.put(L.APPLIED_CONF, L.conf_state_value(conf_state), db=self._applied)
            return results

    def write_ready(
        self,
        hard_state: HardState | None,
        entries: Sequence[Entry],
        snapshot: Snapshot | None,
        committed: Sequence[Entry],
        conf_state: ConfState | None,
    ) -> list[CommandResult | None]:
        """``persist`` then ``apply`` in ONE transaction: what the driver does per Ready."""
        with self._writing("write ready") as txn:
            installed = self._persist(txn, hard_state, entries, snapshot)
            results = self._apply(txn, committed, commands.decode)
            if conf_state is not None:
                txn.put(L.APPLIED_CONF, L.conf_state_value(conf_state), db=self._applied)
            if entries or committed:
                self._keep_floor(txn, "write ready")
        if installed:
            self._release_installed("write ready")
        return results

    def _release_installed(self, what: str) -> None:
        """After installing a snapshot, make the pages of the log, image and state it replaced
        usable by the very next write (see ``_release_freed``): on a map the old ones filled,
        that write could fail for want of the room the install just gave back. The install is
        already durable: should even this tiny commit find no room, the next write releases
        them as well."""
        with contextlib.suppress(StorageFullError):
            self._release_freed(what)

    def _keep_floor(self, txn: lmdb.Transaction[bytes], what: str) -> None:
        """Refuse (roll back) a transaction that would leave less than ``floor_bytes`` free."""
        psize = int(self._env.stat()["psize"])
        used = (3 + sum(_pages(txn.stat(db)) for db in self._dbs)) * psize
        free = int(self._env.info()["map_size"]) - used
        if free < self.floor_bytes:
            raise StorageFullError(
                f"{what}: LMDB map is full ({free >> 10} KiB would be left, "
                f"{self.floor_bytes >> 10} KiB are kept for compaction)"
            )

    def restore(self, snapshot: Snapshot) -> bool:
        """Replace the state machine, applied index and membership with ``snapshot``'s, in ONE
        transaction; False (and nothing changes) if the snapshot is not past the applied index.
        Raises ``ProtocolError`` if the image is not a valid snapshot image.
        """
        with self._writing("restore snapshot") as txn:
            return self._restore(txn, snapshot)

    def _persist(
        self,
        txn: lmdb.Transaction[bytes],
        hard_state: HardState | None,
        entries: Sequence[Entry],
        snapshot: Snapshot | None,
    ) -> bool:
        """Returns whether a snapshot was installed."""
        installed = False
        if snapshot is not None and not snapshot.empty:
            installed = self._apply_snapshot(txn, snapshot)
            self._restore(txn, snapshot)
        self._append(txn, entries)
        if hard_state is not None:
            txn.put(L.META_HARD_STATE, L.hard_state_value(hard_state), db=self._meta)
        return installed

    def _apply(
        self,
        txn: lmdb.Transaction[bytes],
        entries: Sequence[Entry],
        decode: Callable[[bytes], Command],
    ) -> list[CommandResult | None]:
        applied = L.read_u64(txn.get(L.APPLIED_INDEX, default=L.u64(0), db=self._applied))
        view = _TxnKV(txn, self._kv)
        results: list[CommandResult | None] = []
        for e in entries:
            if e.index <= applied:
                results.append(None)
                continue
            if e.index != applied + 1:
                raise InvariantViolation(f"applying entry {e.index} after {applied}: a gap")
            result = None
            if e.kind is EntryKind.NORMAL and e.data:
                try:
                    cmd = decode(e.data)
                except ProtocolError as err:  # same bytes on every replica: same no-op
                    log.error("entry %d holds no valid command (%s): skipped", e.index, err)
                else:
                    result = execute(view, cmd)
            results.append(result)
            applied = e.index
        txn.put(L.APPLIED_INDEX, L.u64(applied), db=self._applied)
        return results

    def _restore(self, txn: lmdb.Transaction[bytes], snapshot: Snapshot) -> bool:
        applied = L.read_u64(txn.get(L.APPLIED_INDEX, default=L.u64(0), db=self._applied))
        index = snapshot.meta.index
        if index <= applied:
            return False
        image_index, pairs = decode_snapshot(snapshot.data)
        if image_index != index:
            raise ProtocolError(
                f"snapshot image is at index {image_index}, its metadata at {index}"
            )
        txn.drop(self._kv, delete=False)
        put = txn.put
        kv = self._kv
        for key, value in pairs:
            kb = key.encode()
            put(L.stored_key(kb), L.stored_value(kb, value.encode()), db=kv)
        txn.put(L.APPLIED_INDEX, L.u64(index), db=self._applied)
        txn.put(L.APPLIED_CONF, L.conf_state_value(snapshot.meta.conf_state), db=self._applied)
        return True

    # --- state-machine reads -------------------------------------------------------------------

    def applied_index(self) -> int:
        with self._reading("read applied index") as txn:
            return L.read_u64(txn.get(L.APPLIED_INDEX, default=L.u64(0), db=self._applied))

    def conf_state(self) -> ConfState:
        """The membership as of the applied index."""
        with self._reading("read conf state") as txn:
            return L.read_conf_state(txn.get(L.APPLIED_CONF, db=self._applied))

    def hard_state(self) -> HardState:
        return self.initial_state()[0]

    def get(self, key: str) -> str | None:
        return self.read(key)[0]

    def read(self, key: str) -> tuple[str | None, int]:
        """The value and the applied index, from one read transaction (one snapshot)."""
        stored = L.stored_key(key.encode())
        with self._reading("read key") as txn:
            vb = L.value_for(stored, txn.get(stored, db=self._kv))
            applied = L.read_u64(txn.get(L.APPLIED_INDEX, default=L.u64(0), db=self._applied))
        return (None if vb is None else vb.decode()), applied

    def scan(
        self, prefix: str, limit: int, start_after: str = ""
    ) -> tuple[list[tuple[str, str]], bool]:
        """Up to ``limit`` pairs whose key starts with ``prefix`` and sorts after
        ``start_after``, in key order, from one read transaction; and whether more follow.
        """
        if limit < 0:
            raise ValueError("limit must not be negative")
        pb, ab = prefix.encode(), start_after.encode()
        head = L.KV_PREFIX + pb[: L.HEAD_BYTES]
        out: list[tuple[str, str]] = []
        with self._reading("scan keys") as txn:
            cur = txn.cursor(db=self._kv)
            if not cur.set_range(max(head, L.KV_PREFIX + ab[: L.HEAD_BYTES])):
                return out, False
            for kb, vb in _ordered_pairs(cur, head):
                if not kb.startswith(pb) or kb <= ab:
                    continue
                if len(out) == limit:
                    return out, True
                out.append((kb.decode(), vb.decode()))
        return out, False

    def snapshot_image(self) -> tuple[int, ConfState, bytes]:
        """(applied index, membership, image) of the state machine, from ONE read transaction,
        so the image is consistent however many writes commit meanwhile.
        """
        with self._reading("build snapshot image") as txn:
            applied = L.read_u64(txn.get(L.APPLIED_INDEX, default=L.u64(0), db=self._applied))
            cs = L.read_conf_state(txn.get(L.APPLIED_CONF, db=self._applied))
            cur = txn.cursor(db=self._kv)
            pairs = (
                (kb.decode(), vb.decode())
                for kb, vb in (L.split_stored(k, v) for k, v in cur.iternext())
            )
            return applied, cs, encode_snapshot(applied, pairs)

    # --- space ---------------------------------------------------------------------------------

    def size_bytes(self) -> int:
        """Bytes of the data file in use (its high-water mark; LMDB files never shrink)."""
        info = self._env.info()
        return int((info["last_pgno"] + 1) * self._env.stat()["psize"])

    def usage(self) -> MapUsage:
        """Live pages of the map, per database, from ONE read transaction (see ``space``)."""
        with self._reading("read stats") as txn:
            main = self._env.stat()
            psize = int(main["psize"])
            per_db = [_pages(txn.stat(db)) * psize for db in self._dbs]
            map_bytes = int(self._env.info()["map_size"])
        log_b, _meta, snap_b, kv_b, _applied = per_db
        # two meta pages, the main db (which names the others), then every named db
        used = (2 + _pages(main)) * psize + sum(per_db)
        return MapUsage(map_bytes, used, kv_b, log_bytes=log_b, snapshot_bytes=snap_b)

    def used_fraction(self) -> float:
        """Share of the map held by live pages (pages freed by compaction count as free)."""
        return self.usage().fraction

    def flush(self) -> None:
        """Force everything committed onto the disk (useful with ``fsync="never"``)."""
        try:
            self._env.sync(True)
        except lmdb.Error as e:
            raise translate(e, "sync") from None


def read_image(txn: lmdb.Transaction[bytes], db: lmdb._Database) -> bytes:
    """The snapshot image: its chunks in order (or the whole value an older version wrote)."""
    whole = txn.get(L.SNAPSHOT_IMAGE, db=db)
    if whole is not None:
        return whole
    cur = txn.cursor(db=db)
    if not cur.set_range(L.IMAGE_PREFIX):
        return b""
    return b"".join(v for k, v in cur.iternext() if k.startswith(L.IMAGE_PREFIX))


def _pages(stat: Any) -> int:
    return int(stat["branch_pages"] + stat["leaf_pages"] + stat["overflow_pages"])


def _ordered_pairs(cur: lmdb.Cursor[bytes], head: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) bytes in key order, from the cursor's position while stored keys start
    with ``head``. Long keys sharing their first 478 bytes are sorted among themselves.
    """
    group: list[tuple[bytes, bytes]] = []
    group_head = b""
    for stored, value in cur.iternext():
        if not stored.startswith(head):
            break
        if L.is_long(stored):
            h = stored[: len(L.KV_PREFIX) + L.HEAD_BYTES]
            if group and h != group_head:
                group.sort()
                yield from group
                group = []
            group_head = h
            group.append(L.split_stored(stored, value))
            continue
        if group:
            group.sort()
            yield from group
            group = []
        yield stored[len(L.KV_PREFIX) :], value
    group.sort()
    yield from group


__all__ = ["DEFAULT_MAP_SIZE", "FsyncMode", "LmdbStorage", "StorageError"]
