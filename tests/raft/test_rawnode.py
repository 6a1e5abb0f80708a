"""RawNode's driver-facing contract: bootstrap, Ready contents and placement, advance, status."""

from __future__ import annotations

import random

import pytest

from aspen.raft import (
    ConfChange,
    ConfChangeKind,
    ConfState,
    Entry,
    EntryKind,
    HardState,
    InvariantViolation,
    MemoryStorage,
    NotLeader,
    RaftConfig,
    RaftError,
    RawNode,
    Ready,
    Role,
    SoftState,
)
from aspen.raft.messages import AppendEntries, Heartbeat, RequestVote, RequestVoteResponse
from tests.raft.harness import Network, drive


def new_node(node: int = 1, voters: tuple[int, ...] = ()) -> tuple[RawNode, MemoryStorage]:
    """A node with an empty log and the configuration ``voters`` (none: a blank node)."""
    storage = MemoryStorage()
    storage.set_conf_state(ConfState(voters=frozenset(voters)))
    return RawNode(RaftConfig(id=node), storage, random.Random(node)), storage


def test_bootstrap_ready_carries_conf_entry_and_hard_state() -> None:
    node, _ = new_node()
    conf = ConfState(voters=frozenset({1, 2, 3}), learners=frozenset({4}))
    node.bootstrap(conf)
    assert node.conf_state == conf  # takes effect at once
    rd = node.ready()
    cc = ConfChange(
        (
            (ConfChangeKind.ADD_VOTER, 1),
            (ConfChangeKind.ADD_VOTER, 2),
            (ConfChangeKind.ADD_VOTER, 3),
            (ConfChangeKind.ADD_LEARNER, 4),
        )
    )
    assert rd.entries == [Entry(1, 1, EntryKind.CONF_CHANGE, cc.encode())]
    assert rd.hard_state == HardState(term=1, vote=0, commit=1)
    assert rd.committed_entries == []  # not yet persisted


def test_bootstrap_entry_is_committed_after_persisting_and_reapplying_is_noop() -> None:
    node, storage = new_node()
    conf = ConfState(voters=frozenset({1, 2, 3}))
    node.bootstrap(conf)
    rd = node.ready()
    storage.append(rd.entries)
    assert rd.hard_state is not None
    storage.set_hard_state(rd.hard_state)
    node.advance(rd)
    rd = node.ready()
    assert [e.index for e in rd.committed_entries] == [1]
    assert node.apply_conf_change(ConfChange.decode(rd.committed_entries[0].data)) == conf
    node.advance(rd)
    assert node.applied == 1
    assert not node.has_ready()


def test_bootstrap_refused_on_non_empty_node() -> None:
    node, _ = new_node()
    node.bootstrap(ConfState(voters=frozenset({1})))
    with pytest.raises(RaftError):
        node.bootstrap(ConfState(voters=frozenset({1})))


def test_single_node_elects_itself_and_commits() -> None:
    net = Network(1)
    net.elect(1)
    index = net.propose(1, b"a")
    assert net.nodes[1].commit == index == 3
    assert net.sms[1].data == [b"a"]


def test_three_nodes_replicate() -> None:
    net = Network(3)
    net.elect(1)
    for i in range(10):
        net.propose(1, b"v%d" % i)
    for n in (1, 2, 3):
        assert net.sms[n].data == [b"v%d" % i for i in range(10)]
        assert net.nodes[n].commit == 12


def test_propose_on_follower_raises_not_leader_with_hint() -> None:
    net = Network(3)
    net.elect(1)
    with pytest.raises(NotLeader) as exc:
        net.nodes[2].propose(b"x")
    assert exc.value.leader == 1


def test_status_reports_progress_only_on_leader() -> None:
    net = Network(3)
    net.elect(1)
    st = net.nodes[1].status()
    assert st.role is Role.LEADER and st.leader == 1 and st.term == 2
    assert set(st.progress) == {1, 2, 3}
    assert st.progress[2].state == "replicate" and st.progress[2].match == 2
    assert net.nodes[2].status().progress == {}


# --- Ready: where each message goes ---------------------------------------------------------------


def placements(net: Network) -> dict[str, set[str]]:
    where: dict[str, set[str]] = {}

    def spy(node: int, rd: Ready) -> None:
        for attr in ("messages", "persisted_messages"):
            for m in getattr(rd, attr):
                name = type(m).__name__
                if isinstance(m, RequestVote | RequestVoteResponse) and m.pre_vote:
                    name = "Pre" + name
                where.setdefault(name, set()).add(attr)

    net.on_ready = spy
    return where


def test_every_message_type_goes_where_the_driver_expects() -> None:
    net = Network(3, snapshot_chunk_size=16, seed=4)
    where = placements(net)
    net.elect(1)  # pre-vote, vote
    net.isolate(3)
    for i in range(5):
        net.propose(1, b"%d" % i)
    net.snapshot(1)
    net.recover()
    net.elapse(2)  # heartbeats, snapshot chunks
    net.nodes[1].transfer_leadership(2)  # TimeoutNow
    net.send()
    assert where == {
        "PreRequestVote": {"messages"},
        "PreRequestVoteResponse": {"persisted_messages"},
        "RequestVote": {"persisted_messages"},
        "RequestVoteResponse": {"persisted_messages"},
        "AppendEntries": {"messages"},
        "AppendEntriesResponse": {"persisted_messages"},
        "Heartbeat": {"messages"},
        "HeartbeatResponse": {"persisted_messages"},
        "InstallSnapshot": {"messages"},
        "InstallSnapshotResponse": {"persisted_messages"},
        "TimeoutNow": {"messages"},
    }


# --- Ready / advance ------------------------------------------------------------------------------


def test_leader_counts_its_own_entry_only_once_persisted() -> None:
    node, storage = new_node(1, voters=(1,))
    node.campaign()
    drive(node, storage)
    drive(node, storage)
    assert node.role is Role.LEADER
    index = node.propose(b"a")
    rd = node.ready()
    assert [e.index for e in rd.entries] == [index]
    assert rd.hard_state is None  # not committed: not even on the leader's own disk yet
    assert rd.committed_entries == []
    storage.append(rd.entries)
    node.advance(rd)
    assert node.commit == index
    rd = node.ready()
    assert rd.hard_state is not None and rd.hard_state.commit == index
    assert [e.data for e in rd.committed_entries] == [b"a"]
    node.advance(rd)
    assert node.applied == index
    assert not node.has_ready()


def test_has_ready_reflects_pending_work() -> None:
    net = Network(3)
    net.elect(1)
    assert not net.nodes[1].has_ready()
    net.nodes[1].tick()  # a heartbeat is due
    assert net.nodes[1].has_ready()
    rd = net.nodes[1].ready()
    assert {type(m).__name__ for m in rd.messages} == {"Heartbeat"}
    net.nodes[1].advance(rd)
    assert not net.nodes[1].has_ready()


def test_soft_state_reported_on_change_only() -> None:
    net = Network(3)
    rds: list[Ready] = []
    net.on_ready = lambda node, rd: rds.append(rd) if node == 2 else None
    net.elect(1)
    assert [rd.soft_state for rd in rds if rd.soft_state] == [SoftState(1, Role.FOLLOWER)]


def test_restart_restores_state_and_redelivers_unapplied_entries() -> None:
    net = Network(3)
    net.elect(1)
    for i in range(3):
        net.propose(1, b"%d" % i)
    storage = net.storages[2]
    # The state machine lost its last two entries (it had persisted applied = 3).
    node = RawNode(RaftConfig(id=2, applied=3), storage, random.Random(0))
    assert (node.term, node.commit, node.applied) == (2, 5, 3)
    assert node.conf_state == ConfState(voters=frozenset({1, 2, 3}))
    assert node.role is Role.FOLLOWER and node.leader == 0
    rd = node.ready()
    assert [e.data for e in rd.committed_entries] == [b"1", b"2"]
    assert rd.hard_state is None and rd.entries == []


def test_applied_beyond_commit_is_an_invariant_violation() -> None:
    storage = MemoryStorage()
    storage.append([Entry(1, 1)])
    storage.set_hard_state(HardState(1, 0, 1))
    with pytest.raises(InvariantViolation):
        RawNode(RaftConfig(id=1, applied=2), storage, random.Random(0))


def test_entries_replaced_between_ready_and_advance_are_handed_out_again() -> None:
    node, storage = new_node(2, voters=(1, 2, 3))
    node.step(AppendEntries(1, 1, 2, 0, 0, (Entry(1, 1), Entry(1, 2)), 0))
    rd = node.ready()
    assert [e.index for e in rd.entries] == [1, 2]
    # Before the driver reports the write, a new leader replaces entry 2.
    node.step(AppendEntries(2, 3, 2, 1, 1, (Entry(2, 2),), 0))
    storage.append(rd.entries)
    node.advance(rd)
    rd = node.ready()
    assert rd.entries == [Entry(2, 2)]
    storage.append(rd.entries)
    node.advance(rd)
    assert storage.term(2) == 2


def test_message_for_another_node_is_refused() -> None:
    node, _ = new_node(1)
    with pytest.raises(RaftError):
        node.step(Heartbeat(1, 2, 3, 0))


def test_transfer_and_membership_on_follower_raise_not_leader() -> None:
    net = Network(3)
    net.elect(1)
    with pytest.raises(NotLeader):
        net.nodes[2].propose_membership(ConfChange(((ConfChangeKind.ADD_LEARNER, 4),)))
    net.nodes[2].report_unreachable(1)  # harmless on a follower


def test_status_is_a_frozen_snapshot() -> None:
    net = Network(3)
    net.elect(1)
    st = net.nodes[1].status()
    net.propose(1, b"x")
    assert st.commit == 2 and net.nodes[1].status().commit == 3
    assert st.conf_state.voters == {1, 2, 3}
    assert (st.vote, st.applied, st.lead_transferee) == (1, 2, 0)
