"""An in-memory :class:`aspen.node.service.NodeService` for testing the HTTP API and its clients.

A dict is the state machine and a counter is the log. The role is switchable
(:meth:`FakeService.become_follower`), and :meth:`FakeService.on` queues what the next calls
of a method do instead of (or before) their normal work: raise a ServiceError, or await a
coroutine (to hold a request open).
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Mapping, Sequence, Set
from typing import Any

from aspen.node.service import (
    CasResult,
    ConflictError,
    Consistency,
    DeleteResult,
    HealthCheck,
    HealthStatus,
    InvalidRequestError,
    Membership,
    NotFoundError,
    NotLeaderError,
    PeerAddress,
    ReadResult,
    ScanResult,
    TransferResult,
    UnavailableError,
    WriteResult,
)

Action = Exception | Callable[[], Awaitable[None]]

WRITES = frozenset(
    {
        "put",
        "delete",
        "cas",
        "set_multi",
        "add_peer",
        "remove_peer",
        "add_learner",
        "change_membership",
        "transfer_leadership",
    }
)


class FakeService:
    def __init__(
        self,
        node_id: int = 1,
        *,
        address: PeerAddress | None = None,
        initialized: bool = True,
        cluster_id: str = "test-cluster",
    ) -> None:
        self._node_id = node_id
        self.address = address or PeerAddress(f"127.0.0.1:{7000 + node_id}", "127.0.0.1:1")
        self.data: dict[str, str] = {}
        self.index = 0
        self.term = 1
        self.role = "leader" if initialized else "follower"
        self.leader_id = node_id if initialized else 0
        self.leader_address: PeerAddress | None = self.address if initialized else None
        self.voters: set[int] = {node_id} if initialized else set()
        self.learners: set[int] = set()
        self.addresses: dict[int, PeerAddress] = {node_id: self.address} if initialized else {}
        self.initialized = initialized
        self.rejected: dict[str, int] = {}
        """Peer messages the core rejected, by check (as ``RawNode.rejected``)."""
        self._cluster_id = cluster_id
        self.checks = [HealthCheck("raft", HealthStatus.OK, "leader known")]
        self.storage = 65536
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self._actions: dict[str, deque[Action]] = defaultdict(deque)
        self._always: dict[str, Action] = {}

    # --- test controls ---------------------------------------------------------------------------

    def on(self, method: str, action: Action, *, times: int | None = 1) -> None:
        """The next ``times`` calls of ``method`` raise ``action`` or await ``action()`` first
        (``times=None``: every call, until :meth:`clear`)."""
        if times is None:
            self._always[method] = action
        else:
            self._actions[method].extend([action] * times)

    def clear(self) -> None:
        self._actions.clear()
        self._always.clear()

    def become_follower(self, leader_id: int = 0, leader: PeerAddress | None = None) -> None:
        self.role = "follower"
        self.leader_id = leader_id
        self.leader_address = leader
        if leader is not None:
            self.addresses[leader_id] = leader

    def become_leader(self) -> None:
        self.role = "leader"
        self.leader_id = self._node_id
        self.leader_address = self.address

    def set_http(self, http: str) -> None:
        """Record the address this node's app is served at (known only once it is bound)."""
        self.address = PeerAddress(self.address.raft, http)
        if self._node_id in self.addresses:
            self.addresses[self._node_id] = self.address
        if self.leader_id == self._node_id:
            self.leader_address = self.address

    async def _enter(self, method: str, *args: Any) -> None:
        self.calls.append((method, args))
        queued = self._actions.get(method)
        action = queued.popleft() if queued else self._always.get(method)
        if isinstance(action, Exception):
            raise action
        if action is not None:
            await action()
        if method in WRITES or method == "get_linearizable":
            if not self.initialized:
                raise UnavailableError("cluster not initialized")
            if self.role != "leader":
                raise NotLeaderError(self.leader_id, self.leader_address)

    def _next(self) -> int:
        self.index += 1
        return self.index

    # --- NodeService -----------------------------------------------------------------------------

    @property
    def node_id(self) -> int:
        return self._node_id

    async def put(self, key: str, value: str) -> WriteResult:
        await self._enter("put", key, value)
        self.data[key] = value
        return WriteResult(self._next())

    async def delete(self, key: str) -> DeleteResult:
        await self._enter("delete", key)
        existed = self.data.pop(key, None) is not None
        return DeleteResult(self._next(), existed)

    async def cas(self, key: str, expected: str | None, new: str) -> CasResult:
        await self._enter("cas", key, expected, new)
        current = self.data.get(key)
        ok = current == expected
        if ok:
            self.data[key] = new
        return CasResult(self._next(), ok, current)

    async def set_multi(self, items: Sequence[tuple[str, str]]) -> WriteResult:
        await self._enter("set_multi", tuple(items))
        self.data.update(items)
        return WriteResult(self._next())

    async def get(self, key: str, consistency: Consistency) -> ReadResult:
        await self._enter("get", key, consistency)
        if consistency is Consistency.LINEARIZABLE:
            await self._enter("get_linearizable")
        return ReadResult(self.data.get(key), self.index)

    async def scan(
        self, prefix: str, limit: int, consistency: Consistency, start_after: str = ""
    ) -> ScanResult:
        await self._enter("scan", prefix, limit, consistency)
        if consistency is Consistency.LINEARIZABLE:
            await self._enter("get_linearizable")
        keys = sorted(k for k in self.data if k.startswith(prefix) and k > start_after)
        items = [(k, self.data[k]) for k in keys[:limit]]
        return ScanResult(items, self.index, len(keys) > limit)

    async def init(self, members: Mapping[int, PeerAddress]) -> None:
        await self._enter("init", dict(members))
        if self.initialized:
            raise ConflictError("cluster already initialized")
        if self._node_id not in members:
            raise InvalidRequestError(f"this node ({self._node_id}) must be among the members")
        self.initialized = True
        self.voters = set(members)
        self.addresses.update(members)
        self.address = members[self._node_id]
        self.become_leader()

    async def add_peer(self, node_id: int, address: PeerAddress) -> WriteResult:
        await self._enter("add_peer", node_id, address)
        self.addresses[node_id] = address
        return WriteResult(self._next())

    async def remove_peer(self, node_id: int) -> WriteResult:
        await self._enter("remove_peer", node_id)
        if node_id in self.voters | self.learners:  # the fake's members are all live
            raise ConflictError(f"node {node_id} is a live member: its address record stays")
        if self.addresses.pop(node_id, None) is None:
            raise NotFoundError(f"no address record for node {node_id}")
        return WriteResult(self._next())

    async def transfer_leadership(self, target: int | None) -> TransferResult:
        await self._enter("transfer_leadership", target)
        others = sorted(self.voters - {self._node_id})
        if target is None:
            if not others:
                raise ConflictError("no other voter to transfer leadership to")
            target = others[0]
        elif target not in self.voters:
            raise InvalidRequestError(f"node {target} is not a voter")
        return TransferResult(self._node_id, target, self.term)  # the fake keeps its role

    async def add_learner(self, node_id: int, address: PeerAddress) -> WriteResult:
        await self._enter("add_learner", node_id, address)
        if node_id in self.voters:
            raise InvalidRequestError(f"node {node_id} is already a voter")
        self.learners.add(node_id)
        self.addresses[node_id] = address
        return WriteResult(self._next())

    async def change_membership(self, voters: Set[int]) -> WriteResult:
        await self._enter("change_membership", frozenset(voters))
        unknown = set(voters) - self.voters - self.learners
        if unknown:
            raise InvalidRequestError(f"not members: {sorted(unknown)}")
        self.learners -= set(voters)
        self.voters = set(voters)
        return WriteResult(self._next())

    async def trigger_snapshot(self) -> int:
        await self._enter("trigger_snapshot")
        return self.index

    async def snapshot_file(self) -> bytes:
        await self._enter("snapshot_file")
        from aspen.kv.state_machine import encode_snapshot
        from aspen.storage.snapfile import SnapshotFile

        image = encode_snapshot(self.index, sorted(self.data.items()))
        return SnapshotFile(self.index, "fake", 1, image).encode()

    def leader(self) -> tuple[int, PeerAddress | None]:
        return self.leader_id, self.leader_address

    def membership(self) -> Membership:
        return Membership(
            frozenset(self.voters), frozenset(self.learners), frozenset(), self.addresses
        )

    def cluster_id(self) -> str:
        return self._cluster_id

    def raft_metrics(self) -> dict[str, Any]:
        metrics: dict[str, Any] = {
            "id": self._node_id,
            "term": self.term,
            "vote": self.leader_id,
            "commit": self.index,
            "applied": self.index,
            "leader": self.leader_id,
            "role": self.role,
            "voters": sorted(self.voters),
            "learners": sorted(self.learners),
            "last_log_index": self.index,
            "snapshot_index": 0,
            "rejected_messages": dict(self.rejected),
        }
        if self.role == "leader":
            metrics["progress"] = {
                peer: {"match": max(0, self.index - 1), "next": self.index, "state": "replicate"}
                for peer in sorted(self.voters | self.learners)  # self too, as the driver does
            }
        return metrics

    def node_info(self) -> dict[str, Any]:
        return {
            "id": self._node_id,
            "cluster_id": self._cluster_id,
            "raft": self.address.raft,
            "http": self.address.http,
            "version": "test",
            "data_dir": "/nonexistent",
            "fsync": "never",
        }

    def health(self) -> list[HealthCheck]:
        return list(self.checks)

    def storage_bytes(self) -> int:
        return self.storage
