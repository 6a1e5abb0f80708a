"""Membership changes as pure functions of a ConfState (etcd's ``confchange/confchange.go``).

How a :class:`ConfChange` applies to a configuration:

* an empty change leaves the joint configuration (C_old,new -> C_new); on a simple
  configuration it is a no-op (re-applying a leave is harmless);
* a change whose result equals the current incoming configuration is a no-op (this is what makes
  re-applying the bootstrap entry harmless);
* applied to an EMPTY configuration, or changing only learners, it takes effect directly;
* any other change of the voter set enters the joint configuration
  ``voters=new, voters_outgoing=old`` (Raft §6). A voter demoted to learner is listed in
  ``learners`` while still in ``voters_outgoing``: it votes with the old half until the leave.

Every node applies the same entries in log order from the same starting configuration, so every
node reaches the same decision.
"""

from __future__ import annotations

from aspen.raft.errors import InvalidConfChange, InvariantViolation, ProposalDropped
from aspen.raft.messages import ConfChange, ConfChangeKind, ConfState


def _incoming_after(conf: ConfState, change: ConfChange) -> tuple[frozenset[int], frozenset[int]]:
    voters = set(conf.voters)
    learners = set(conf.learners)
    for kind, node in change.changes:
        if node <= 0:
            raise InvalidConfChange(f"node id must be > 0, got {node}")
        if kind is ConfChangeKind.ADD_VOTER:
            voters.add(node)
            learners.discard(node)
        elif kind is ConfChangeKind.ADD_LEARNER:
            learners.add(node)
            voters.discard(node)
        else:
            voters.discard(node)
            learners.discard(node)
    return frozenset(voters), frozenset(learners)


def validate(conf: ConfState, change: ConfChange) -> None:
    """Check a proposal against the configuration it will be applied to.

    Raises ``ProposalDropped`` while joint (the leave must come first) and
    ``InvalidConfChange`` for a change that can never be applied.
    """
    if conf.joint:
        raise ProposalDropped("in a joint configuration: wait for it to be left")
    if not change.changes:
        raise InvalidConfChange("an empty change (leave joint) but the configuration is simple")
    voters, _ = _incoming_after(conf, change)
    if not voters:
        raise InvalidConfChange("the change removes every voter")


def apply(conf: ConfState, change: ConfChange) -> ConfState:
    """The configuration after ``change`` (see the module docstring for the rules)."""
    if not change.changes:
        if not conf.joint:
            return conf
        return ConfState(voters=conf.voters, learners=conf.learners)
    voters, learners = _incoming_after(conf, change)
    if voters == conf.voters and learners == conf.learners:
        return conf
    if conf.joint:
        raise InvariantViolation(f"membership change {change} applied in joint config {conf}")
    if not voters:
        raise InvariantViolation(f"membership change {change} removes every voter of {conf}")
    if voters == conf.voters or not conf.voters:
        return ConfState(voters=voters, learners=learners)
    # A learner of the old config that stays a voter of the outgoing half cannot happen:
    # learners and voters are disjoint in `conf`, and `learners` here may only add nodes of
    # `conf.voters` (demotions), which the outgoing half keeps as voters until the leave.
    return ConfState(voters=voters, learners=learners, voters_outgoing=conf.voters)


def from_conf_state(conf: ConfState) -> ConfChange:
    """The single change that builds ``conf`` from an empty configuration (bootstrap)."""
    if conf.joint:
        raise InvalidConfChange("cannot bootstrap a joint configuration")
    if not conf.voters:
        raise InvalidConfChange("cannot bootstrap without voters")
    if conf.voters & conf.learners:
        raise InvalidConfChange("voters and learners overlap")
    return ConfChange(
        tuple((ConfChangeKind.ADD_VOTER, n) for n in sorted(conf.voters))
        + tuple((ConfChangeKind.ADD_LEARNER, n) for n in sorted(conf.learners))
    )
