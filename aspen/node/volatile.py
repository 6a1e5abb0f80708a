"""The UNSAFE ``--fsync never`` mode: acknowledge from memory, reach disk only now and then.

Turning off fsync in a real store loses acknowledged writes only when the machine crashes: the
OS page cache survives the death of the process. The lab kills processes, not machines, so to
show what "fsync off" costs, this mode keeps the node's whole state in memory
(:class:`MemoryNodeStorage`) and writes a checkpoint file at most every ``interval`` seconds
(5 s by default, like the kernel's writeback of dirty pages).
A SIGKILL therefore loses everything acknowledged since the last checkpoint — exactly the
failure the lab's kill-all scenario must catch. Never use it for data you want.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

import msgpack

from aspen.kv.commands import CommandResult
from aspen.node.memstore import MemoryNodeStorage
from aspen.raft.messages import (
    ConfState,
    Entry,
    EntryKind,
    HardState,
    Snapshot,
    SnapshotMeta,
)

CHECKPOINT = "volatile-checkpoint.msgpack"
_VERSION = 1


def _conf(cs: ConfState) -> list[list[int]]:
    return [sorted(cs.voters), sorted(cs.learners), sorted(cs.voters_outgoing)]


def _unconf(raw: list[list[int]]) -> ConfState:
    return ConfState(frozenset(raw[0]), frozenset(raw[1]), frozenset(raw[2]))


class VolatileStorage(MemoryNodeStorage):
    def __init__(self, data_dir: Path, interval: float = 5.0) -> None:
        super().__init__()
        self.path = data_dir / CHECKPOINT
        self.interval = interval
        self._last = time.monotonic()
        if self.path.exists():
            self._load()

    def write_ready(
        self,
        hard_state: HardState | None,
        entries: Sequence[Entry],
        snapshot: Snapshot | None,
        committed: Sequence[Entry],
        conf_state: ConfState | None,
    ) -> list[CommandResult | None]:
        results = super().write_ready(hard_state, entries, snapshot, committed, conf_state)
        if time.monotonic() - self._last >= self.interval:
            self.checkpoint()
        return results

    def checkpoint(self) -> None:
        """Write the whole state to the checkpoint file (atomically, but without fsync)."""
        with self.lock:
            snap = self.raft.snapshot()
            hs, cs = self.raft.initial_state()
            first, last = self.raft.first_index(), self.raft.last_index()
            entries = self.raft.entries(first, last + 1) if last >= first else []
            body = {
                "version": _VERSION,
                "hard_state": [hs.term, hs.vote, hs.commit],
                "conf_state": _conf(cs),
                "snapshot": [
                    snap.meta.index,
                    snap.meta.term,
                    _conf(snap.meta.conf_state),
                    snap.data,
                ],
                "log_start": [first - 1, self.raft.term(first - 1)],
                "entries": [[e.term, e.index, int(e.kind), e.data] for e in entries],
                "kv": self.kv.snapshot(),
            }
            self._last = time.monotonic()
        tmp = self.path.with_suffix(".tmp")
        tmp.write_bytes(msgpack.packb(body, use_bin_type=True))
        os.replace(tmp, self.path)

    def _load(self) -> None:
        body = msgpack.unpackb(self.path.read_bytes(), raw=False)
        if body.get("version") != _VERSION:
            raise ValueError(f"{self.path}: unknown checkpoint version {body.get('version')!r}")
        index, term, conf, data = body["snapshot"]
        if index:
            self.raft.apply_snapshot(Snapshot(SnapshotMeta(index, term, _unconf(conf)), data))
        start_index, start_term = body["log_start"]
        if start_index > self.raft.last_index():
            # compacted past the snapshot: restart the log at the recorded position
            self.raft.apply_snapshot(
                Snapshot(SnapshotMeta(start_index, start_term, _unconf(body["conf_state"])), b"")
            )
        self.raft.append([Entry(t, i, EntryKind(k), d) for t, i, k, d in body["entries"]])
        self.raft.set_hard_state(HardState(*body["hard_state"]))
        self.raft.set_conf_state(_unconf(body["conf_state"]))
        self.kv.restore(body["kv"])

    def close(self) -> None:
        """A clean stop writes a last checkpoint; a SIGKILL of course does not."""
        self.checkpoint()
