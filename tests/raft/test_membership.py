"""Membership changes: learners, joint consensus for every voter-set change (Raft §6), one change
at a time, and a new leader finishing a half-done change."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from aspen.raft import (
    ConfChange,
    ConfState,
    EntryKind,
    InvalidConfChange,
    ProposalDropped,
    Role,
)
from aspen.raft import ConfChangeKind as K
from aspen.raft.messages import AppendEntries, Message
from tests.raft.harness import Network


def cs(
    voters: set[int], learners: set[int] = frozenset(), outgoing: set[int] = frozenset()
) -> ConfState:  # type: ignore[assignment]
    return ConfState(frozenset(voters), frozenset(learners), frozenset(outgoing))


def cc(*changes: tuple[K, int]) -> ConfChange:
    return ConfChange(tuple(changes))


def conf_entries(net: Network, node: int) -> list[ConfChange]:
    s = net.storages[node]
    return [
        ConfChange.decode(e.data)
        for e in s.entries(s.first_index(), s.last_index() + 1)
        if e.kind is EntryKind.CONF_CHANGE
    ]


def record_confs(net: Network) -> dict[int, list[ConfState]]:
    """Every configuration each node's driver persists, in order."""
    seen: dict[int, list[ConfState]] = {n: [] for n in net.storages}
    for node, storage in net.storages.items():
        original = storage.set_conf_state

        def spy(conf: ConfState, node: int = node, original=original) -> None:  # type: ignore[no-untyped-def]
            seen[node].append(conf)
            original(conf)

        storage.set_conf_state = spy  # type: ignore[method-assign]
    return seen


def leader3() -> Network:
    net = Network(3)
    net.elect(1)
    return net


# --- learners ----------------------------------------------------------------------------------


def test_add_learner_applies_directly_and_replicates() -> None:
    net = leader3()
    net.add_node(4)
    net.nodes[1].propose_membership(cc((K.ADD_LEARNER, 4)))
    net.send()
    for n in (1, 2, 3, 4):
        assert net.nodes[n].conf_state == cs({1, 2, 3}, {4})
    net.propose(1, b"a")
    assert net.sms[4].data == [b"a"]
    assert len(conf_entries(net, 1)) == 2  # bootstrap + the learner change: no leave needed


def test_learner_does_not_count_for_commit() -> None:
    net = Network(3, learners=[4])
    net.elect(1)
    net.cut(1, 2)
    net.cut(1, 3)
    index = net.propose(1, b"a")
    assert net.nodes[4].raft.log.last_index() == index  # the learner has it...
    assert net.nodes[1].commit < index  # ...but only voters count


def test_learner_never_campaigns_even_when_leader_dies() -> None:
    net = Network(1, learners=[2])
    net.elect(1)
    net.crash(1)
    net.elapse(100)
    assert net.nodes[2].role is Role.FOLLOWER and net.nodes[2].term == 2


def test_promote_learner_goes_through_joint() -> None:
    net = Network(3, learners=[4])
    net.elect(1)
    seen = record_confs(net)
    net.nodes[1].propose_membership(cc((K.ADD_VOTER, 4)))
    net.send()
    assert seen[4] == [cs({1, 2, 3, 4}, outgoing={1, 2, 3}), cs({1, 2, 3, 4})]
    assert net.nodes[4].conf_state == cs({1, 2, 3, 4})


def test_demote_voter_to_learner() -> None:
    net = leader3()
    seen = record_confs(net)
    net.nodes[1].propose_membership(cc((K.ADD_LEARNER, 3)))
    net.send()
    assert seen[1] == [cs({1, 2}, {3}, {1, 2, 3}), cs({1, 2}, {3})]
    net.propose(1, b"a")
    assert net.sms[3].data == [b"a"]  # still replicated to, as a learner


# --- joint consensus ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "final"),
    [
        (cc((K.ADD_VOTER, 4)), {1, 2, 3, 4}),
        (cc((K.REMOVE, 3)), {1, 2}),
        (cc((K.REMOVE, 3), (K.ADD_VOTER, 4)), {1, 2, 4}),
        (cc((K.ADD_VOTER, 4), (K.ADD_VOTER, 5)), {1, 2, 3, 4, 5}),
    ],
    ids=["add", "remove", "replace", "add-two"],
)
def test_voter_change_enters_and_then_leaves_joint(change: ConfChange, final: set[int]) -> None:
    # Raft §6: C_old,new is committed first, then the leader proposes C_new by itself.
    net = leader3()
    for n in (4, 5):
        net.add_node(n)
    seen = record_confs(net)
    net.nodes[1].propose_membership(change)
    net.send()
    assert seen[1] == [cs(final, outgoing={1, 2, 3}), cs(final)]
    assert conf_entries(net, 1)[-2:] == [change, ConfChange()]
    for n in final:
        assert net.nodes[n].conf_state == cs(final)
    net.propose(1, b"after")
    for n in final:
        assert net.sms[n].data == [b"after"]


def test_joint_config_needs_majority_of_both_halves() -> None:
    net = leader3()
    net.add_node(4)
    net.isolate(4)  # the newcomer is unreachable
    net.rewrite(drop_leave_from(1))  # hold the leave entry back for now
    net.nodes[1].propose_membership(cc((K.ADD_VOTER, 4)))
    net.send()
    assert net.nodes[1].conf_state == cs({1, 2, 3, 4}, outgoing={1, 2, 3})
    leave_index = net.nodes[1].raft.log.last_index()
    net.recover()
    net.isolate(4)
    net.cut(1, 3)
    net.elapse(3)
    # {1, 2} is a majority of C_old but not of C_new = {1, 2, 3, 4}: the leave cannot commit.
    assert net.nodes[2].raft.log.last_index() == leave_index
    assert net.nodes[1].commit < leave_index
    assert net.nodes[1].conf_state.joint
    net.recover()
    net.isolate(4)
    net.elapse(3)
    assert net.nodes[1].commit >= leave_index
    assert net.nodes[1].conf_state == cs({1, 2, 3, 4})


def test_remove_follower_stops_counting_it() -> None:
    net = leader3()
    net.nodes[1].propose_membership(cc((K.REMOVE, 3)))
    net.send()
    assert net.nodes[1].conf_state == cs({1, 2})
    net.crash(3)
    index = net.propose(1, b"a")
    assert net.nodes[1].commit == index
    assert 3 not in net.nodes[1].status().progress


def test_removed_leader_steps_down_after_leave_commits_and_hands_over() -> None:
    net = leader3()
    seen = record_confs(net)
    net.nodes[1].propose_membership(cc((K.REMOVE, 1)))
    net.send()
    # During the joint phase node 1 still led (it is in C_old); once C_new applied it left.
    assert seen[1] == [cs({2, 3}, outgoing={1, 2, 3}), cs({2, 3})]
    assert net.nodes[1].role is Role.FOLLOWER
    new = net.leader()
    assert new in (2, 3)  # elected at once: the old leader sent TimeoutNow
    net.elapse(100)
    assert net.nodes[1].role is Role.FOLLOWER  # a removed node never campaigns
    net.propose(new, b"x")
    assert net.sms[2].data == net.sms[3].data == [b"x"]


def test_one_change_at_a_time() -> None:
    net = leader3()
    net.add_node(4)
    net.add_node(5)
    net.isolate(2)
    net.isolate(3)  # nothing commits
    net.nodes[1].propose_membership(cc((K.ADD_LEARNER, 4)))
    with pytest.raises(ProposalDropped):
        net.nodes[1].propose_membership(cc((K.ADD_LEARNER, 5)))
    net.recover()
    net.send()
    net.nodes[1].propose_membership(cc((K.ADD_LEARNER, 5)))  # applied now: allowed
    net.send()
    assert net.nodes[1].conf_state == cs({1, 2, 3}, {4, 5})


def test_no_change_while_joint() -> None:
    net = leader3()
    net.add_node(4)
    net.rewrite(drop_leave_from(1))
    net.nodes[1].propose_membership(cc((K.ADD_VOTER, 4)))
    net.send()
    assert net.nodes[1].conf_state.joint
    with pytest.raises(ProposalDropped):
        net.nodes[1].propose_membership(cc((K.ADD_LEARNER, 5)))


def test_invalid_change_is_refused() -> None:
    net = Network(1)
    net.elect(1)
    with pytest.raises(InvalidConfChange):
        net.nodes[1].propose_membership(cc((K.REMOVE, 1)))
    with pytest.raises(InvalidConfChange):
        net.nodes[1].propose_membership(ConfChange())


def drop_leave_from(frm: int) -> Callable[[Message], Message]:
    def fn(m: Message) -> Message:
        if isinstance(m, AppendEntries) and m.frm == frm:
            kept = tuple(
                e for e in m.entries if not (e.kind is EntryKind.CONF_CHANGE and not e.data)
            )
            return replace(m, entries=kept)
        return m

    return fn


def test_new_leader_completes_half_done_joint_change() -> None:
    net = leader3()
    net.add_node(4)
    net.rewrite(drop_leave_from(1))  # node 1 never gets its leave entry out
    net.nodes[1].propose_membership(cc((K.ADD_VOTER, 4)))
    net.send()
    for n in (2, 3, 4):
        assert net.nodes[n].conf_state == cs({1, 2, 3, 4}, outgoing={1, 2, 3})
    net.crash(1)
    net.recover()
    new = net.wait_leader()
    # The new leader holds the applied joint config and proposes the leave itself.
    for n in (2, 3, 4):
        assert net.nodes[n].conf_state == cs({1, 2, 3, 4})
    assert conf_entries(net, new)[-1] == ConfChange()


def test_uncommitted_change_never_takes_effect() -> None:
    # Configurations take effect when applied, so an entry a new leader truncates had none.
    net = leader3()
    net.add_node(4)
    net.isolate(1)
    net.nodes[1].propose_membership(cc((K.ADD_VOTER, 4)))
    net.send()
    assert net.nodes[1].conf_state == cs({1, 2, 3})
    net.elapse(30)
    new = net.leader()
    assert new in (2, 3)
    net.propose(new, b"x")
    net.recover()
    net.elapse(5)
    assert net.nodes[1].role is Role.FOLLOWER
    assert net.log(1) == net.log(new)  # the change was truncated
    assert all(
        not c.changes or c.changes[0][0] is not K.ADD_VOTER or c.changes[0][1] != 4
        for c in conf_entries(net, 1)
    )
    assert net.nodes[1].conf_state == cs({1, 2, 3})
