"""Raft messages between peers over asyncio TCP: a thin adapter around ``aspen.wire``.

Each node listens for peer connections and keeps ONE outbound connection per peer. Connections
are one-way: a node only *writes* on the connections it opened and only *reads* on the ones it
accepted, so every message travels on the sender's own connection. Every connection opens with a
:class:`~aspen.wire.Hello` (protocol version, cluster id, sender id).

Inbound: bytes go into a :class:`~aspen.wire.FrameDecoder`; each decoded message goes to
``on_message``. A peer that sends garbage, an oversize frame, the wrong cluster id or protocol
version, or messages that are not ``from`` the node its Hello named, or not ``to`` us, is logged
and THAT connection is closed; nothing else is affected.

Outbound: :meth:`PeerTransport.send` never blocks. It encodes the message and appends it to the
peer's bounded queue; when the queue is full the OLDEST message is dropped (Raft tolerates loss,
and the newest messages carry the newest state). A sender task per peer connects, writes the
Hello, then writes everything queued since its last turn with one ``writelines`` and waits for
the socket buffer to drain. On any failure it calls ``report_unreachable(peer_id)`` (the driver
tells the Raft core) and reconnects after an exponential backoff with jitter, capped.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import partial
from typing import cast

from aspen.errors import LocalProtocolError, RemoteProtocolError
from aspen.raft.messages import Message
from aspen.wire import DEFAULT_MAX_FRAME, PROTOCOL_VERSION, FrameDecoder, Hello, encode

log = logging.getLogger(__name__)

DEFAULT_QUEUE_SIZE = 4096
"""Messages queued per peer before the oldest are dropped."""
DEFAULT_QUEUE_BYTES = 64 << 20
"""Bytes queued per peer before the oldest messages are dropped (one message always fits)."""


@dataclass(slots=True)
class TransportStats:
    """Counters since the transport was created (monotonic; for metrics)."""

    sent: int = 0
    """Messages handed to a socket."""
    received: int = 0
    """Messages decoded and delivered to ``on_message``."""
    dropped: int = 0
    """Messages lost before reaching a socket: full queue, unknown peer, oversize, closed."""
    reconnects: int = 0
    """Outbound connections established after a peer's first one."""
    connect_failures: int = 0
    """Outbound connection attempts or established connections that failed."""
    decode_errors: int = 0
    """Inbound connections closed for a protocol violation."""
    inbound_connections: int = 0
    """Inbound connections accepted."""

    def copy(self) -> TransportStats:
        return TransportStats(*(getattr(self, f.name) for f in fields(self)))


class _Outbound(asyncio.Protocol):
    """The write side of one outbound connection, with flow control (as StreamWriter's)."""

    def __init__(self, owner: PeerTransport, on_lost: Callable[[], None]) -> None:
        self._owner = owner
        self._on_lost = on_lost
        self.transport: asyncio.Transport | None = None
        self.lost = asyncio.get_running_loop().create_future()
        self._paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._stall_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        # Peers never write on a connection they accepted: anything here is a protocol error.
        log.warning("peer wrote %d unexpected bytes on an outbound connection", len(data))
        if self.transport is not None:
            self.transport.abort()

    def eof_received(self) -> bool:
        return False  # the peer hung up: close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner._outbound.discard(self)
        if self._stall_timer is not None:
            self._stall_timer.cancel()
        if not self.lost.done():
            self.lost.set_result(None)
        waiter, self._drain_waiter = self._drain_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(ConnectionResetError("connection lost"))
        self._on_lost()

    def pause_writing(self) -> None:
        # A peer (or a proxy) that stops reading would otherwise hold this connection forever.
        self._paused = True
        loop = asyncio.get_running_loop()
        self._stall_timer = loop.call_later(self._owner.write_timeout, self._stalled)

    def _stalled(self) -> None:
        log.warning(
            "peer stopped reading for %.1f s: dropping the connection", self._owner.write_timeout
        )
        if self.transport is not None:
            self.transport.abort()

    def resume_writing(self) -> None:
        self._paused = False
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None
        waiter, self._drain_waiter = self._drain_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def drain(self) -> None:
        if self.lost.done():
            raise ConnectionResetError("connection lost")
        if self._paused:
            self._drain_waiter = asyncio.get_running_loop().create_future()
            await self._drain_waiter


class _Inbound(asyncio.Protocol):
    """One accepted connection: Hello first, then messages from the node it named."""

    def __init__(self, owner: PeerTransport) -> None:
        self._owner = owner
        self._decoder = FrameDecoder(owner.max_frame)
        self._hello: Hello | None = None
        self.transport: asyncio.Transport | None = None
        self.lost = asyncio.get_running_loop().create_future()
        self._hello_timer: asyncio.TimerHandle | None = None
        self._peername: object = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._peername = transport.get_extra_info("peername")
        self._owner._inbound.add(self)
        self._owner._stats.inbound_connections += 1
        loop = asyncio.get_running_loop()
        self._hello_timer = loop.call_later(self._owner.hello_timeout, self._no_hello)

    def _no_hello(self) -> None:
        self._fail(RemoteProtocolError("no Hello within the timeout"))

    def _fail(self, err: RemoteProtocolError) -> None:
        self._owner._stats.decode_errors += 1
        log.warning(
            "closing inbound connection from %s (node %s): %s",
            self._peername,
            self._hello.node_id if self._hello else "?",
            err,
        )
        if self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        try:
            frames = self._decoder.feed(data)
            owner = self._owner
            for item in frames:
                hello = self._hello
                if hello is None:
                    self._hello = owner._check_hello(item)
                    if owner.on_hello is not None:
                        owner.on_hello(self._hello)
                    if self._hello_timer is not None:
                        self._hello_timer.cancel()
                    continue
                if isinstance(item, Hello):
                    raise RemoteProtocolError("second Hello on one connection")
                if item.frm != hello.node_id or item.to != owner.node_id:
                    raise RemoteProtocolError(
                        f"{type(item).__name__} from {item.frm} to {item.to} on a connection "
                        f"from node {hello.node_id} to node {owner.node_id}"
                    )
                owner._deliver(item)
        except RemoteProtocolError as e:
            self._fail(e)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self._hello_timer is not None:
            self._hello_timer.cancel()
        self._owner._inbound.discard(self)
        if not self.lost.done():
            self.lost.set_result(None)


class _Peer:
    """Everything about one outbound peer. Invariant: at most one sender task, one connection."""

    def __init__(self, node_id: int, host: str, port: int) -> None:
        self.node_id = node_id
        self.address = (host, port)
        self.queue: deque[bytes] = deque()
        self.queued_bytes = 0
        """Invariant: the sum of ``len`` over ``queue``."""
        self.wake = asyncio.Event()
        """Set when there is something to send, or the address changed."""
        self.task: asyncio.Task[None] | None = None
        self.conn: _Outbound | None = None
        self.connections = 0
        self.backoff_waiter: asyncio.Future[None] | None = None

    def kick(self) -> None:
        """Interrupt a backoff sleep and drop the current connection (the address changed)."""
        if self.backoff_waiter is not None and not self.backoff_waiter.done():
            self.backoff_waiter.set_result(None)
        if self.conn is not None and self.conn.transport is not None:
            self.conn.transport.abort()
        self.wake.set()


class PeerTransport:
    """TCP transport between Raft peers. Create, ``await start()``, ``send``, ``await close()``.

    ``on_message`` is called on the event loop for each inbound message and must not block.
    ``report_unreachable(peer_id)`` is called whenever a connection to a peer cannot be opened or
    breaks, including when the peer stops reading for ``write_timeout`` seconds. Backoff before
    reconnecting doubles from ``backoff_base`` up to ``backoff_max`` seconds, with jitter (each
    delay is drawn uniformly from its upper half), and restarts from ``backoff_base`` once a
    connection stayed up longer than ``backoff_max``.
    """

    def __init__(
        self,
        node_id: int,
        cluster_id: str,
        listen_host: str,
        listen_port: int,
        on_message: Callable[[Message], None],
        max_frame: int = DEFAULT_MAX_FRAME,
        *,
        report_unreachable: Callable[[int], None] | None = None,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        queue_bytes: int = DEFAULT_QUEUE_BYTES,
        backoff_base: float = 0.05,
        backoff_max: float = 2.0,
        connect_timeout: float = 3.0,
        write_timeout: float = 10.0,
        hello_timeout: float = 10.0,
        rng: random.Random | None = None,
        advertise: str = "",
        on_hello: Callable[[Hello], None] | None = None,
    ) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        if not 0 < backoff_base <= backoff_max:
            raise ValueError("need 0 < backoff_base <= backoff_max")
        self.node_id = node_id
        self.cluster_id = cluster_id
        self.listen_host = listen_host
        self.listen_port = listen_port
        self.on_message = on_message
        self.max_frame = max_frame
        self.report_unreachable = report_unreachable
        self.queue_size = queue_size
        self.queue_bytes = queue_bytes
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.connect_timeout = connect_timeout
        self.write_timeout = write_timeout
        self.hello_timeout = hello_timeout
        self._rng = rng or random.Random()
        self._hello = encode(Hello(PROTOCOL_VERSION, cluster_id, node_id, advertise))
        self.on_hello = on_hello
        self._peers: dict[int, _Peer] = {}
        self._inbound: set[_Inbound] = set()
        self._outbound: set[_Outbound] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._stats = TransportStats()
        self._closed = False

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind the listening socket (``port`` then tells which port) and start peer senders."""
        if self._server is not None or self._closed:
            raise RuntimeError("transport already started or closed")
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Inbound(self), self.listen_host, self.listen_port
        )
        for peer in self._peers.values():
            self._start_sender(peer)

    @property
    def port(self) -> int:
        """The port actually bound (useful with ``listen_port=0``)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("transport not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def close(self) -> None:
        """Stop listening, close every connection, end every task; idempotent."""
        if self._closed:
            return
        self._closed = True
        server, self._server = self._server, None
        if server is not None:
            server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        conns: list[_Inbound | _Outbound] = [*self._inbound, *self._outbound]
        for conn in conns:
            if conn.transport is not None:
                conn.transport.abort()
        await asyncio.gather(*(c.lost for c in conns))
        if server is not None:
            await server.wait_closed()
        for peer in self._peers.values():
            self._stats.dropped += len(peer.queue)
            peer.queue.clear()
            peer.queued_bytes = 0

    async def __aenter__(self) -> PeerTransport:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- peers ---------------------------------------------------------------------------------

    def set_peer(self, node_id: int, host: str, port: int) -> None:
        """Add a peer or change its address; a changed address takes effect at once."""
        if node_id == self.node_id:
            raise ValueError("a node is not its own peer")
        peer = self._peers.get(node_id)
        if peer is None:
            peer = self._peers[node_id] = _Peer(node_id, host, port)
            if self._server is not None:
                self._start_sender(peer)
        elif peer.address != (host, port):
            log.info("peer %d moves from %s:%d to %s:%d", node_id, *peer.address, host, port)
            peer.address = (host, port)
            peer.kick()

    def remove_peer(self, node_id: int) -> None:
        """Forget a peer: its queue is dropped and its connection closed."""
        peer = self._peers.pop(node_id, None)
        if peer is None:
            return
        self._stats.dropped += len(peer.queue)
        peer.queue.clear()
        peer.queued_bytes = 0
        if peer.task is not None:
            peer.task.cancel()

    def peers(self) -> dict[int, tuple[str, int]]:
        return {i: p.address for i, p in self._peers.items()}

    def connected(self, node_id: int) -> bool:
        """Whether an outbound connection to ``node_id`` is up (Hello written)."""
        peer = self._peers.get(node_id)
        return bool(peer and peer.conn and not peer.conn.lost.done())

    def queue_depth(self, node_id: int) -> int:
        peer = self._peers.get(node_id)
        return len(peer.queue) if peer else 0

    @property
    def stats(self) -> TransportStats:
        """A snapshot of the counters."""
        return self._stats.copy()

    # --- sending -------------------------------------------------------------------------------

    def send(self, msg: Message) -> None:
        """Queue ``msg`` for ``msg.to``; never blocks, never raises for a network problem.

        A message that cannot be sent (unknown peer, closed transport, frame over ``max_frame``)
        is counted in ``stats.dropped`` and logged. Oldest queued messages are dropped first.
        """
        peer = self._peers.get(msg.to)
        if peer is None or self._closed:
            self._stats.dropped += 1
            log.debug("dropping %s to unknown peer %d", type(msg).__name__, msg.to)
            return
        try:
            frame = encode(msg, self.max_frame)
        except LocalProtocolError as e:
            self._stats.dropped += 1
            log.error("dropping %s to %d: %s", type(msg).__name__, msg.to, e)
            return
        queue = peer.queue
        queue.append(frame)
        peer.queued_bytes += len(frame)
        while len(queue) > 1 and (
            len(queue) > self.queue_size or peer.queued_bytes > self.queue_bytes
        ):
            peer.queued_bytes -= len(queue.popleft())
            self._stats.dropped += 1
        peer.wake.set()

    def _start_sender(self, peer: _Peer) -> None:
        task = asyncio.get_running_loop().create_task(
            self._sender(peer), name=f"aspen-transport-{self.node_id}->{peer.node_id}"
        )
        peer.task = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _sender(self, peer: _Peer) -> None:
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            host, port = peer.address
            try:
                _, conn = await asyncio.wait_for(
                    loop.create_connection(partial(_Outbound, self, peer.wake.set), host, port),
                    self.connect_timeout,
                )
            except OSError as e:  # TimeoutError and ConnectionError are OSErrors
                if peer.address == (host, port):
                    why = str(e) or type(e).__name__
                    self._unreachable(peer, f"connect to {host}:{port} failed: {why}")
            else:
                up_since = loop.time()
                self._outbound.add(conn)
                try:
                    await self._pump(peer, conn, (host, port))
                # ConnectionError is an OSError; uvloop raises RuntimeError for a write on a
                # transport the peer already closed (asyncio silently ignores it).
                except (OSError, RuntimeError) as e:
                    if peer.address == (host, port):
                        self._unreachable(peer, f"connection to {host}:{port} lost: {e}")
                finally:
                    peer.conn = None
                    if conn.transport is not None:
                        conn.transport.abort()
                if loop.time() - up_since > self.backoff_max:
                    attempt = 0
            if peer.address != (host, port):
                attempt = 0
                continue  # the address changed: try the new one at once
            await self._backoff(peer, attempt)
            attempt += 1

    async def _pump(self, peer: _Peer, conn: _Outbound, address: tuple[str, int]) -> None:
        """Write the Hello, then batches from the queue, until the connection breaks."""
        transport = conn.transport
        assert transport is not None
        peer.conn = conn
        peer.connections += 1
        if peer.connections > 1:
            self._stats.reconnects += 1
        log.info("connected to peer %d at %s:%d", peer.node_id, *address)
        if transport.is_closing():
            raise ConnectionResetError("closed by peer before the Hello")
        transport.write(self._hello)
        queue = peer.queue
        while True:
            if conn.lost.done():
                raise ConnectionResetError("closed by peer")
            if peer.address != address:
                return
            if not queue:
                peer.wake.clear()
                await peer.wake.wait()
                continue
            batch = list(queue)
            queue.clear()
            peer.queued_bytes = 0
            transport.writelines(batch)
            self._stats.sent += len(batch)
            await conn.drain()

    def _unreachable(self, peer: _Peer, why: str) -> None:
        self._stats.connect_failures += 1
        log.info("peer %d unreachable: %s", peer.node_id, why)
        if self.report_unreachable is not None:
            try:
                self.report_unreachable(peer.node_id)
            except Exception:
                log.exception("report_unreachable(%d) failed", peer.node_id)

    async def _backoff(self, peer: _Peer, attempt: int) -> None:
        delay = backoff_delay(attempt, self.backoff_base, self.backoff_max, self._rng)
        loop = asyncio.get_running_loop()
        waiter = peer.backoff_waiter = loop.create_future()
        timer = loop.call_later(delay, _resolve, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            peer.backoff_waiter = None

    # --- receiving -----------------------------------------------------------------------------

    def _check_hello(self, item: object) -> Hello:
        if not isinstance(item, Hello):
            raise RemoteProtocolError(f"expected Hello, got {type(item).__name__}")
        if item.version != PROTOCOL_VERSION:
            raise RemoteProtocolError(
                f"protocol version {item.version}, this node speaks {PROTOCOL_VERSION}"
            )
        if item.cluster_id != self.cluster_id:
            raise RemoteProtocolError(
                f"node {item.node_id} is in cluster {item.cluster_id!r}, not {self.cluster_id!r}"
            )
        if item.node_id == self.node_id:
            raise RemoteProtocolError(f"peer claims our own node id {self.node_id}")
        return item

    def _deliver(self, msg: Message) -> None:
        self._stats.received += 1
        try:
            self.on_message(msg)
        except Exception:
            log.exception("on_message failed for %s from %d", type(msg).__name__, msg.frm)


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Seconds to wait before reconnect ``attempt`` (0-based): ``base * 2**attempt`` capped at
    ``cap``, then drawn uniformly from the upper half of that so peers do not reconnect in step.
    """
    ceiling = min(cap, base * 2 ** min(attempt, 62))
    return rng.uniform(ceiling / 2, ceiling)


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


__all__ = [
    "DEFAULT_QUEUE_BYTES",
    "DEFAULT_QUEUE_SIZE",
    "PeerTransport",
    "TransportStats",
    "backoff_delay",
]
