"""The NodeService a running Aspen node offers: KV and cluster operations on top of the driver.

Writes become commands in the Raft log (``aspen.kv.commands``) and are answered with what
applying them did. Linearizable reads wait for a ReadIndex barrier and then read local state;
stale reads read local state at once. Peer addresses are replicated as records under a reserved
key prefix, so every node (and every ticket) agrees on where members live.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aspen.kv.commands import Cas, Command, CommandResult, Delete, Put, SetMulti, encode
from aspen.node.driver import RaftDriver
from aspen.node.peers import (
    RESERVED_END,
    RESERVED_PREFIX,
    AddressBook,
    encode_peer,
    peer_key,
)
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
    UnknownOutcomeError,
    WriteResult,
)
from aspen.node.storage import NodeStorage
from aspen.raft.messages import NONE, ConfChange, ConfChangeKind, ConfState
from aspen.raft.ready import Role
from aspen.storage.errors import StorageFullError
from aspen.storage.snapfile import SnapshotFile
from aspen.storage.space import Headroom, MapUsage

MIN_FREE_DISK = 64 << 20
"""Below this much free disk, writes are refused (deletes may use half of it)."""
DEGRADED_FRACTION = 0.8


@dataclass(frozen=True, slots=True)
class Timeouts:
    proposal: float = 3.0
    read: float = 3.0
    init: float = 10.0
    transfer: float = 3.0
    """How long a leadership transfer may take (the core gives up after an election timeout)."""


DEFAULT_PROMOTE_MAX_LAG = 1000
"""A learner is promoted to voter only within this many entries of the leader's last index."""


class AspenService:
    def __init__(
        self,
        *,
        node_id: int,
        cluster_id: str,
        driver: RaftDriver,
        storage: NodeStorage,
        peers: AddressBook,
        self_address: PeerAddress,
        data_dir: Path,
        fsync: str,
        version: str,
        timeouts: Timeouts = Timeouts(),
        promote_max_lag: int = DEFAULT_PROMOTE_MAX_LAG,
    ) -> None:
        self._id = node_id
        self._cluster_id = cluster_id
        self._driver = driver
        self._storage = storage
        self._peers = peers
        self._self_address = self_address
        self._data_dir = data_dir
        self._fsync = fsync
        self._version = version
        self._t = timeouts
        self._promote_max_lag = promote_max_lag
        self._started = time.monotonic()
        self._snapshot_lock = asyncio.Lock()
        self._pending_bytes = 0
        self._measured: tuple[int, float, MapUsage, int] | None = None
        """What the writes admitted but not yet applied will cost (see ``aspen.storage.space``)."""

    @property
    def node_id(self) -> int:
        return self._id

    # --- helpers ------------------------------------------------------------------------------

    def _address_of(self, node_id: int) -> PeerAddress | None:
        if node_id == self._id:
            return self._self_address
        return self._peers.address(node_id)

    def _require_leader(self) -> None:
        """Membership and address changes are decided on the leader's view of the cluster,
        never a follower's (which may be stale): elsewhere they are redirected, as writes are."""
        node = self._driver.node
        if node.role is not Role.LEADER:
            leader = node.leader
            raise NotLeaderError(leader, self._address_of(leader) if leader != NONE else None)

    def _live(self, node_id: int) -> bool:
        """Leader only: whether ``node_id`` is known to be running now (us, or a member we
        heard from within the last election timeout: check-quorum resets the flag)."""
        if node_id == self._id:
            return True
        p = self._driver.node.status().progress.get(node_id)
        return p is not None and p.recent_active

    def _check_key(self, key: str) -> None:
        if key.startswith(RESERVED_PREFIX):
            raise InvalidRequestError("keys starting with \\u0000 are reserved for Aspen")

    def _admit(self, cmd: Command, size: int) -> int:
        """Refuse (507) a command the map or the disk cannot carry; else what it will cost.

        Measured from the map as the last storage write left it, plus the writes admitted and
        not yet applied: a burst cannot slip past the check. Deletes may go further, so that
        space can always be freed.
        """
        if self._driver.stalled is not None:
            raise StorageFullError(f"storage full, not accepting entries: {self._driver.stalled}")
        usage, disk_free = self._space()
        headroom = Headroom.for_map(usage.map_bytes)
        if isinstance(cmd, Delete):
            cost, floor = headroom.delete_cost(size), MIN_FREE_DISK // 2
            refusal = headroom.delete_refusal(usage, size, self._pending_bytes)
        else:
            cost, floor = headroom.write_cost(size), MIN_FREE_DISK
            refusal = headroom.write_refusal(usage, size, self._pending_bytes)
        if refusal is None and disk_free - self._pending_bytes < floor + cost:
            refusal = "disk almost full: writes are refused, reads still work"
        if refusal is not None:
            self._compact_if_it_helps(usage, headroom)
            raise StorageFullError(refusal)
        return cost

    def _space(self) -> tuple[MapUsage, int]:
        """The map's usage and the disk's free bytes, measured again whenever the driver wrote
        to storage since (or a second passed, for the disk): exact, at a fraction of the cost
        of measuring per write (~40 us) when many writes share one Ready."""
        now = time.monotonic()
        writes = self._driver.storage_writes
        cached = self._measured
        if cached is None or cached[0] != writes or now - cached[1] > 1.0:
            usage = self._storage.usage()
            cached = (writes, now, usage, shutil.disk_usage(self._data_dir).free)
            self._measured = cached
        return cached[2], cached[3]

    def _compact_if_it_helps(self, usage: MapUsage, headroom: Headroom) -> None:
        """A log, or a snapshot image larger than the state, is space a snapshot gives back."""
        stale_image = usage.snapshot_bytes - usage.kv_bytes
        if max(usage.log_bytes, stale_image) > headroom.reserve_bytes:
            self._driver.request_snapshot()

    async def _write(self, cmd: Command) -> tuple[int, CommandResult]:
        data = encode(cmd)
        cost = self._admit(cmd, len(data))
        self._pending_bytes += cost
        try:
            index, result = await self._driver.propose_command(data, self._t.proposal)
        finally:
            self._pending_bytes -= cost
        assert result is not None
        return index, result

    async def _read_point(self, consistency: Consistency) -> int:
        if consistency is Consistency.STALE:
            return self._driver.applied
        return await self._driver.read_barrier(self._t.read)

    # --- key-value ----------------------------------------------------------------------------

    async def put(self, key: str, value: str) -> WriteResult:
        self._check_key(key)
        index, _ = await self._write(Put(key, value))
        return WriteResult(index)

    async def delete(self, key: str) -> DeleteResult:
        self._check_key(key)
        index, result = await self._write(Delete(key))
        return DeleteResult(index, existed=result.previous is not None)

    async def cas(self, key: str, expected: str | None, new: str) -> CasResult:
        self._check_key(key)
        index, result = await self._write(Cas(key, expected, new))
        return CasResult(index, ok=result.ok, current=result.previous)

    async def set_multi(self, items: Sequence[tuple[str, str]]) -> WriteResult:
        for key, _ in items:
            self._check_key(key)
        index, _ = await self._write(SetMulti(tuple(items)))
        return WriteResult(index)

    async def get(self, key: str, consistency: Consistency) -> ReadResult:
        self._check_key(key)
        index = await self._read_point(consistency)
        # The state read may be ahead of the driver's applied index (the storage thread
        # applies first): report the index of the state itself, read with it.
        value, applied = self._storage.read(key)
        return ReadResult(value, max(index, applied))

    async def scan(
        self, prefix: str, limit: int, consistency: Consistency, start_after: str = ""
    ) -> ScanResult:
        index = await self._read_point(consistency)
        # Aspen's own records sort before every user key: start past them.
        if not prefix and start_after < RESERVED_END:
            start_after = RESERVED_END
        found, more = self._storage.scan(prefix, limit + 1, start_after)
        items = [(k, v) for k, v in found if not k.startswith(RESERVED_PREFIX)]
        truncated = more or len(items) > limit
        return ScanResult(items[:limit], max(index, self._driver.applied), truncated)

    # --- cluster ------------------------------------------------------------------------------

    async def init(self, members: Mapping[int, PeerAddress]) -> None:
        if self._id not in members:
            raise InvalidRequestError(f"this node ({self._id}) must be one of the members")
        if self._storage.last_index() > 0 or self._driver.node.conf_state.voters:
            raise ConflictError("this node is already part of an initialized cluster")
        for node_id, address in members.items():
            if node_id != self._id:
                self._peers.learn(node_id, address.raft)
        self._driver.bootstrap(ConfState(voters=frozenset(members)))
        deadline = time.monotonic() + self._t.init
        next_campaign = 0.0
        while self._driver.node.role is not Role.LEADER:
            now = time.monotonic()
            if now > deadline:
                raise UnavailableError("cluster initialized but no leader elected in time")
            if now >= next_campaign and self._driver.node.leader == NONE:
                self._driver.campaign()
                next_campaign = now + 1.0
            elif self._driver.node.leader not in (NONE, self._id):
                break  # another member won the election: it will replicate the records too
            await self._driver.wait_role_change(0.1)
        records = [(peer_key(n), encode_peer(a)) for n, a in sorted(members.items())]
        # If another member won the election, these records wait for an operator's add-peer:
        # until then peers are reached through static configuration or learned addresses.
        with contextlib.suppress(NotLeaderError):
            await self._write(SetMulti(tuple(records)))

    async def _record_peer(self, node_id: int, address: PeerAddress) -> WriteResult:
        index, _ = await self._write(Put(peer_key(node_id), encode_peer(address)))
        return WriteResult(index)

    async def add_peer(self, node_id: int, address: PeerAddress) -> WriteResult:
        """Record a member's addresses. The rule (issue #13): only for a current member (a
        newcomer's addresses are recorded by add-learner); the same addresses again are a no-op;
        a member that is LIVE keeps the addresses it has (409): a running node's address is a
        fact, not an opinion. To move a node, stop it first; once the leader has not heard
        from it for an election timeout its record may be replaced (or deleted)."""
        if node_id <= 0:
            raise InvalidRequestError("node_id must be a positive integer")
        self._require_leader()
        if node_id not in self._driver.node.conf_state.all_nodes():
            raise InvalidRequestError(
                f"node {node_id} is not a member: add it with /add-learner first",
                details={"node_id": node_id},
            )
        current = self._peers.replicated().get(node_id)
        if current == address:
            return WriteResult(self._driver.applied)
        if current is not None and self._live(node_id):
            raise ConflictError(
                f"node {node_id} is live at raft {current.raft}, http {current.http}: "
                "its addresses are not replaced while it runs",
                details={"node_id": node_id, "raft": current.raft, "http": current.http},
            )
        return await self._record_peer(node_id, address)

    async def remove_peer(self, node_id: int) -> WriteResult:
        """Delete a node's address record: undoes an add-peer (or the record a removed node
        left behind). A live member's record stays (409), as add-peer would not replace it."""
        if node_id <= 0:
            raise InvalidRequestError("node_id must be a positive integer")
        self._require_leader()
        if node_id not in self._peers.replicated():
            raise NotFoundError(f"no address record for node {node_id}")
        member = node_id in self._driver.node.conf_state.all_nodes()
        if member and self._live(node_id):
            raise ConflictError(
                f"node {node_id} is a live member: its address record stays",
                details={"node_id": node_id},
            )
        index, _ = await self._write(Delete(peer_key(node_id)))
        return WriteResult(index)

    async def add_learner(self, node_id: int, address: PeerAddress) -> WriteResult:
        if node_id <= 0:
            raise InvalidRequestError("node_id must be a positive integer")
        self._require_leader()
        conf = self._driver.node.conf_state
        if node_id in conf.voters:
            raise ConflictError(f"node {node_id} is already a voter")
        if node_id in conf.learners:
            await self.add_peer(node_id, address)
            return WriteResult(self._driver.applied)
        await self._record_peer(node_id, address)
        change = ConfChange(((ConfChangeKind.ADD_LEARNER, node_id),))
        return WriteResult(await self._driver.propose_membership(change, self._t.proposal))

    def _check_caught_up(self, newcomers: Set[int]) -> None:
        """Refuse (409, with the lag of each) to promote a learner that is not within
        ``promote_max_lag`` entries of our last index, or that never acknowledged an entry
        (match 0: it never started, or has not answered since this leader was elected): a
        voter that cannot vote yet brings the cluster one failure closer to an outage."""
        st = self._driver.node.status()
        last = self._storage.last_index()
        behind = {}
        for n in sorted(newcomers):
            p = st.progress.get(n)
            match = p.match if p is not None else 0
            if match == 0 or last - match > self._promote_max_lag:
                behind[str(n)] = {"match": match, "lag": last - match}
        if behind:
            raise ConflictError(
                f"learners not caught up (more than {self._promote_max_lag} entries behind "
                f"the leader's last index {last}): {', '.join(behind)}",
                details={"behind": behind, "last_index": last, "max_lag": self._promote_max_lag},
            )

    async def change_membership(self, voters: Set[int]) -> WriteResult:
        if not voters:
            raise InvalidRequestError("the voter set must not be empty")
        self._require_leader()
        conf = self._driver.node.conf_state
        members = conf.voters | conf.learners
        unknown = set(voters) - members
        if unknown:
            raise InvalidRequestError(
                f"not members (add them as learners first): {sorted(unknown)}"
            )
        if conf.joint:
            raise ConflictError("a membership change is still in progress")
        self._check_caught_up(set(voters) - conf.voters)
        changes = [(ConfChangeKind.ADD_VOTER, n) for n in sorted(set(voters) - conf.voters)]
        changes += [(ConfChangeKind.REMOVE, n) for n in sorted(conf.voters - set(voters))]
        if not changes:
            return WriteResult(self._driver.applied)
        index = await self._driver.propose_membership(ConfChange(tuple(changes)), self._t.proposal)
        return WriteResult(index)

    async def transfer_leadership(self, target: int | None) -> TransferResult:
        """Hand leadership over (Raft thesis §3.10) and wait until the new leader is known.

        Without ``target``, the voter with the most of our log. 409 if the transfer did not
        happen (the target did not take over within the core's election timeout), 504 if it
        is still under way at our deadline.
        """
        self._require_leader()
        node = self._driver.node
        st = node.status()
        voters = st.conf_state.voters | st.conf_state.voters_outgoing
        if target is None:
            others = [
                (-p.match, n) for n, p in st.progress.items() if n in voters and n != self._id
            ]
            if not others:
                raise ConflictError("no other voter to transfer leadership to")
            target = min(others)[1]
        elif target == self._id:
            return TransferResult(self._id, self._id, st.term)
        elif target not in voters:
            raise InvalidRequestError(
                f"node {target} is not a voter", details={"voters": sorted(voters)}
            )
        self._driver.transfer_leadership(target)
        deadline = time.monotonic() + self._t.transfer
        while True:
            leader = node.leader
            if leader not in (NONE, self._id):
                if leader != target:
                    raise ConflictError(
                        f"leadership moved to node {leader}, not {target}",
                        details={"leader_id": leader},
                    )
                return TransferResult(self._id, leader, node.term)
            if node.role is Role.LEADER and node.status().lead_transferee == NONE:
                raise ConflictError(
                    f"leadership transfer to node {target} did not happen (it did not take "
                    "over within an election timeout); this node is still the leader",
                    details={"leader_id": self._id, "target": target},
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise UnknownOutcomeError(
                    f"leadership transfer to node {target} still under way after "
                    f"{self._t.transfer}s"
                )
            await self._driver.wait_role_change(min(remaining, 0.05))

    async def trigger_snapshot(self) -> int:
        async with self._snapshot_lock:
            try:
                return await self._driver.snapshot_now()
            except StorageFullError as e:
                raise StorageFullError(f"no room to write a snapshot: {e}") from None

    async def snapshot_file(self) -> bytes:
        index, _conf, image = await asyncio.to_thread(self._storage.snapshot_image)
        return SnapshotFile(index, self._cluster_id, self._id, image).encode()

    def leader(self) -> tuple[int, PeerAddress | None]:
        leader = self._driver.node.leader
        if leader == NONE:
            return 0, None
        return leader, self._address_of(leader)

    def membership(self) -> Membership:
        conf = self._driver.node.conf_state
        ids = conf.all_nodes()
        addresses = {n: a for n in sorted(ids) if (a := self._address_of(n)) is not None}
        return Membership(conf.voters, conf.learners, conf.voters_outgoing, addresses)

    def cluster_id(self) -> str:
        return self._cluster_id

    def raft_metrics(self) -> dict[str, Any]:
        st = self._driver.node.status()
        usage = self._storage.usage()
        return {
            "id": st.id,
            "term": st.term,
            "vote": st.vote,
            "commit": st.commit,
            "applied": self._driver.applied,
            "leader": st.leader,
            "role": st.role.value,
            "voters": sorted(st.conf_state.voters),
            "learners": sorted(st.conf_state.learners),
            "voters_outgoing": sorted(st.conf_state.voters_outgoing),
            "last_log_index": self._storage.last_index(),
            "snapshot_index": self._storage.first_index() - 1,
            "progress": {
                str(n): {"match": p.match, "next": p.next, "state": p.state}
                for n, p in sorted(st.progress.items())
            },
            "transport": self._driver.transport_stats(),
            "rejected_messages": self._driver.rejected_messages(),
            "storage_stalled": int(self._driver.stalled is not None),
            "map_used_bytes": usage.used_bytes,
            "map_size_bytes": usage.map_bytes,
        }

    def node_info(self) -> dict[str, Any]:
        return {
            "id": self._id,
            "cluster_id": self._cluster_id,
            "raft": self._self_address.raft,
            "http": self._self_address.http,
            "version": self._version,
            "data_dir": str(self._data_dir),
            "fsync": self._fsync,
            "uptime_seconds": round(time.monotonic() - self._started, 3),
        }

    def health(self) -> list[HealthCheck]:
        checks = []
        conf = self._driver.node.conf_state
        if self.membership().removed(self._id):
            checks.append(
                HealthCheck(
                    "membership",
                    HealthStatus.FAIL,
                    "removed from the cluster: no longer a voter or learner",
                )
            )
        if not (conf.voters | conf.learners):
            checks.append(HealthCheck("leader", HealthStatus.DEGRADED, "cluster not initialized"))
        elif self._driver.node.leader == NONE:
            checks.append(HealthCheck("leader", HealthStatus.FAIL, "no leader known"))
        else:
            checks.append(
                HealthCheck("leader", HealthStatus.OK, f"leader is {self._driver.node.leader}")
            )
        usage = self._storage.usage()
        used = f"map {usage.fraction:.0%} full"
        refusal = Headroom.for_map(usage.map_bytes).write_refusal(usage, 0, self._pending_bytes)
        if self._driver.fatal is not None:
            checks.append(HealthCheck("storage", HealthStatus.FAIL, repr(self._driver.fatal)))
        elif self._driver.stalled is not None:
            detail = f"{used}; not accepting entries: {self._driver.stalled}"
            checks.append(HealthCheck("storage", HealthStatus.FAIL, detail))
        elif refusal is not None or usage.fraction > DEGRADED_FRACTION:
            detail = f"{used}; writes refused, deletes and reads served" if refusal else used
            checks.append(HealthCheck("storage", HealthStatus.DEGRADED, detail))
        else:
            checks.append(HealthCheck("storage", HealthStatus.OK, used))
        free = shutil.disk_usage(self._data_dir).free
        status = HealthStatus.OK if free >= MIN_FREE_DISK else HealthStatus.FAIL
        checks.append(HealthCheck("disk", status, f"{free >> 20} MiB free"))
        return checks

    def storage_bytes(self) -> int:
        return self._storage.size_bytes()
