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
    MemoryStorage,
    NotLeader,
    RaftConfig,
    RaftError,
    RawNode,
    Role,
)
from tests.raft.harness import Network


def new_node(node: int = 1, **kw: object) -> tuple[RawNode, MemoryStorage]:
    storage = MemoryStorage()
    return RawNode(RaftConfig(id=node, **kw), storage, random.Random(node)), storage  # type: ignore[arg-type]


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
