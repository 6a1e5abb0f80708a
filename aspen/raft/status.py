"""A read-only snapshot of a node's Raft state, for metrics, debugging and tests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from aspen.raft.messages import ConfState
from aspen.raft.ready import Role


@dataclass(frozen=True, slots=True)
class PeerProgress:
    """The leader's view of one peer (see :class:`aspen.raft.progress.Progress`)."""

    match: int
    next: int
    state: str
    """``"probe"``, ``"replicate"`` or ``"snapshot"``."""
    recent_active: bool


@dataclass(frozen=True, slots=True)
class Status:
    id: int
    term: int
    vote: int
    commit: int
    applied: int
    leader: int
    role: Role
    conf_state: ConfState
    progress: Mapping[int, PeerProgress] = field(default_factory=dict)
    """Per member, including ourselves; only filled on the leader."""
    lead_transferee: int = 0
