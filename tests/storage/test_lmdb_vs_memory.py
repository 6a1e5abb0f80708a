"""LmdbStorage and MemoryStorage given the same writes answer every read the same way."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from aspen.raft.errors import Compacted, InvariantViolation, Unavailable
from aspen.raft.messages import ConfState, Entry, HardState, Snapshot, SnapshotMeta
from aspen.raft.storage import MemoryStorage
from aspen.storage import LmdbStorage

conf_states = st.builds(ConfState, st.frozensets(st.integers(1, 5), max_size=3))


def outcome(f: object, *args: object) -> object:
    """What a call returned, or which contract error it raised."""
    try:
        return f(*args)  # type: ignore[operator]
    except (Compacted, Unavailable, InvariantViolation) as e:
        return type(e)


class SameAnswers(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="aspen-lmdb-vs-mem-"))
        self.lmdb = LmdbStorage(self.dir / "node", 1, 16 << 20, fsync="never")
        self.mem = MemoryStorage()

    def teardown(self) -> None:
        self.lmdb.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def both(self, name: str, *args: object) -> None:
        a = outcome(getattr(self.mem, name), *args)
        b = outcome(getattr(self.lmdb, name), *args)
        assert a == b, (name, args, a, b)

    @rule(data=st.data(), n=st.integers(1, 5), term=st.integers(0, 3))
    def append(self, data: st.DataObject, n: int, term: int) -> None:
        first = self.mem.first_index()
        at = data.draw(st.integers(max(1, first - 3), self.mem.last_index() + 1), label="at")
        top = self.mem.term(self.mem.last_index()) if at > first - 1 else 0
        t = top + term
        ents = [Entry(t, at + i, data=bytes([i])) for i in range(n)]
        self.both("append", ents)

    @rule(hs=st.builds(HardState, st.integers(0, 9), st.integers(0, 3), st.integers(0, 9)))
    def set_hard_state(self, hs: HardState) -> None:
        self.both("set_hard_state", hs)

    @rule(cs=conf_states)
    def set_conf_state(self, cs: ConfState) -> None:
        self.both("set_conf_state", cs)

    @precondition(lambda self: self.mem.last_index() > 0)
    @rule(data=st.data(), cs=conf_states)
    def create_snapshot(self, data: st.DataObject, cs: ConfState) -> None:
        index = data.draw(st.integers(self.mem.first_index() - 1, self.mem.last_index()))
        self.both("create_snapshot", index, cs, b"img%d" % index)

    @precondition(lambda self: self.mem.last_index() > 0)
    @rule(data=st.data())
    def compact(self, data: st.DataObject) -> None:
        index = data.draw(st.integers(0, self.mem.last_index() + 1))
        self.both("compact", index)

    @rule(index=st.integers(0, 30), term=st.integers(0, 6), cs=conf_states)
    def apply_snapshot(self, index: int, term: int, cs: ConfState) -> None:
        self.both("apply_snapshot", Snapshot(SnapshotMeta(index, term, cs), b"s%d" % index))

    @invariant()
    def same_reads(self) -> None:
        self.both("first_index")
        self.both("last_index")
        self.both("initial_state")
        self.both("snapshot")
        lo, hi = self.mem.first_index(), self.mem.last_index()
        for i in range(max(0, lo - 2), hi + 3):
            self.both("term", i)
        for i in range(max(0, lo - 1), hi + 2):
            self.both("entries", i, hi + 1)
            self.both("entries", lo, i, 30)


TestSameAnswers = SameAnswers.TestCase
TestSameAnswers.settings = settings(max_examples=40, stateful_step_count=25, deadline=None)
