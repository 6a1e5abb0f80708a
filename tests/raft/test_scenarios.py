"""Whole-cluster behaviour on the in-memory network: the scenarios the original Aspen ported from
openraft's test suite, rewritten for this core."""

from __future__ import annotations

from aspen.raft import (
    ConfChange,
    ConfState,
    Entry,
    EntryKind,
    HardState,
    Role,
)
from aspen.raft import ConfChangeKind as K
from aspen.raft.messages import (
    AppendEntries,
    AppendEntriesResponse,
    InstallSnapshot,
    RequestVote,
    RequestVoteResponse,
)
from tests.raft.harness import Network, make_node, make_storage, outbox


def terms(net: Network, node: int) -> list[int]:
    return [t for _, t, _ in net.log(node)]


def rejects_from(net: Network, node: int) -> list[AppendEntriesResponse]:
    return [
        m
        for m in net.delivered
        if isinstance(m, AppendEntriesResponse) and m.reject and m.frm == node
    ]


# --- initialization -------------------------------------------------------------------------------


def test_initialization_of_one_node_brings_up_the_cluster() -> None:
    net = Network(3, bootstrap="one")
    assert [net.nodes[n].raft.log.last_index() for n in (1, 2, 3)] == [1, 0, 0]
    net.elapse(1)
    lead = net.wait_leader()
    assert lead == 1  # the only node with a configuration; the others cannot campaign
    for n in (1, 2, 3):
        assert net.nodes[n].conf_state == ConfState(voters=frozenset({1, 2, 3}))
        assert terms(net, n) == [1, net.nodes[1].term]
        assert net.sms[n].applied == 2


def test_initialization_of_all_nodes_with_the_same_config() -> None:
    net = Network(3, bootstrap="all", seed=5)
    lead = net.wait_leader()
    for n in (1, 2, 3):
        assert terms(net, n) == [1, net.nodes[lead].term]
        assert net.nodes[n].conf_state.voters == {1, 2, 3}


def test_uninitialized_cluster_elects_nobody() -> None:
    net = Network(3, bootstrap="none")
    net.elapse(100)
    assert net.leader() == 0
    assert all(n.term == 0 for n in net.nodes.values())


# --- election ------------------------------------------------------------------------------------


def test_election_after_leader_crash_and_restart() -> None:
    net = Network(3, seed=1)
    lead = net.wait_leader()
    net.propose(lead, b"a")
    net.crash(lead)
    new = net.wait_leader()
    assert new != lead and net.nodes[new].term > 2
    net.propose(new, b"b")
    net.restart(lead)  # comes back with only its disk
    net.elapse(3)
    assert net.nodes[lead].role is Role.FOLLOWER and net.nodes[lead].leader == new
    assert net.sms[lead].data == [b"a", b"b"]


def test_restart_keeps_term_vote_and_commit() -> None:
    net = Network(3)
    net.elect(1)
    net.propose(1, b"a")
    before = net.storages[2].hard_state
    net.restart(2)
    node = net.nodes[2]
    assert (node.term, node.raft.vote, node.commit) == (before.term, before.vote, before.commit)
    assert node.applied == net.sms[2].applied  # the state machine keeps its applied index


def test_see_higher_vote_steps_leader_down() -> None:
    # A follower that has seen a higher term (a vote request) makes the leader step down once
    # they talk, and the next leader is elected in a higher term still.
    net = Network(3, seed=2)
    net.elect(1)
    net.isolate(2)
    net.elapse(12)  # node 2's lease on leader 1 expires (pre-vote keeps it from campaigning)
    net.nodes[2].step(RequestVote(10, 3, 2, 0, 0))  # a stale-log candidate: vote refused
    outbox(net.nodes[2], net.storages[2])
    assert net.nodes[2].term == 10 and net.nodes[2].raft.vote == 0
    net.recover()
    net.elapse(1)
    assert net.nodes[1].role is not Role.LEADER or net.nodes[1].term > 10
    lead = net.wait_leader()
    assert net.nodes[lead].term > 10


def test_heartbeat_keeps_followers_from_voting_for_a_disruptor() -> None:
    net = Network(3)
    net.elect(1)
    net.elapse(3)
    net.delivered.clear()
    net.nodes[2].step(RequestVote(7, 3, 2, 99, 7))
    net.nodes[2].step(RequestVote(7, 3, 2, 99, 7, pre_vote=True))
    net.send()
    assert not [m for m in net.delivered if isinstance(m, RequestVoteResponse)]
    assert net.nodes[2].term == 2 and net.leader() == 1


# --- append conflicts (on one follower) -----------------------------------------------------------


def test_append_conflicts() -> None:
    node, storage = make_node(2, term=1)

    def append(prev: tuple[int, int], ents: list[tuple[int, int]], commit: int = 0) -> object:
        es = tuple(Entry(t, i, data=b"%d.%d" % (i, t)) for i, t in ents)
        node.step(AppendEntries(3, 1, 2, prev[0], prev[1], es, commit))
        (reply,) = [m for m in outbox(node, storage) if isinstance(m, AppendEntriesResponse)]
        return (reply.index, reply.reject, reply.hint_index, reply.hint_term)

    # empty log, empty append at 0: accepted
    assert append((0, 0), []) == (0, False, 0, 0)
    # missing prev entry: rejected, the hint says where our log ends
    assert append((5, 1), [(6, 1)]) == (5, True, 0, 0)
    # first entries
    assert append((0, 0), [(1, 1), (2, 1), (3, 1)]) == (3, False, 0, 0)
    # a duplicate of what we have changes nothing
    assert append((1, 1), [(2, 1)]) == (2, False, 0, 0)
    assert storage.last_index() == 3
    # inconsistent prev term: rejected, hint at the last entry of a term <= the leader's
    assert append((3, 2), [(4, 2)]) == (3, True, 3, 1)
    # conflicting entries are truncated and replaced
    assert append((1, 1), [(2, 3), (3, 3)]) == (3, False, 0, 0)
    assert [storage.term(i) for i in (1, 2, 3)] == [1, 3, 3]
    # a prev below our commit is answered with the commit
    assert append((3, 3), [], commit=3) == (3, False, 0, 0)
    assert append((1, 1), [(2, 3)]) == (3, False, 0, 0)


def test_append_backoff_and_rejoin_after_partition() -> None:
    net = Network(3, max_entries_per_msg=16)
    net.elect(1)
    net.isolate(3)
    for i in range(100):
        net.propose(1, b"%d" % i)
    net.delivered.clear()
    net.recover()
    net.elapse(2)
    assert len(rejects_from(net, 3)) <= 1  # no walking back one entry at a time
    assert net.log(3) == net.log(1)
    assert net.sms[3].data == net.sms[1].data


def test_large_inconsistent_log_is_replaced() -> None:
    # Node 2 led term 2 alone and wrote 60 entries nobody else has; node 1 leads term 3 with
    # 55 entries of its own. The conflicting tail is found in a round trip and replaced.
    storages = {
        1: make_storage(log_terms=[1] + [3] * 55, term=3, commit=1),
        2: make_storage(log_terms=[1] + [2] * 60, term=3, commit=1),
        3: make_storage(log_terms=[1] + [3] * 55, term=3, commit=1),
    }
    net = Network(storages=storages, pre_vote=False, max_entries_per_msg=64)
    net.elect(1)
    assert len(rejects_from(net, 2)) <= 2
    assert terms(net, 2) == [1] + [3] * 55 + [4]
    assert net.log(2) == net.log(1)


# --- membership --------------------------------------------------------------------------------


def test_three_membership_changes_in_one_append() -> None:
    net = Network(3)
    net.elect(1)
    net.isolate(3)
    for n in (4, 5, 6):
        net.add_node(n)
        net.nodes[1].propose_membership(ConfChange(((K.ADD_LEARNER, n),)))
        net.send()
    net.delivered.clear()
    net.recover()
    net.elapse(1)
    batches = [
        [e for e in m.entries if e.kind is EntryKind.CONF_CHANGE]
        for m in net.delivered
        if isinstance(m, AppendEntries) and m.to == 3
    ]
    assert max(len(b) for b in batches) == 3
    final = ConfState(voters=frozenset({1, 2, 3}), learners=frozenset({4, 5, 6}))
    assert net.nodes[3].conf_state == final
    assert net.storages[3].initial_state()[1] == final


def test_truncated_log_reverts_membership() -> None:
    # An uncommitted membership entry that a new leader overwrites never takes effect: node 1
    # keeps (and every node agrees on) the configuration of the committed log.
    net = Network(3)
    net.elect(1)
    net.add_node(4)
    net.isolate(1)
    net.nodes[1].propose_membership(ConfChange(((K.ADD_VOTER, 4),)))
    net.send()
    assert any(
        e.kind is EntryKind.CONF_CHANGE and ConfChange.decode(e.data).changes
        for e in net.storages[1].entries(3, net.storages[1].last_index() + 1)
    )
    net.elapse(30)
    new = net.leader()
    assert new in (2, 3)
    net.propose(new, b"x")
    net.recover()
    net.elapse(3)
    assert net.log(1) == net.log(new)  # the membership entry is gone
    for n in (1, 2, 3):
        assert net.nodes[n].conf_state == ConfState(voters=frozenset({1, 2, 3}))
    # The new leader can change membership from the committed configuration.
    net.nodes[new].propose_membership(ConfChange(((K.ADD_LEARNER, 4),)))
    net.send()
    assert net.nodes[1].conf_state.learners == {4}


# --- snapshots and lost state ---------------------------------------------------------------------


def test_snapshot_when_follower_lacks_log() -> None:
    net = Network(3, snapshot_chunk_size=64)
    net.elect(1)
    net.isolate(3)
    for i in range(40):
        net.propose(1, b"entry-%d" % i)
    net.snapshot(1)
    net.propose(1, b"after-snapshot")
    net.delivered.clear()
    net.recover()
    net.elapse(2)
    assert [m for m in net.delivered if isinstance(m, InstallSnapshot) and m.to == 3]
    assert net.sms[3].data == net.sms[1].data
    assert net.log(3)[-1] == net.log(1)[-1]


def test_install_snapshot_over_conflicting_log() -> None:
    # Node 3 holds entries of a dead term that were never committed; the leader has compacted
    # past them, so only a snapshot can repair node 3, and installing it drops that log.
    storages = {
        1: make_storage(log_terms=[1] + [3] * 20, term=3, commit=1),
        2: make_storage(log_terms=[1] + [3] * 20, term=3, commit=1),
        3: make_storage(log_terms=[1] + [2] * 30, term=3, commit=1),
    }
    net = Network(storages=storages, pre_vote=False, snapshot_chunk_size=32)
    net.isolate(3)
    net.elect(1)
    net.snapshot(1)
    net.recover()
    net.elapse(2)
    assert net.storages[3].snapshot().meta.index == 22
    assert net.log(3) == net.log(1)
    assert 2 not in terms(net, 3)
    assert net.nodes[3].commit == net.nodes[1].commit


def test_follower_wiped_and_restarted_recovers() -> None:
    net = Network(3)
    net.elect(1)
    for i in range(10):
        net.propose(1, b"%d" % i)
    net.wipe(3)  # disk lost: empty log, term 0
    assert net.nodes[3].raft.log.last_index() == 0
    net.elapse(3)
    assert net.log(3) == net.log(1)
    assert net.sms[3].data == [b"%d" % i for i in range(10)]
    assert net.nodes[1].status().progress[3].match == net.nodes[1].raft.log.last_index()
    assert net.leader() == 1  # the leader kept its place throughout


def test_follower_wiped_recovers_from_snapshot() -> None:
    net = Network(3, snapshot_chunk_size=16)
    net.elect(1)
    for i in range(10):
        net.propose(1, b"%d" % i)
    net.snapshot(1)
    net.wipe(3)
    net.elapse(4)
    assert net.sms[3].data == net.sms[1].data
    assert net.storages[3].snapshot().meta.index == net.storages[1].snapshot().meta.index


def test_restarted_node_with_unpersisted_ready_loses_nothing_committed() -> None:
    # A follower crashes right after a Ready was handed out but before persisting it: the
    # leader counted nothing it did not acknowledge, so committed entries survive elsewhere.
    net = Network(3)
    net.elect(1)
    lost: list[int] = []

    def crash_before_persist(node: int, rd: object) -> None:
        if node == 3 and getattr(rd, "entries", None) and not lost:
            lost.append(node)
            raise _Crash

    net.on_ready = crash_before_persist  # type: ignore[assignment]
    try:
        net.propose(1, b"a")
    except _Crash:
        net.crash(3)
    net.on_ready = None
    net.elapse(1)  # messages in flight at the crash were lost; the heartbeat round resends
    assert net.nodes[1].commit == 3  # committed by 1 and 2
    net.restart(3)
    net.elapse(2)
    assert net.sms[3].data == [b"a"]
    assert net.storages[3].hard_state != HardState()


class _Crash(Exception):
    pass
