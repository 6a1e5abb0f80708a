"""Each safety check fires on a synthetic violation and stays quiet on legal histories."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aspen.raft.messages import Entry, HardState, Snapshot, SnapshotMeta
from aspen.raft.storage import MemoryStorage
from aspen.sim.invariants import Invariants, SafetyViolation


def ents(*terms: int, start: int = 1, tag: str = "") -> list[Entry]:
    return [Entry(t, start + i, data=f"{tag}{start + i}".encode()) for i, t in enumerate(terms)]


class World:
    """A few storages and the invariant checker watching them."""

    def __init__(self) -> None:
        self.stores = {n: MemoryStorage() for n in (1, 2, 3)}
        self.leaders: list[tuple[int, int]] = []
        self.inv = Invariants("seed=0", self._leaders)

    def _leaders(self) -> Iterator[tuple[int, int, MemoryStorage]]:
        for node, term in self.leaders:
            yield node, term, self.stores[node]

    def append(self, node: int, entries: list[Entry]) -> None:
        s = self.stores[node]
        self.inv.before_append(node, s, entries)
        s.append(entries)
        self.inv.after_append(node, s, entries)

    def commit(self, node: int, term: int, new: int) -> None:
        s = self.stores[node]
        old = s.hard_state.commit
        s.set_hard_state(HardState(term=term, commit=new))
        self.inv.on_commit(node, term, s, old, new)


def test_a_legal_run_passes() -> None:
    w = World()
    w.inv.on_leader(1, 1, w.stores[1])
    for n in (1, 2, 3):
        w.append(n, ents(1, 1, 1))
    w.commit(1, 1, 3)
    w.commit(2, 1, 2)
    for e in ents(1, 1, 1):
        w.inv.on_apply(2, e)
    w.inv.on_leader(2, 2, w.stores[2])
    w.append(3, ents(2, start=4))
    w.inv.on_restart(2, w.stores[2])
    assert w.inv.max_committed == 3 and w.inv.checks > 0


def test_two_leaders_in_one_term() -> None:
    w = World()
    w.inv.on_leader(1, 5, w.stores[1])
    w.inv.on_leader(1, 5, w.stores[1])  # the same node again is fine
    with pytest.raises(SafetyViolation, match="seed=0: election safety"):
        w.inv.on_leader(2, 5, w.stores[2])


def test_same_index_and_term_but_different_entry() -> None:
    w = World()
    w.append(1, ents(1, 1, tag="a"))
    with pytest.raises(SafetyViolation, match="log matching"):
        w.append(2, ents(1, 1, tag="b"))


def test_same_entry_after_different_predecessors() -> None:
    w = World()
    w.append(1, ents(1, 2))
    w.append(1, [Entry(4, 3, data=b"x")])
    with pytest.raises(SafetyViolation, match="log matching"):
        w.stores[3].append([Entry(5, 1, data=b"1"), Entry(5, 2, data=b"2")])
        w.append(3, [Entry(4, 3, data=b"x")])


def test_overwriting_a_committed_entry() -> None:
    w = World()
    w.append(1, ents(1, 1, 1))
    w.commit(1, 1, 2)
    w.append(1, [Entry(2, 3)])  # replacing the uncommitted entry 3 is fine
    with pytest.raises(SafetyViolation, match="durability: node 1 overwrites committed"):
        w.append(1, [Entry(2, 2)])


def test_two_nodes_commit_different_entries_at_one_index() -> None:
    w = World()
    w.append(1, ents(1, tag="a"))
    w.append(2, ents(2, tag="b"))
    w.commit(1, 1, 1)
    with pytest.raises(SafetyViolation, match="state machine safety"):
        w.commit(2, 2, 1)


def test_applying_what_is_not_committed_or_differs() -> None:
    w = World()
    w.append(1, ents(1, 1))
    w.commit(1, 1, 1)
    w.inv.on_apply(1, ents(1)[0])
    with pytest.raises(SafetyViolation, match="no node has persisted as committed"):
        w.inv.on_apply(1, ents(1, 1)[1])
    with pytest.raises(SafetyViolation, match="state machine safety"):
        w.inv.on_apply(2, Entry(1, 1, data=b"other"))


def test_commit_beyond_the_persisted_log_or_backwards() -> None:
    w = World()
    w.append(1, ents(1))
    with pytest.raises(SafetyViolation, match="beyond its persisted last index"):
        w.commit(1, 1, 2)
    w2 = World()
    w2.append(1, ents(1, 1))
    w2.commit(1, 1, 2)
    with pytest.raises(SafetyViolation, match="went back"):
        w2.commit(1, 1, 1)


def test_leader_missing_a_committed_entry() -> None:
    w = World()
    w.append(1, ents(1, 1))
    w.commit(1, 1, 2)
    w.append(2, ents(1))
    w.inv.on_leader(3, 1, w.stores[3])  # committed in term 1: a term-1 leader need not hold it
    with pytest.raises(SafetyViolation, match="leader completeness"):
        w.inv.on_leader(2, 2, w.stores[2])


def test_commit_seen_after_a_later_leader_was_elected() -> None:
    w = World()
    w.append(1, ents(1, 1))
    w.append(2, ents(1))
    w.leaders = [(2, 3)]
    w.inv.on_leader(2, 3, w.stores[2])
    with pytest.raises(SafetyViolation, match="leader 2 of term 3"):
        w.commit(1, 1, 2)


def test_snapshot_that_disagrees_with_what_is_committed() -> None:
    w = World()
    w.append(1, ents(1, 1, 1))
    w.commit(1, 1, 3)
    w.inv.on_snapshot(1, Snapshot(SnapshotMeta(index=2, term=1)))
    with pytest.raises(SafetyViolation, match="snapshot at 2/2"):
        w.inv.on_snapshot(2, Snapshot(SnapshotMeta(index=2, term=2)))
    with pytest.raises(SafetyViolation, match="beyond the highest committed"):
        w.inv.on_snapshot(2, Snapshot(SnapshotMeta(index=9, term=1)))


def test_installing_a_snapshot_that_discards_committed_entries() -> None:
    w = World()
    w.append(1, ents(1, 1, 1))
    w.commit(1, 1, 3)
    ok = Snapshot(SnapshotMeta(index=1, term=1))
    w.inv.before_snapshot(1, w.stores[1], ok)  # agrees at 1: entries 2..3 are kept
    bad = Snapshot(SnapshotMeta(index=1, term=7))
    with pytest.raises(SafetyViolation, match="discards committed"):
        w.inv.before_snapshot(1, w.stores[1], bad)


def test_restart_without_committed_entries() -> None:
    w = World()
    w.append(1, ents(1, 1))
    w.commit(1, 1, 2)
    w.inv.on_restart(1, w.stores[1])
    lost = MemoryStorage()
    lost.append(ents(1))
    lost.set_hard_state(HardState(term=1, commit=1))
    w.inv.on_restart(2, lost)
    lost.set_hard_state(HardState(term=1, commit=2))
    with pytest.raises(SafetyViolation, match="restarted with commit 2 > last 1"):
        w.inv.on_restart(2, lost)
    other = MemoryStorage()
    other.append([Entry(1, 1, data=b"1"), Entry(9, 2)])
    other.set_hard_state(HardState(term=9, commit=2))
    with pytest.raises(SafetyViolation, match="restarted with term 9 at committed index 2"):
        w.inv.on_restart(3, other)
