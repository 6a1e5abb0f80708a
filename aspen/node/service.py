"""What the HTTP API (and anything else serving clients) needs from a running node.

The HTTP layer is written against :class:`NodeService` only, so it can be tested with a fake
and so the driver (``aspen.node.driver``) stays free of HTTP concerns. Errors a client must
tell apart are distinct types: the HTTP layer maps each to one status code, and the client
library maps status codes to the three outcomes the lab relies on (ok / fail / unknown).

::

    ServiceError (AspenError)
    ├── NotLeaderError       421: this node cannot serve it; ``leader`` says who can
    ├── UnavailableError     503: definitely NOT done (no leader, not initialized, dropped)
    ├── UnknownOutcomeError  504: sent to Raft but no answer in time: may or may not happen
    ├── ConflictError        409: membership change in flight, already initialized, a learner
    │                        too far behind to promote, a live member's address
    ├── NotFoundError        404: no such record (``DELETE /peers/{id}``)
    └── InvalidRequestError  400: well-formed but not acceptable (unknown node id, ...)

    StorageFullError         507: writes refused, reads still work. The storage's own error
                             (`aspen.storage.errors`), passed through as it is: one meaning of
                             "full" from LMDB to the client

A ServiceError may carry ``details``: JSON-able fields the HTTP layer adds to the error body
(how far behind a learner is, the address a member is live at).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

from aspen.errors import AspenError


@dataclass(frozen=True, slots=True)
class PeerAddress:
    """Where to reach a node: ``raft`` is ``host:port`` for peers, ``http`` is ``host:port``."""

    raft: str
    http: str


class Consistency(enum.StrEnum):
    LINEARIZABLE = "linearizable"
    """ReadIndex: served only after a quorum confirms leadership and applied >= read index."""
    STALE = "stale"
    """Local state as it is: fast, may be stale. The lab uses it to prove it catches staleness."""


@dataclass(frozen=True, slots=True)
class WriteResult:
    index: int
    """The log index at which the write was applied."""


@dataclass(frozen=True, slots=True)
class DeleteResult:
    index: int
    existed: bool


@dataclass(frozen=True, slots=True)
class CasResult:
    index: int
    ok: bool
    current: str | None
    """The value the key had when the CAS was applied (what was compared)."""


@dataclass(frozen=True, slots=True)
class ReadResult:
    value: str | None
    index: int
    """The applied index the read was served at."""


@dataclass(frozen=True, slots=True)
class ScanResult:
    items: list[tuple[str, str]]
    index: int
    truncated: bool
    """True when more keys matched than ``limit``."""


class HealthStatus(enum.StrEnum):
    OK = "ok"
    DEGRADED = "degraded"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class HealthCheck:
    name: str
    status: HealthStatus
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Membership:
    voters: frozenset[int]
    learners: frozenset[int]
    voters_outgoing: frozenset[int] = frozenset()
    addresses: Mapping[int, PeerAddress] = field(default_factory=dict)

    def initialized(self) -> bool:
        return bool(self.voters or self.learners or self.voters_outgoing)

    def removed(self, node_id: int) -> bool:
        """Whether ``node_id`` is out of the cluster: no longer a voter or learner of the
        (incoming) configuration. In a joint configuration a voter that is only outgoing is
        already removed: the joint configuration was committed, so leaving it is certain."""
        return self.initialized() and node_id not in self.voters | self.learners


@dataclass(frozen=True, slots=True)
class TransferResult:
    """A leadership transfer that happened: ``leader`` leads now, from ``term``."""

    previous: int
    leader: int
    term: int


class ServiceError(AspenError):
    """A request the node could not serve as asked."""

    details: Mapping[str, Any] = MappingProxyType({})
    """Extra JSON-able fields for the error body (an instance attribute when set)."""

    def __init__(self, *args: object, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(*args)
        if details is not None:
            self.details = details


class NotLeaderError(ServiceError):
    def __init__(self, leader_id: int = 0, leader: PeerAddress | None = None) -> None:
        where = f"node {leader_id} at {leader.http}" if leader else "unknown"
        super().__init__(f"not the leader; leader is {where}")
        self.leader_id = leader_id
        self.leader = leader


class UnavailableError(ServiceError):
    """The request was definitely not carried out; retrying later may work."""


class UnknownOutcomeError(ServiceError):
    """The request reached Raft but its fate is unknown (timeout, leadership lost)."""


class ConflictError(ServiceError):
    """The request conflicts with the cluster's state (change in flight, already initialized)."""


class InvalidRequestError(ServiceError):
    """The request is well-formed but cannot be accepted (unknown node id, bad member set)."""


class NotFoundError(ServiceError):
    """The thing the request names does not exist (a peer record to delete)."""


class NodeService(Protocol):
    """A node as seen by the HTTP API. Every coroutine may raise a ServiceError subclass."""

    @property
    def node_id(self) -> int: ...

    # --- key-value (writes go through Raft on the leader; NotLeaderError elsewhere) ---------
    async def put(self, key: str, value: str) -> WriteResult: ...

    async def delete(self, key: str) -> DeleteResult: ...

    async def cas(self, key: str, expected: str | None, new: str) -> CasResult: ...

    async def set_multi(self, items: Sequence[tuple[str, str]]) -> WriteResult: ...

    async def get(self, key: str, consistency: Consistency) -> ReadResult: ...

    async def scan(
        self, prefix: str, limit: int, consistency: Consistency, start_after: str = ""
    ) -> ScanResult:
        """Keys with ``prefix`` in order, after ``start_after`` (exclusive; "" = from the start)."""
        ...

    # --- cluster ------------------------------------------------------------------------------
    async def init(self, members: Mapping[int, PeerAddress]) -> None:
        """Bootstrap a new cluster with these voters (this node must be among them)."""
        ...

    async def add_peer(self, node_id: int, address: PeerAddress) -> WriteResult:
        """Record (replicate) a member's addresses without changing membership. Only for a
        current member, and never replacing the addresses of a member that is live."""
        ...

    async def remove_peer(self, node_id: int) -> WriteResult:
        """Delete a node's replicated address record (undo an add-peer). Not for a live
        member; NotFoundError when there is no record."""
        ...

    async def transfer_leadership(self, target: int | None) -> TransferResult:
        """Hand leadership to ``target`` (None: the most caught-up voter) and wait until the
        new leader is known; ConflictError if it did not happen."""
        ...

    async def add_learner(self, node_id: int, address: PeerAddress) -> WriteResult: ...

    async def change_membership(self, voters: Set[int]) -> WriteResult:
        """Make ``voters`` the voter set (joint consensus). Every id must already be a member
        (voter or learner); voters left out are removed from the cluster."""
        ...

    async def trigger_snapshot(self) -> int:
        """Snapshot the state machine now and compact the log; returns the snapshot index."""
        ...

    async def snapshot_file(self) -> bytes:
        """A consistent image of the state machine as applied now, as a snapshot file
        (:class:`aspen.storage.snapfile.SnapshotFile`): what ``aspen snapshot save`` keeps."""
        ...

    def leader(self) -> tuple[int, PeerAddress | None]:
        """The leader this node knows of (0, None when unknown)."""
        ...

    def membership(self) -> Membership: ...

    def cluster_id(self) -> str: ...

    def raft_metrics(self) -> dict[str, Any]:
        """JSON-able: id, term, vote, commit, applied, leader, role, voters, learners,
        last_log_index, snapshot_index, progress {id: {match, next, state}} (leader only)."""
        ...

    def node_info(self) -> dict[str, Any]:
        """JSON-able: id, cluster_id, raft/http addresses, version, data_dir, fsync mode."""
        ...

    def health(self) -> list[HealthCheck]: ...

    def storage_bytes(self) -> int:
        """Size of the data files, for /metrics."""
        ...
