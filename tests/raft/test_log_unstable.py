"""The unstable tail of the log (etcd's log_unstable_test.go)."""

from __future__ import annotations

import pytest

from aspen.raft import Entry, InvariantViolation, Snapshot, SnapshotMeta
from aspen.raft.log_unstable import Unstable


def ents(*terms: int, start: int) -> list[Entry]:
    return [Entry(t, start + i) for i, t in enumerate(terms)]


def test_truncate_and_append_cases() -> None:
    u = Unstable(5)
    u.truncate_and_append(ents(1, 1, start=5))
    assert (u.offset, [e.index for e in u.entries]) == (5, [5, 6])
    u.truncate_and_append(ents(1, start=7))  # direct append
    u.truncate_and_append(ents(2, 2, start=6))  # replaces a suffix
    assert [(e.index, e.term) for e in u.entries] == [(5, 1), (6, 2), (7, 2)]
    u.truncate_and_append(ents(3, start=3))  # before the offset: replaces everything
    assert (u.offset, [(e.index, e.term) for e in u.entries]) == (3, [(3, 3)])
    with pytest.raises(InvariantViolation):
        u.truncate_and_append(ents(3, start=9))


def test_stable_to_and_terms() -> None:
    u = Unstable(5)
    u.truncate_and_append(ents(1, 1, 2, start=5))
    assert u.maybe_term(6) == 1 and u.maybe_term(8) is None and u.maybe_term(4) is None
    u.stable_to(6, 2)  # wrong term: ignored
    assert u.offset == 5
    u.stable_to(6, 1)
    assert (u.offset, len(u.entries)) == (7, 1)
    assert u.maybe_last_index() == 7


def test_snapshot() -> None:
    u = Unstable(1)
    u.restore(Snapshot(SnapshotMeta(10, 3)))
    assert u.maybe_first_index() == 11 and u.maybe_last_index() == 10 and u.maybe_term(10) == 3
    u.stable_snap_to(9)
    assert u.snapshot is not None
    u.stable_snap_to(10)
    assert u.snapshot is None
