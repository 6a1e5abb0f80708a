"""The interface between the lab and the system under test.

A ``DB`` knows how to turn a runtime's nodes into a cluster (command lines, initialisation),
how to ask a node about its state, and how to make clients. Everything else in the lab —
runner, nemeses, workloads, checkers — talks to the system only through it, so another store
(etcd, say) fits by writing one more ``DB``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from lab.workloads.base import Completion, Invocation

if TYPE_CHECKING:
    from lab.context import RunContext


@dataclass(frozen=True, slots=True)
class NodeStatus:
    node_id: int
    role: str
    term: int
    leader: int
    commit: int
    applied: int
    voters: frozenset[int] = frozenset()
    learners: frozenset[int] = frozenset()
    extra: dict[str, object] = field(default_factory=dict)


def agreed_leader(statuses: Sequence[NodeStatus | None]) -> int | None:
    """The leader a majority of the answering nodes name, or None (ties go to the lower id)."""
    votes: dict[int, int] = {}
    for s in statuses:
        if s is not None and s.leader:
            votes[s.leader] = votes.get(s.leader, 0) + 1
    if not votes:
        return None
    leader, count = max(votes.items(), key=lambda kv: (kv[1], -kv[0]))
    answering = sum(1 for s in statuses if s is not None)
    return leader if count * 2 > answering else None


class Client(Protocol):
    """Performs invocations against one node and classifies every outcome as ok/fail/info."""

    async def invoke(self, inv: Invocation) -> Completion: ...

    async def close(self) -> None: ...


class DB(Protocol):
    """One system under test, as the lab drives it (Jepsen's *db*): how to start one node of it
    on a runtime (the runtime kills, pauses and wipes the process), form the cluster, find the
    leader and the members, change membership, and make clients. See docs/byo-db.md."""

    name: str
    peer_links: str
    """``proxied``: nodes take per-link peer addresses from ``ctx.net`` (one Toxiproxy proxy
    per directed link); ``direct``: nodes reach each other at their own addresses, so network
    faults need per-node namespaces (`lab.runtime.netns`)."""
    runtimes: tuple[str, ...]
    """The runtimes that can run this db's nodes."""
    unsupported_faults: Mapping[str, str]
    """Faults (by nemesis name) this db cannot take part in, with why."""

    async def setup(self, ctx: RunContext) -> None:
        """Start every node and form the cluster; returns once a leader serves writes."""
        ...

    def start_node(
        self, ctx: RunContext, node_id: int, env: Mapping[str, str] | None = None
    ) -> None:
        """(Re)start one node's process with its usual command (plus ``env``, if given)."""
        ...

    async def status(self, ctx: RunContext, node_id: int) -> NodeStatus | None:
        """The node's view of the cluster, or None if it does not answer."""
        ...

    async def leader(self, ctx: RunContext) -> int | None:
        """The node a majority of answering nodes names as leader, or None."""
        ...

    def client(self, ctx: RunContext, node_id: int, *, stale_reads: bool = False) -> Client: ...

    async def remove_member(self, ctx: RunContext, node_id: int) -> None: ...

    async def add_learner(self, ctx: RunContext, node_id: int) -> None: ...

    async def promote(self, ctx: RunContext, node_ids: Sequence[int]) -> None: ...

    async def teardown(self, ctx: RunContext) -> None: ...
