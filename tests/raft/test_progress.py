"""Flow control of one follower (etcd's tracker/progress_test.go and inflights_test.go)."""

from __future__ import annotations

import pytest

from aspen.raft import InvariantViolation, Snapshot, SnapshotMeta
from aspen.raft.progress import Inflights, Progress, ProgressState
from aspen.raft.snapshot_transfer import SnapshotSender


def test_inflights_window() -> None:
    w = Inflights(3)
    for i in (5, 10, 15):
        w.add(i)
    assert w.full()
    with pytest.raises(InvariantViolation):
        w.add(20)
    w.free_le(9)
    assert w.count() == 2 and not w.full()
    w.free_le(100)
    assert w.count() == 0


def test_probe_pauses_after_sending_entries_until_answer() -> None:
    pr = Progress(0, 5, 8, False)
    assert pr.state is ProgressState.PROBE and not pr.is_paused()
    pr.sent_entries(0, 0)
    assert not pr.is_paused()  # an empty probe does not pause
    pr.sent_entries(3, 7)
    assert pr.is_paused() and pr.next == 5  # probing does not advance next
    assert pr.maybe_update(7)
    assert pr.match == 7 and pr.next == 8 and not pr.is_paused()


def test_replicate_advances_next_optimistically_and_pauses_when_window_full() -> None:
    pr = Progress(4, 5, 2, False)
    pr.become_replicate()
    pr.sent_entries(2, 6)
    assert pr.next == 7 and not pr.is_paused()
    pr.sent_entries(2, 8)
    assert pr.next == 9 and pr.is_paused()
    assert pr.maybe_update(6)
    pr.inflights.free_le(6)
    assert pr.inflights.count() == 1


def test_maybe_decr_to_in_replicate_ignores_stale_rejects() -> None:
    pr = Progress(5, 10, 8, False)
    pr.become_replicate()
    pr.next = 10
    assert not pr.maybe_decr_to(5, 0)  # rejected <= match: stale
    assert pr.maybe_decr_to(9, 0)
    assert pr.next == 6  # back to match + 1


def test_maybe_decr_to_in_probe_uses_hint_but_never_below_match() -> None:
    pr = Progress(2, 10, 8, False)
    assert not pr.maybe_decr_to(5, 0)  # not the probe we sent (next - 1 == 9)
    assert pr.maybe_decr_to(9, 6)
    assert pr.next == 7
    assert pr.maybe_decr_to(6, 0)
    assert pr.next == 3  # match + 1


def test_snapshot_state_is_paused_and_resumes_after_snapshot() -> None:
    pr = Progress(0, 1, 8, False)
    sender = SnapshotSender(Snapshot(SnapshotMeta(10, 2)), 4, 2)
    pr.become_snapshot(10, sender)
    assert pr.is_paused() and pr.pending_snapshot == 10
    with pytest.raises(InvariantViolation):
        pr.sent_entries(1, 1)
    pr.become_probe()
    assert pr.state is ProgressState.PROBE and pr.next == 11 and pr.sender is None


def test_snapshot_sender_window_and_rewind() -> None:
    snap = Snapshot(SnapshotMeta(10, 2), bytes(range(10)))
    s = SnapshotSender(snap, chunk_size=3, window=2)
    first = s.next_chunks()
    assert [(o, len(d), done) for o, d, done in first] == [(0, 3, False), (3, 3, False)]
    assert s.next_chunks() == []  # window full
    s.ack(3)
    assert [(o, done) for o, _, done in s.next_chunks()] == [(6, False)]
    assert not s.rewind_if_stalled()  # progressed since the last check
    assert s.rewind_if_stalled()  # nothing since: resend from the last ack
    assert [o for o, _, _ in s.next_chunks()] == [3, 6]
    s.ack(9)
    last = s.next_chunks()
    assert last == [(9, bytes([9]), True)]
    assert s.next_chunks() == []


def test_empty_snapshot_is_one_done_chunk() -> None:
    s = SnapshotSender(Snapshot(SnapshotMeta(3, 1)), chunk_size=8, window=4)
    assert s.next_chunks() == [(0, b"", True)]
    assert s.next_chunks() == []
