"""The asyncio loop around the Raft core: ticks, inputs, and Readies handed to the processor.

Each Ready is handled by :class:`aspen.raft.ready_processor.ReadyProcessor`, the same code the
simulator and the core's tests run; this module only adds what is asyncio's: the storage write
runs in a single worker thread, and while one Ready is being made durable the loop keeps
accepting proposals and messages, so they all land in the NEXT Ready and share its one durable
commit (group commit).

Proposal outcomes are exact, because the lab's checker depends on them: a proposal is answered
when the entry at its index is applied — with the result if that entry is ours (same term),
with :class:`UnavailableError` (it definitely did not happen) if another entry won that index,
and with :class:`UnknownOutcomeError` if neither happened before the caller's deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import heapq
import itertools
import logging
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, Protocol

from aspen.kv.commands import CommandResult
from aspen.node.service import (
    InvalidRequestError,
    NotLeaderError,
    UnavailableError,
    UnknownOutcomeError,
)
from aspen.node.storage import NodeStorage
from aspen.raft import RawNode
from aspen.raft.errors import (
    InvalidConfChange,
    InvariantViolation,
    NotLeader,
    PeerProtocolError,
    ProposalDropped,
    RaftError,
)
from aspen.raft.messages import (
    AppendEntries,
    ConfChange,
    ConfState,
    Entry,
    InstallSnapshot,
    Message,
)
from aspen.raft.ready import Ready, Role, SoftState
from aspen.raft.ready_processor import ReadyProcessor, Step
from aspen.storage.errors import StorageFullError

log = logging.getLogger(__name__)


class Transport(Protocol):
    def send(self, msg: Message) -> None: ...

    def stats(self) -> dict[str, Any]: ...


Answer = asyncio.Future[CommandResult | None]


class RaftDriver:
    """Runs one RawNode: ``start()`` spawns the ticker and the Ready loop, ``close()`` ends them."""

    def __init__(
        self,
        node: RawNode,
        storage: NodeStorage,
        transport: Transport,
        *,
        tick_seconds: float,
        leader_address: Callable[[int], Any] = lambda _id: None,
        on_applied: Callable[[Sequence[Entry]], None] = lambda _entries: None,
        snapshot_threshold: int = 10_000,
        snapshot_bytes: int | None = None,
        rebuild: Callable[[], RawNode] | None = None,
        full_backoff: tuple[float, float] = (0.2, 5.0),
        executor: Executor | None = None,
    ) -> None:
        """``executor`` runs the storage writes (default: one worker thread, so the loop keeps
        taking proposals while a write is made durable). The deterministic world
        (``aspen.sim.world``) passes one that runs each write at once, on the loop's thread:
        a thread would make the interleaving depend on the OS scheduler. It is shut down by
        :meth:`close`."""
        self._storage = storage
        self._transport = transport
        self._tick_seconds = tick_seconds
        self._leader_address = leader_address
        self._on_applied = on_applied
        self._snapshot_threshold = snapshot_threshold
        self._snapshot_bytes = snapshot_bytes
        self._bytes_since_snapshot = 0
        self._rebuild = rebuild
        self._full_backoff = full_backoff
        self._full_strikes = 0
        self._refuse_entries_until = 0.0
        self._refuse_snapshots_until = 0.0
        self.storage_writes = 0
        """Counts the writes that changed what storage holds (for ``AspenService._space``)."""
        self.stalled: str | None = None
        """Why the last Ready that carried entries could not be written (the map or disk is
        full); None once one could. See ``_recover_from_full``."""
        self._snapshot_task: asyncio.Task[int] | None = None
        self._snapshot_strikes = 0
        self._snapshot_not_before = 0.0
        """After a snapshot failed for want of room, background snapshots wait this long
        (`time` of the loop), backing off as ``full_backoff`` does: retried after every Ready,
        a map too full for an image failed (and logged) every few milliseconds."""
        self._role_changed = asyncio.Event()
        self._executor: Executor = (
            executor
            if executor is not None
            else ThreadPoolExecutor(1, thread_name_prefix="aspen-storage")
        )
        self._wake = asyncio.Event()
        self._reads: dict[bytes, asyncio.Future[int]] = {}
        self._applied_waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._read_ids = itertools.count(1)
        self._waiter_ids = itertools.count()
        self._tasks: list[asyncio.Task[None]] = []
        self._processor: ReadyProcessor[RawNode, CommandResult | None, Answer] = ReadyProcessor(
            node, storage, transport, _Answers(self), applied=storage.applied_index()
        )
        self.fatal: BaseException | None = None
        self._closed = asyncio.Event()

    @property
    def node(self) -> RawNode:
        return self._processor.node

    @node.setter
    def node(self, node: RawNode) -> None:
        """Replace the core (rebuilt from storage); proposals and reads parked stay."""
        self._processor.node = node

    @property
    def applied(self) -> int:
        """The state machine's applied index."""
        return self._processor.applied

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._essential("ticker", self._ticker()), name="raft-ticker"),
            asyncio.create_task(
                self._essential("ready loop", self._ready_loop()), name="raft-ready"
            ),
        ]
        self._wake.set()

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks = []
        if self._snapshot_task is not None:
            self._snapshot_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._snapshot_task
        self._fail_all(UnknownOutcomeError("node is shutting down"))
        self._executor.shutdown(wait=True)

    async def wait_closed_or_fatal(self) -> BaseException | None:
        """Returns when the Ready loop died (with its exception) or the driver was closed."""
        await self._closed.wait()
        return self.fatal

    # --- inputs -------------------------------------------------------------------------------

    def step(self, msg: Message) -> None:
        """Feed a peer's message to the core.

        A message no correct peer sends is rejected by the core (``PeerProtocolError``), counted
        there (:meth:`rejected_messages`) and logged here: the node goes on. An
        ``InvariantViolation`` is the node's OWN state breaking Raft: it is not a RaftError, is
        never dropped, and stops the node (the process exits non-zero). While storage is stalled
        (a full map), what it could not store is dropped as if lost: the leader sends it later
        (see ``_recover_from_full``).
        """
        if self.fatal is not None:
            return  # stopping: a core past a broken invariant must not act on anything more
        if self.stalled is not None and self._refuses(msg):
            return  # no room to store it now: as if lost, so the leader sends it later
        try:
            self.node.step(msg)
        except PeerProtocolError as e:
            count = self.node.rejected.get(e.kind, 0)
            if count & (count - 1) == 0:  # 1st, 2nd, 4th, 8th...: a flood cannot flood the log
                log.warning(
                    "rejected %s from %s (%s, %d so far): %s",
                    type(msg).__name__,
                    msg.frm,
                    e.kind,
                    count,
                    e,
                )
            return
        except RaftError as e:
            log.warning("dropped message %s from %s: %s", type(msg).__name__, msg.frm, e)
            return
        except InvariantViolation as e:
            self._stop(f"stepping {type(msg).__name__} from {msg.frm}", e)
            return
        self._wake.set()

    def _refuses(self, msg: Message) -> bool:
        now = asyncio.get_running_loop().time()
        if isinstance(msg, AppendEntries) and msg.entries:
            return now < self._refuse_entries_until
        if isinstance(msg, InstallSnapshot):
            return now < self._refuse_snapshots_until
        return False

    def rejected_messages(self) -> dict[str, int]:
        """Peer messages the core rejected as impossible, by check (for /metrics)."""
        return dict(self.node.rejected)

    def report_unreachable(self, node_id: int) -> None:
        self.node.report_unreachable(node_id)

    async def propose_command(
        self, data: bytes, timeout: float
    ) -> tuple[int, CommandResult | None]:
        """Replicate and apply one command: its index and what applying it did."""
        index: int = self._call_leader(lambda: self.node.propose(data))
        return index, await self._await_index(index, timeout)

    def bootstrap(self, conf: ConfState) -> None:
        self.node.bootstrap(conf)
        self._wake.set()

    async def wait_role_change(self, timeout: float) -> None:
        """Return when the role or leader changes next, or after ``timeout``."""
        self._role_changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._role_changed.wait(), timeout)

    def request_snapshot(self) -> None:
        """Snapshot and compact in the background, unless one is already running or the last
        one found no room and its backoff is not over."""
        if asyncio.get_running_loop().time() < self._snapshot_not_before:
            return
        if self._snapshot_task is None or self._snapshot_task.done():
            self._snapshot_task = asyncio.create_task(self.snapshot_now(), name="raft-snapshot")
            self._snapshot_task.add_done_callback(_log_failure)

    async def snapshot_now(self) -> int:
        """Snapshot the state machine as applied now and compact the log below it."""
        loop = asyncio.get_running_loop()
        try:
            index, conf_state, image = await loop.run_in_executor(
                self._executor, self._storage.snapshot_image
            )
            if index >= self._storage.first_index():
                await loop.run_in_executor(
                    self._executor, self._storage.create_snapshot, index, conf_state, image
                )
                self.storage_writes += 1
                await loop.run_in_executor(self._executor, self._storage.compact, index)
                self.storage_writes += 1
        except StorageFullError:
            self._snapshot_strikes += 1
            self._snapshot_not_before = loop.time() + self._backoff(self._snapshot_strikes)
            raise
        self._snapshot_strikes = 0
        self._bytes_since_snapshot = 0
        return index

    def transport_stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self._transport.stats()
        return stats

    async def propose_membership(self, change: ConfChange, timeout: float) -> int:
        index: int = self._call_leader(lambda: self.node.propose_membership(change))
        await self._await_index(index, timeout)
        return index

    async def read_barrier(self, timeout: float) -> int:
        """A linearizable read point: returns once applied >= a quorum-confirmed read index."""
        ctx = next(self._read_ids).to_bytes(8, "big")
        self._call_leader(lambda: self.node.read_index(ctx))
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._reads[ctx] = fut
        self._wake.set()
        try:
            index = await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise UnavailableError("read index not confirmed in time (no quorum?)") from None
        finally:
            self._reads.pop(ctx, None)
        return index  # the processor answers a read once its index is applied

    async def wait_applied(self, index: int, timeout: float) -> None:
        if self.applied >= index:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._applied_waiters, (index, next(self._waiter_ids), fut))
        try:
            await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise UnavailableError(f"index {index} not applied in time") from None

    def campaign(self) -> None:
        self.node.campaign()
        self._wake.set()

    def transfer_leadership(self, target: int) -> None:
        """Leader only: start handing leadership to ``target`` (a voter); the core aborts it
        after an election timeout if the target did not take over."""
        try:
            self._call_leader(lambda: self.node.transfer_leadership(target))
        except (NotLeaderError, UnavailableError, InvalidRequestError):
            raise
        except RaftError as e:
            raise InvalidRequestError(f"cannot transfer leadership: {e}") from None

    # --- internals ----------------------------------------------------------------------------

    def _call_leader(self, fn: Callable[[], Any]) -> Any:
        try:
            result = fn()
        except NotLeader as e:
            raise NotLeaderError(e.leader, self._leader_address(e.leader)) from None
        except ProposalDropped as e:
            raise UnavailableError(f"proposal dropped: {e}") from None
        except InvalidConfChange as e:
            raise InvalidRequestError(f"membership change refused: {e}") from None
        self._wake.set()
        return result

    async def _await_index(self, index: int, timeout: float) -> CommandResult | None:
        fut: Answer = asyncio.get_running_loop().create_future()
        self._processor.expect(index, self.node.term, fut)
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        except TimeoutError:
            raise UnknownOutcomeError(f"entry {index} not applied within {timeout}s") from None
        finally:
            if not fut.done():
                fut.cancel()
            self._processor.forget(index, fut)

    async def _ticker(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            next_at += self._tick_seconds
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            self.node.tick()
            self._wake.set()

    async def _essential(self, name: str, body: Coroutine[Any, Any, None]) -> None:
        """Run a task the node cannot live without: if it fails, the node stops (non-zero).

        Restarting is no answer: a failed disk write or a core invariant violation leaves state
        nobody may keep acknowledging from. The process exits and a restart recovers from disk.
        """
        try:
            await body
        except asyncio.CancelledError:
            raise
        except BaseException as e:
            self._stop(name, e)
        finally:
            self._closed.set()

    def _stop(self, where: str, e: BaseException) -> None:
        """The node cannot go on: record why, fail every waiter, wake ``wait_closed_or_fatal``
        (whose caller exits the process non-zero)."""
        if self.fatal is not None:
            return
        what = "hit a Raft invariant violation" if isinstance(e, InvariantViolation) else "failed"
        log.critical("raft %s %s; stopping the node: %r", where, what, e, exc_info=e)
        self.fatal = e
        self._fail_all(UnknownOutcomeError(f"node failed: {e}"))
        self._closed.set()
        for t in self._tasks:
            if t is not asyncio.current_task():
                t.cancel()

    async def _ready_loop(self) -> None:
        processor = self._processor
        while True:
            await self._wake.wait()
            self._wake.clear()
            while (step := processor.begin()) is not None:
                try:
                    results = await self._write(step)
                except StorageFullError as e:
                    if self._rebuild is None:
                        raise
                    await self._answer_without_applying(step.ready)
                    self._recover_from_full(e, step.ready)
                    continue
                processor.finish(step, results)
                self._maybe_snapshot()

    async def _write(self, step: Step) -> Sequence[CommandResult | None]:
        """``step``'s durable write, in the storage thread (``StorageFullError``: see
        ``_recover_from_full``)."""
        if not step.durable:
            return []
        results = await asyncio.get_running_loop().run_in_executor(
            self._executor, step.write, self._storage
        )
        self.storage_writes += 1
        rd = step.ready
        if self.stalled is not None and (rd.entries or rd.snapshot or rd.committed_entries):
            log.warning("storage has room again: accepting entries")
            self.stalled = None
            self._full_strikes = 0
        return results

    async def _answer_without_applying(self, rd: Ready) -> None:
        """Write the durable half of ``rd`` (which failed as a whole) without applying its
        committed entries, and send its persisted messages, if applying is all it would add.

        Those messages promise what is on disk (term, vote, log), not what is applied. A
        follower whose map cannot apply an entry it already holds is handed that entry again
        with the commit index of every heartbeat: were its answers lost with each failed Ready,
        the leader would never hear from it again, so never send it the snapshot that replaces
        its state, and it would stall for good. The commit index stays as stored: recorded, it
        would hand the rebuilt core the same entries at once, in a loop.
        """
        if not rd.committed_entries or rd.entries or rd.snapshot is not None:
            return
        hs = rd.hard_state
        if hs is not None:
            stored = self._storage.raft_view.initial_state()[0]
            hs = dataclasses.replace(hs, commit=stored.commit)
            if hs != stored:
                try:
                    await asyncio.get_running_loop().run_in_executor(
                        self._executor, self._storage.write_ready, hs, (), None, (), None
                    )
                except StorageFullError:
                    return
                self.storage_writes += 1
        for m in rd.persisted_messages:
            self._transport.send(m)

    def _recover_from_full(self, e: StorageFullError, rd: Ready) -> None:
        """A Ready could not be written because the map or the disk is full: do what a restart
        would do, without the exit (were a full map fatal, it would stop every replica at once,
        since all apply the same entries, and again at every restart).

        The Ready is dropped un-advanced, and the core is rebuilt from what storage holds: like
        after a crash, whatever the Ready promised was never sent (its persisted messages,
        unless ``_answer_without_applying`` could keep them), so the leader just sends the
        entries again. For a growing while the node refuses entries (``step``), and compacts
        its log to make room. It refuses snapshots only if installing one is what failed: a
        leader's snapshot replaces the log and the state that fill the map, so it is the way
        out for a node that cannot apply what it holds. A node that is leader loses its
        leadership, and with it the writes in flight (their outcome is unknown).
        """
        self._full_strikes += 1
        backoff = self._backoff(self._full_strikes)
        if self.stalled is None:
            log.error("storage full, refusing entries for %.1f s: %s", backoff, e)
        self.stalled = str(e)
        until = asyncio.get_running_loop().time() + backoff
        self._refuse_entries_until = until
        if rd.snapshot is not None:
            self._refuse_snapshots_until = until
        self._fail_reads(UnavailableError("storage full: the node reloaded its Raft state"))
        assert self._rebuild is not None
        self.node = self._rebuild()
        self.storage_writes += 1
        self._role_changed.set()
        self.request_snapshot()

    def _backoff(self, strikes: int) -> float:
        """Seconds to wait after ``strikes`` failures in a row for want of room: ``full_backoff``
        (base, most), doubling from the base."""
        base, most = self._full_backoff
        return float(min(most, base * 2 ** min(strikes - 1, 30)))

    def _maybe_snapshot(self) -> None:
        behind = self.applied - (self._storage.first_index() - 1)
        by_bytes = self._snapshot_bytes is not None and (
            self._bytes_since_snapshot >= self._snapshot_bytes
        )
        if behind >= self._snapshot_threshold or by_bytes:
            self.request_snapshot()

    def _applied_to(self, index: int) -> None:
        while self._applied_waiters and self._applied_waiters[0][0] <= index:
            _, _, fut = heapq.heappop(self._applied_waiters)
            if not fut.done():
                fut.set_result(None)

    def _fail_reads(self, exc: Exception) -> None:
        for fut in self._reads.values():
            if not fut.done():
                fut.set_exception(exc)
        self._reads.clear()

    def _fail_all(self, exc: Exception) -> None:
        self._fail_reads(exc)
        for answer in self._processor.take_waiters():
            if not answer.done():
                answer.set_exception(exc)
        for _, _, fut in self._applied_waiters:
            if not fut.done():
                fut.set_exception(exc)
        self._applied_waiters.clear()


class _Answers:
    """The driver's side of the processor's ``Outcomes``: futures, waiters and the log."""

    def __init__(self, driver: RaftDriver) -> None:
        self._driver = driver

    def applied(
        self, applied: int, entries: Sequence[Entry], results: Sequence[CommandResult | None]
    ) -> None:
        d = self._driver
        d._applied_to(applied)
        if entries:
            d._bytes_since_snapshot += sum(len(e.data) for e in entries)
            d._on_applied(entries)

    def proposal_applied(self, waiter: Answer, entry: Entry, result: CommandResult | None) -> None:
        if not waiter.done():
            waiter.set_result(result)

    def proposal_replaced(self, waiter: Answer, entry: Entry) -> None:
        if not waiter.done():
            waiter.set_exception(
                UnavailableError(f"entry {entry.index} was replaced by another leader's")
            )

    def read_ready(self, context: bytes, index: int) -> None:
        fut = self._driver._reads.pop(context, None)
        if fut is not None and not fut.done():
            fut.set_result(index)

    def role_changed(self, soft: SoftState, term: int) -> None:
        d = self._driver
        log.info("role %s at term %d, leader %s", soft.role.value, term, soft.leader or "unknown")
        d._role_changed.set()
        if soft.role is not Role.LEADER:
            d._fail_reads(UnavailableError("leadership lost before the read was confirmed"))


def _log_failure(task: asyncio.Task[Any]) -> None:
    """A background snapshot that failed is logged; the next threshold crossing retries it."""
    if not task.cancelled() and task.exception() is not None:
        log.error("%s failed: %r", task.get_name(), task.exception())
