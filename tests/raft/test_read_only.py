"""ReadIndex bookkeeping (etcd's read_only.go)."""

from __future__ import annotations

from aspen.raft.read_only import ReadOnly


def test_reads_are_confirmed_in_arrival_order() -> None:
    ro = ReadOnly()
    assert ro.add_request(5, b"a", self_id=1)
    assert ro.add_request(7, b"b", self_id=1)
    assert not ro.add_request(9, b"a", self_id=1)  # duplicate context
    assert ro.last_pending_context() == b"b"
    assert ro.recv_ack(2, b"b") == {1, 2}
    done = ro.advance(b"b")
    assert [(s.index, s.context) for s in done] == [(5, b"a"), (7, b"b")]
    assert ro.pending == {} and ro.queue == []
    assert ro.last_pending_context() == b""


def test_unknown_context_is_ignored() -> None:
    ro = ReadOnly()
    assert ro.recv_ack(2, b"zz") is None
    assert ro.advance(b"zz") == []
