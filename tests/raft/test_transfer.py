"""Leadership transfer (Raft thesis §3.10): catch the target up, then TimeoutNow; proposals are
dropped meanwhile; the transfer is aborted after an election timeout."""

from __future__ import annotations

import random

import pytest

from aspen.raft import (
    ConfChange,
    ConfState,
    Entry,
    EntryKind,
    HardState,
    MemoryStorage,
    NotLeader,
    ProposalDropped,
    RaftConfig,
    RaftError,
    RawNode,
    Role,
)
from aspen.raft import ConfChangeKind as K
from aspen.raft.messages import AppendEntries, RequestVote, TimeoutNow
from tests.raft.harness import Network, drive


def test_transfer_to_up_to_date_follower() -> None:
    net = Network(3)
    net.elect(1)
    net.delivered.clear()
    net.nodes[1].transfer_leadership(2)
    net.send()
    assert net.delivered[0] == TimeoutNow(2, 1, 2)
    assert net.nodes[2].role is Role.LEADER and net.nodes[2].term == 3
    assert net.nodes[1].role is Role.FOLLOWER and net.nodes[1].leader == 2
    # The campaign skipped pre-vote and was marked as a transfer (it beats leader leases).
    votes = [m for m in net.delivered if isinstance(m, RequestVote)]
    assert votes and all(m.transfer and not m.pre_vote for m in votes)


def test_transfer_catches_target_up_first() -> None:
    net = Network(3)
    net.elect(1)
    net.isolate(3)
    for i in range(5):
        net.propose(1, b"%d" % i)
    net.recover()
    net.delivered.clear()
    net.nodes[1].transfer_leadership(3)
    net.send()
    kinds = [type(m) for m in net.delivered if m.to == 3 and m.frm == 1]
    assert AppendEntries in kinds and TimeoutNow in kinds
    assert kinds.index(AppendEntries) < kinds.index(TimeoutNow)
    assert net.nodes[3].role is Role.LEADER
    assert net.sms[3].data == [b"%d" % i for i in range(5)]


def test_proposals_dropped_while_transferring() -> None:
    net = Network(3)
    net.elect(1)
    net.isolate(3)
    net.nodes[1].transfer_leadership(3)
    assert net.nodes[1].status().lead_transferee == 3
    with pytest.raises(ProposalDropped):
        net.nodes[1].propose(b"x")
    with pytest.raises(ProposalDropped):
        net.nodes[1].propose_membership(ConfChange(((K.ADD_LEARNER, 4),)))


def test_transfer_aborted_after_election_timeout() -> None:
    net = Network(3)
    net.elect(1)
    net.isolate(3)
    net.nodes[1].transfer_leadership(3)
    for _ in range(9):
        net.tick(1)
    assert net.nodes[1].status().lead_transferee == 3
    net.tick(1)
    assert net.nodes[1].status().lead_transferee == 0
    assert net.nodes[1].role is Role.LEADER
    net.propose(1, b"accepted again")
    assert net.sms[2].data == [b"accepted again"]


def test_transfer_arguments() -> None:
    net = Network(3, learners=[4])
    net.elect(1)
    net.nodes[1].transfer_leadership(1)  # to ourselves: nothing to do
    assert net.nodes[1].status().lead_transferee == 0
    with pytest.raises(RaftError):
        net.nodes[1].transfer_leadership(4)  # a learner cannot lead
    with pytest.raises(RaftError):
        net.nodes[1].transfer_leadership(9)
    with pytest.raises(NotLeader):
        net.nodes[2].transfer_leadership(3)


def test_retarget_transfer() -> None:
    net = Network(3)
    net.elect(1)
    net.isolate(3)
    net.nodes[1].transfer_leadership(3)
    net.nodes[1].transfer_leadership(3)  # same target: still pending
    assert net.nodes[1].status().lead_transferee == 3
    net.nodes[1].transfer_leadership(2)
    net.send()
    assert net.nodes[2].role is Role.LEADER


def test_target_with_unapplied_membership_change_does_not_campaign() -> None:
    # A node must not campaign with a configuration it has not caught up on (etcd's rule):
    # TimeoutNow is ignored until the committed membership entry is applied.
    storage = MemoryStorage()
    cc = ConfChange(((K.ADD_LEARNER, 4),))
    storage.append([Entry(1, 1), Entry(1, 2, EntryKind.CONF_CHANGE, cc.encode())])
    storage.set_hard_state(HardState(term=1, commit=2))
    storage.set_conf_state(ConfState(voters=frozenset({1, 2, 3})))
    node = RawNode(RaftConfig(id=2, applied=1), storage, random.Random(0))
    node.step(TimeoutNow(1, 1, 2))
    assert node.role is Role.FOLLOWER
    rd = drive(node, storage)
    assert [e.index for e in rd.committed_entries] == [2]
    node.step(TimeoutNow(1, 1, 2))
    assert node.role is Role.CANDIDATE
