"""Snapshots: InstallSnapshot streamed in bounded chunks (Raft §7), installed over a conflicting
log, never older than what the follower needs."""

from __future__ import annotations

import pytest

from aspen.raft import ConfState, Role, Snapshot, SnapshotMeta
from aspen.raft.messages import (
    AppendEntries,
    Entry,
    InstallSnapshot,
    InstallSnapshotResponse,
)
from tests.raft.harness import Network, decode_list, drive, make_node, outbox

CHUNK = 100


def lagging_follower_net(entries: int = 30, size: int = 50, **config: object) -> Network:
    """Node 3 missed ``entries`` commands that the leader then compacted into a snapshot."""
    net = Network(3, snapshot_chunk_size=CHUNK, **config)  # type: ignore[arg-type]
    net.elect(1)
    net.isolate(3)
    for i in range(entries):
        net.propose(1, b"%02d" % i + b"." * (size - 2))
    net.snapshot(1)
    assert net.storages[1].first_index() == entries + 3
    net.delivered.clear()
    return net


def chunks(net: Network) -> list[InstallSnapshot]:
    return [m for m in net.delivered if isinstance(m, InstallSnapshot)]


def test_snapshot_streamed_in_chunks_and_installed() -> None:
    net = lagging_follower_net()
    net.recover()
    net.elapse(1)
    sent = chunks(net)
    snap = net.storages[1].snapshot()
    assert len(sent) == -(-len(snap.data) // CHUNK)
    assert all(len(m.data) <= CHUNK for m in sent)
    assert [m.offset for m in sent] == list(range(0, len(snap.data), CHUNK))
    assert [m.done for m in sent] == [False] * (len(sent) - 1) + [True]
    assert all(m.meta == snap.meta for m in sent)
    assert net.sms[3].data == net.sms[1].data
    assert net.storages[3].snapshot().meta.index == snap.meta.index
    assert net.nodes[3].applied == net.nodes[1].applied
    # Back to ordinary replication afterwards.
    net.propose(1, b"after")
    assert net.sms[3].data[-1] == b"after"
    assert net.nodes[1].status().progress[3].state == "replicate"


def test_chunks_in_flight_are_bounded() -> None:
    net = lagging_follower_net(max_inflight_snapshot_chunks=3)
    net.ignore(InstallSnapshotResponse)
    net.drops.clear()
    net.elapse(1)
    assert len(chunks(net)) == 3  # the window; nothing acknowledged
    assert net.nodes[1].status().progress[3].state == "snapshot"
    net.recover()
    net.elapse(2)  # the stalled window is resent, then acks pull the rest
    assert net.sms[3].data == net.sms[1].data


def test_lost_chunk_is_resent() -> None:
    net = lagging_follower_net()
    lost: list[int] = []

    def lose_third(m: object) -> bool:
        if isinstance(m, InstallSnapshot) and m.offset == 2 * CHUNK and not lost:
            lost.append(m.offset)
            return True
        return False

    net.recover()
    net.block(lose_third)
    net.elapse(4)
    assert lost == [2 * CHUNK]
    assert net.sms[3].data == net.sms[1].data


def test_follower_restart_mid_stream_restarts_transfer() -> None:
    net = lagging_follower_net(max_inflight_snapshot_chunks=2)
    net.recover()
    net.ignore(InstallSnapshotResponse)
    net.elapse(1)
    net.restart(3)  # the partial snapshot was in memory only
    net.recover()
    net.elapse(3)
    offsets = [m.offset for m in chunks(net)]
    assert offsets.count(0) >= 2  # started over
    assert net.sms[3].data == net.sms[1].data


def test_snapshot_replaces_conflicting_log() -> None:
    # Raft §7: if the snapshot's last entry conflicts with the follower's log, the follower
    # discards its entire log.
    node, storage = make_node(2, log_terms=[1, 1, 2, 2, 2], term=2, commit=2)
    conf = ConfState(voters=frozenset({1, 2, 3, 4}))
    meta = SnapshotMeta(index=4, term=3, conf_state=conf)
    node.step(InstallSnapshot(3, 1, 2, meta, 0, b"abc", False))
    rd = drive(node, storage)
    assert rd.snapshot is None
    assert rd.persisted_messages == [InstallSnapshotResponse(3, 2, 1, 4, 3)]
    node.step(InstallSnapshot(3, 1, 2, meta, 3, b"def", True))
    rd = node.ready()
    assert rd.snapshot == Snapshot(meta, b"abcdef")
    assert rd.hard_state is not None and rd.hard_state.commit == 4
    assert rd.committed_entries == []
    assert node.conf_state == conf  # takes effect at once
    assert rd.persisted_messages == [InstallSnapshotResponse(3, 2, 1, 4, 6, done=True)]
    storage.apply_snapshot(rd.snapshot)
    node.advance(rd)
    assert node.commit == node.applied == 4
    assert storage.last_index() == 4 and storage.term(4) == 3  # entry 5 of term 2 is gone
    assert node.raft.log.last_index() == 4


def test_snapshot_matching_our_log_only_advances_commit() -> None:
    node, storage = make_node(2, log_terms=[1, 1, 2, 2, 2], term=2, commit=1)
    meta = SnapshotMeta(index=3, term=2, conf_state=ConfState(voters=frozenset({1, 2, 3})))
    node.step(InstallSnapshot(2, 1, 2, meta, 0, b"img", True))
    rd = drive(node, storage)
    assert rd.snapshot is None
    assert node.commit == 3 and node.raft.log.last_index() == 5  # entries after 3 kept
    assert rd.persisted_messages == [InstallSnapshotResponse(2, 2, 1, 3, 3, done=True)]


def test_snapshot_already_covered_by_commit_is_answered_done_at_once() -> None:
    node, storage = make_node(2, log_terms=[1, 1, 1], term=1, commit=3)
    meta = SnapshotMeta(index=2, term=1)
    node.step(InstallSnapshot(1, 1, 2, meta, 0, b"x" * 10, False))
    assert outbox(node, storage) == [InstallSnapshotResponse(1, 2, 1, 2, 0, done=True)]


def test_chunk_of_unknown_stream_is_rejected() -> None:
    node, storage = make_node(2, term=1)
    node.step(InstallSnapshot(1, 1, 2, SnapshotMeta(9, 1), 300, b"x", False))
    assert outbox(node, storage) == [InstallSnapshotResponse(1, 2, 1, 9, 0, reject=True)]


def test_out_of_order_chunk_gets_cumulative_ack() -> None:
    node, storage = make_node(2, term=1)
    meta = SnapshotMeta(9, 1)
    node.step(InstallSnapshot(1, 1, 2, meta, 0, b"ab", False))
    node.step(InstallSnapshot(1, 1, 2, meta, 4, b"ef", False))  # the chunk at 2 was lost
    node.step(InstallSnapshot(1, 1, 2, meta, 0, b"ab", False))  # a new stream restarts
    replies = outbox(node, storage)
    assert [(m.offset, m.reject) for m in replies if isinstance(m, InstallSnapshotResponse)] == [
        (2, False),
        (2, False),
        (2, False),
    ]


def test_leader_waits_for_a_snapshot_recent_enough() -> None:
    net = lagging_follower_net()
    # Pretend the log was compacted further than the snapshot reaches.
    s1 = net.storages[1]
    more = [net.propose(1, b"m%d" % i) for i in range(5)]
    s1.compact(more[-2])
    net.recover()
    net.elapse(3)
    assert chunks(net) == []  # the old snapshot would leave node 3 short of entries
    assert net.nodes[1].status().progress[3].state == "probe"
    net.snapshot(1)
    net.elapse(2)
    assert chunks(net) and chunks(net)[0].meta.index == more[-1]
    assert net.sms[3].data == net.sms[1].data


def test_snapshot_messages_placement() -> None:
    net = lagging_follower_net()
    net.recover()
    placements: dict[type, set[str]] = {}

    def spy(node: int, rd: object) -> None:
        for where in ("messages", "persisted_messages"):
            for m in getattr(rd, where):
                placements.setdefault(type(m), set()).add(where)

    net.on_ready = spy  # type: ignore[assignment]
    net.elapse(1)
    assert placements[InstallSnapshot] == {"messages"}
    assert placements[InstallSnapshotResponse] == {"persisted_messages"}
    assert placements[AppendEntries] == {"messages"}


def test_new_learner_catches_up_by_snapshot() -> None:
    from aspen.raft import ConfChange
    from aspen.raft import ConfChangeKind as K

    net = Network(3, snapshot_chunk_size=CHUNK)
    net.elect(1)
    for i in range(20):
        net.propose(1, b"v%d" % i)
    net.snapshot(1)
    net.add_node(4)
    net.nodes[1].propose_membership(ConfChange(((K.ADD_LEARNER, 4),)))
    net.send()
    net.elapse(2)
    assert decode_list(net.storages[4].snapshot().data)[:20] == [b"v%d" % i for i in range(20)]
    assert net.sms[4].data == net.sms[1].data
    assert net.nodes[4].conf_state.learners == {4}
    assert net.nodes[4].role is Role.FOLLOWER


@pytest.mark.parametrize("size", [0, 1, CHUNK, CHUNK + 1])
def test_snapshot_sizes(size: int) -> None:
    node, _ = make_node(2, term=1)
    meta = SnapshotMeta(5, 1, ConfState(voters=frozenset({1, 2})))
    data = bytes(range(256)) * 2
    data = data[:size]
    offsets = list(range(0, max(size, 1), CHUNK))
    for off in offsets:
        piece = data[off : off + CHUNK]
        node.step(InstallSnapshot(1, 1, 2, meta, off, piece, off + CHUNK >= size))
    rd = node.ready()
    assert rd.snapshot == Snapshot(meta, data)


def test_a_rejected_stream_restarts_with_the_newest_snapshot() -> None:
    # A follower that could not store a snapshot (no room) drops the stream and rejects the next
    # chunk: the leader starts over with the snapshot it holds NOW. A newer one may be the one
    # that fits (a smaller state); resending the old one could fail forever.
    net = lagging_follower_net(max_inflight_snapshot_chunks=2)
    net.recover()
    net.ignore(InstallSnapshotResponse)
    net.elapse(1)
    first = net.storages[1].snapshot().meta.index
    assert net.nodes[1].status().progress[3].state == "snapshot"
    net.isolate(3)
    net.propose(1, b"later")
    net.snapshot(1)
    newer = net.storages[1].snapshot().meta.index
    assert newer > first
    leader = net.nodes[1]
    leader.step(InstallSnapshotResponse(leader.term, 3, 1, first, CHUNK, reject=True))
    restarted = [m for m in outbox(leader, net.storages[1]) if isinstance(m, InstallSnapshot)]
    assert restarted and restarted[0].offset == 0
    assert {m.meta.index for m in restarted} == {newer}


def test_a_snapshot_arriving_while_a_membership_change_is_applied_waits_for_it() -> None:
    """A follower handed committed entries (a membership change among them) receives the
    leader's snapshot while its driver is still applying them: installing it then switched the
    configuration under the change being applied, and applying it broke the node's invariant
    (the simulator's Hypothesis exploration found it with a new learner). The follower rejects
    the stream until they are applied; the leader's restart then installs."""
    from aspen.raft import ConfChange, ConfChangeKind
    from aspen.raft.messages import EntryKind
    from tests.raft.harness import Disk, Outbox, processor

    node, storage = make_node(2, log_terms=[1], term=1, commit=1)
    add = ConfChange(((ConfChangeKind.ADD_LEARNER, 4),)).encode()
    entries = (Entry(1, 2, EntryKind.CONF_CHANGE, add), Entry(1, 3, data=b"x"))
    node.step(AppendEntries(1, 1, 2, 1, 1, entries, 3))
    drive(node, storage)  # entries 2 and 3 durable (committed entries are handed out once so)
    proc = processor(node, Disk(storage), Outbox())
    step = proc.begin()
    assert step is not None and [e.index for e in step.ready.committed_entries] == [2, 3]
    with_learner = ConfState(voters=frozenset({1, 2, 3}), learners=frozenset({4}))
    meta = SnapshotMeta(index=9, term=1, conf_state=with_learner)
    node.step(InstallSnapshot(1, 1, 2, meta, 0, b"img", True))  # while step is being written
    assert node.conf_state == ConfState(voters=frozenset({1, 2, 3}))  # untouched
    proc.finish(step, step.write(proc.store))  # the change applies to the configuration it was
    assert node.conf_state == with_learner  # computed against, not to the snapshot's
    assert InstallSnapshotResponse(1, 2, 1, 9, 0, reject=True) in outbox(node, storage)
    node.step(InstallSnapshot(1, 1, 2, meta, 0, b"img", True))  # the leader's restart
    rd = drive(node, storage)
    assert rd.snapshot == Snapshot(meta, b"img") and node.applied == 9
