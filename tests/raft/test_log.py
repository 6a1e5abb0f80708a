"""The raft log: storage plus the unstable tail (etcd's log_test.go)."""

from __future__ import annotations

import pytest

from aspen.raft import Compacted, Entry, InvariantViolation, MemoryStorage, Snapshot, SnapshotMeta
from aspen.raft.log import RaftLog


def ents(*terms: int, start: int = 1, size: int = 0) -> list[Entry]:
    return [Entry(t, start + i, data=b"x" * size) for i, t in enumerate(terms)]


def log_with(stable: list[Entry], unstable: list[Entry] = ()) -> RaftLog:  # type: ignore[assignment]
    s = MemoryStorage()
    s.append(stable)
    log = RaftLog(s)
    if unstable:
        log.append(list(unstable))
    return log


def test_term_spans_storage_and_unstable() -> None:
    log = log_with(ents(1, 1, 2), ents(3, 3, start=4))
    assert [log.term(i) for i in range(0, 6)] == [0, 1, 1, 2, 3, 3]
    assert log.last_index() == 5 and log.persisted_index() == 3
    assert not log.match_term(6, 3)


def test_unstable_truncation_hides_stale_storage_entries() -> None:
    log = log_with(ents(1, 1, 1, 1))
    log.append(ents(2, start=3))
    assert log.last_index() == 3 and log.term(3) == 2
    assert log.persisted_index() == 2  # entry 3 is new, 4 is gone
    assert not log.match_term(4, 1)


def test_find_conflict() -> None:
    log = log_with(ents(1, 2, 3))
    assert log.find_conflict(tuple(ents(1, 2, 3))) == 0
    assert log.find_conflict(tuple(ents(2, 3, 4, start=2))) == 4  # new entries
    assert log.find_conflict(tuple(ents(2, 4, start=2))) == 3  # conflicting term
    assert log.find_conflict(()) == 0


@pytest.mark.parametrize(
    ("index", "term", "expected"),
    [
        (10, 9, (10, 6)),  # the last entry's term is already <= 9
        (10, 4, (6, 4)),  # skip the whole term 6 (7..10) at once
        (10, 2, (3, 1)),  # skip terms 6 and 4
        (10, 0, (0, 0)),
        (5, 4, (5, 4)),
    ],
)
def test_find_conflict_by_term(index: int, term: int, expected: tuple[int, int]) -> None:
    # etcd's TestFindConflictByTerm: log terms 1 1 1 4 4 4 6 6 6 6
    log = log_with(ents(1, 1, 1, 4, 4, 4, 6, 6, 6, 6))
    assert log.find_conflict_by_term(index, term) == expected


def test_find_conflict_by_term_stops_at_compaction() -> None:
    s = MemoryStorage()
    s.append(ents(1, 1, 2, 2, 3))
    s.create_snapshot(3, s.initial_state()[1], b"")
    s.compact(3)
    log = RaftLog(s)
    assert log.find_conflict_by_term(5, 1) == (2, 0)  # term(2) is unknown


def test_maybe_append_rejects_missing_prev() -> None:
    log = log_with(ents(1, 1, 2))
    assert log.maybe_append(3, 3, 3, tuple(ents(3, start=4))) is None  # prev term mismatch
    assert log.maybe_append(4, 2, 3, ()) is None  # prev beyond our log


def test_maybe_append_truncates_conflict_and_commits_up_to_last_new() -> None:
    log = log_with(ents(1, 1, 2, 2))
    assert log.maybe_append(2, 1, 10, tuple(ents(3, start=3))) == 3
    assert log.last_index() == 3 and log.term(3) == 3
    assert log.committed == 3  # min(leader commit, last new index)


def test_maybe_append_keeps_longer_matching_log() -> None:
    log = log_with(ents(1, 1, 2, 2))
    # A delayed, shorter AppendEntries must not truncate entries that match (Raft §5.3).
    assert log.maybe_append(1, 1, 0, tuple(ents(1, start=2))) == 2
    assert log.last_index() == 4


def test_truncating_committed_entry_is_invariant_violation() -> None:
    log = log_with(ents(1, 1, 1))
    log.commit_to(2)
    with pytest.raises(InvariantViolation):
        log.maybe_append(1, 1, 2, tuple(ents(2, start=2)))


def test_commit_beyond_last_index_is_invariant_violation() -> None:
    log = log_with(ents(1))
    with pytest.raises(InvariantViolation):
        log.commit_to(2)


def test_maybe_commit_only_for_entries_of_the_given_term() -> None:
    log = log_with(ents(1, 1, 2))
    assert not log.maybe_commit(2, 2)  # entry 2 is of term 1: Raft §5.4.2
    assert log.maybe_commit(3, 2) and log.committed == 3


def test_next_committed_entries_only_durable_ones() -> None:
    log = log_with(ents(1, 1), ents(1, 1, start=3))
    log.commit_to(4)
    assert [e.index for e in log.next_committed_entries()] == [1, 2]
    log.storage.append(log.unstable.entries)  # type: ignore[attr-defined]
    log.stable_to(4, 1)
    assert [e.index for e in log.next_committed_entries()] == [1, 2, 3, 4]
    log.applied_to(4)
    assert log.next_committed_entries() == [] and not log.has_next_committed_entries()


def test_stable_to_ignores_replaced_entries() -> None:
    log = log_with([], ents(1, 1, 1))
    log.append(ents(2, start=3))  # replaced before the driver reported it persisted
    log.stable_to(3, 1)
    assert log.persisted_index() == 0
    log.storage.append(log.unstable.entries)  # type: ignore[attr-defined]
    log.stable_to(3, 2)
    assert log.persisted_index() == 3


def test_slice_limits_by_count_and_bytes_across_storage_and_unstable() -> None:
    log = log_with(ents(1, 1, size=100), ents(1, 1, 1, start=3, size=100))
    size = ents(1, size=100)[0].size()
    assert len(log.slice(1, 6)) == 5
    assert len(log.slice(1, 6, max_count=3)) == 3
    assert len(log.slice(1, 6, max_bytes=size * 3)) == 3
    assert len(log.slice(1, 6, max_bytes=size * 4 - 1)) == 3
    assert len(log.slice(1, 6, max_bytes=1)) == 1  # never empty
    assert [e.index for e in log.slice(2, 5, max_bytes=size * 2)] == [2, 3]


def test_slice_below_first_index_is_compacted() -> None:
    s = MemoryStorage()
    s.append(ents(1, 1, 1))
    s.create_snapshot(2, s.initial_state()[1], b"")
    s.compact(2)
    log = RaftLog(s)
    with pytest.raises(Compacted):
        log.slice(2, 4)
    assert [e.index for e in log.slice(3, 4)] == [3]


def test_restore_replaces_log_with_snapshot() -> None:
    log = log_with(ents(1, 1, 1))
    log.restore(Snapshot(SnapshotMeta(10, 4)))
    assert log.first_index() == 11 and log.last_index() == 10 and log.term(10) == 4
    assert log.committed == 10 and log.persisted_index() == 0
    assert log.next_committed_entries() == []
    log.stable_snap_to(10)
    assert log.persisted_index() == 10


def test_is_up_to_date() -> None:
    # Raft §5.4.1: compare last terms, then lengths.
    log = log_with(ents(1, 2, 2))
    assert log.is_up_to_date(1, 3)
    assert log.is_up_to_date(3, 2)
    assert not log.is_up_to_date(2, 2)
    assert not log.is_up_to_date(10, 1)
