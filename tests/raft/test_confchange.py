"""The membership change rules as pure functions (joint consensus, Raft §6)."""

from __future__ import annotations

import pytest

from aspen.raft import ConfChange, ConfState, InvalidConfChange, InvariantViolation, confchange
from aspen.raft import ConfChangeKind as K
from aspen.raft.errors import ProposalDropped


def cs(voters: set[int], learners: set[int] = set(), outgoing: set[int] = set()) -> ConfState:  # noqa: B006
    return ConfState(frozenset(voters), frozenset(learners), frozenset(outgoing))


def cc(*changes: tuple[K, int]) -> ConfChange:
    return ConfChange(tuple(changes))


def test_change_on_empty_config_applies_directly() -> None:
    assert confchange.apply(ConfState(), cc((K.ADD_VOTER, 1), (K.ADD_VOTER, 2))) == cs({1, 2})


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (cc((K.ADD_VOTER, 4)), cs({1, 2, 3, 4}, outgoing={1, 2, 3})),
        (cc((K.REMOVE, 3)), cs({1, 2}, outgoing={1, 2, 3})),
        (cc((K.REMOVE, 3), (K.ADD_VOTER, 4)), cs({1, 2, 4}, outgoing={1, 2, 3})),
        (cc((K.REMOVE, 1)), cs({2, 3}, outgoing={1, 2, 3})),
    ],
    ids=["add", "remove", "replace", "remove-leader"],
)
def test_voter_changes_enter_joint(change: ConfChange, expected: ConfState) -> None:
    assert confchange.apply(cs({1, 2, 3}), change) == expected


def test_learner_only_changes_apply_directly() -> None:
    assert confchange.apply(cs({1, 2, 3}), cc((K.ADD_LEARNER, 4))) == cs({1, 2, 3}, {4})
    assert confchange.apply(cs({1, 2, 3}, {4}), cc((K.REMOVE, 4))) == cs({1, 2, 3})


def test_promote_learner_is_a_voter_change() -> None:
    got = confchange.apply(cs({1, 2, 3}, {4}), cc((K.ADD_VOTER, 4)))
    assert got == cs({1, 2, 3, 4}, outgoing={1, 2, 3})


def test_demoted_voter_keeps_voting_in_outgoing_half_until_leave() -> None:
    joint = confchange.apply(cs({1, 2, 3}), cc((K.ADD_LEARNER, 3)))
    assert joint == cs({1, 2}, {3}, {1, 2, 3})
    assert confchange.apply(joint, ConfChange()) == cs({1, 2}, {3})


def test_leave_joint() -> None:
    assert confchange.apply(cs({1, 2, 4}, outgoing={1, 2, 3}), ConfChange()) == cs({1, 2, 4})


def test_reapplying_is_a_noop() -> None:
    conf = cs({1, 2, 3})
    boot = confchange.from_conf_state(conf)
    assert confchange.apply(conf, boot) == conf
    joint = confchange.apply(conf, cc((K.ADD_VOTER, 4)))
    assert confchange.apply(joint, cc((K.ADD_VOTER, 4))) == joint
    assert confchange.apply(conf, ConfChange()) == conf  # leave when not joint


def test_new_change_while_joint_is_an_invariant_violation() -> None:
    with pytest.raises(InvariantViolation):
        confchange.apply(cs({1, 2, 4}, outgoing={1, 2, 3}), cc((K.ADD_VOTER, 5)))


def test_validate() -> None:
    with pytest.raises(ProposalDropped):
        confchange.validate(cs({1, 2}, outgoing={1}), cc((K.ADD_VOTER, 3)))
    with pytest.raises(InvalidConfChange):
        confchange.validate(cs({1}), cc((K.REMOVE, 1)))
    with pytest.raises(InvalidConfChange):
        confchange.validate(cs({1}), ConfChange())
    with pytest.raises(InvalidConfChange):
        confchange.validate(cs({1}), cc((K.ADD_VOTER, 0)))
    confchange.validate(cs({1}), cc((K.ADD_VOTER, 2)))


def test_from_conf_state_round_trips() -> None:
    conf = cs({3, 1, 2}, {5})
    change = confchange.from_conf_state(conf)
    assert change == cc((K.ADD_VOTER, 1), (K.ADD_VOTER, 2), (K.ADD_VOTER, 3), (K.ADD_LEARNER, 5))
    assert confchange.apply(ConfState(), change) == conf
    with pytest.raises(InvalidConfChange):
        confchange.from_conf_state(ConfState(learners=frozenset({1})))
