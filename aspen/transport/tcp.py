"""Raft messages between peers over asyncio TCP: a thin adapter around ``aspen.wire``.

Each node listens for peer connections and keeps ONE outbound connection per peer. Connections
are one-way: a node only *writes* on the connections it opened and only *reads* on the ones it
accepted, so every message travels on the sender's own connection. Every connection opens with a
:class:`~aspen.wire.Hello` (protocol version, cluster id, sender id).

When the cluster has a secret, the acceptor answers the Hello with a Challenge and the dialer
proves the secret with an Auth frame before any Raft frame (:mod:`aspen.transport.handshake`);
the only bytes an acceptor ever writes are that Challenge. Links may run over TLS
(``ssl_server`` / ``ssl_client``).

Inbound: bytes go into a :class:`~aspen.wire.FrameDecoder`; each decoded message goes to
``on_message``. A peer that sends garbage, an oversize frame, the wrong cluster id or protocol
version, a bad address or proof, or messages that are not ``from`` the node its Hello named, or
not ``to`` us, is logged and THAT connection is closed; nothing else is affected.

Bounds on what a stranger can make a node hold (every refusal is counted in
:class:`TransportStats`, none is ever fatal): at most ``max_inbound`` accepted connections
(further ones are closed at once); ``hello_timeout`` seconds to finish the handshake; frames of
at most :data:`~aspen.wire.HANDSHAKE_MAX_FRAME` until then, ``max_frame`` after; at most
``max_buffered`` bytes of partial frames over all accepted connections together (the connection
that would go beyond is closed: without a secret every Hello counts as authenticated, and
``max_inbound`` partial 16 MiB frames would otherwise be a lot of memory); and ``idle_timeout``
seconds without a byte closes a connection (dialers send a Ping after ``idle_timeout / 4``
seconds of silence so a quiet link stays up).

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
import ssl
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import partial
from typing import cast

from aspen.errors import LocalProtocolError, RemoteProtocolError
from aspen.raft.messages import Message
from aspen.transport.handshake import AcceptorHandshake, DialerHandshake
from aspen.wire import (
    DEFAULT_MAX_FRAME,
    HANDSHAKE_MAX_FRAME,
    Auth,
    Challenge,
    Frame,
    FrameDecoder,
    Hello,
    Ping,
    encode,
)

log = logging.getLogger(__name__)

DEFAULT_QUEUE_SIZE = 4096
"""Messages queued per peer before the oldest are dropped."""
DEFAULT_QUEUE_BYTES = 64 << 20
"""Bytes queued per peer before the oldest messages are dropped (one message always fits)."""
_CONTROL = frozenset({Hello, Challenge, Auth, Ping})
DEFAULT_MAX_INBOUND = 64
"""Accepted peer connections held at once; more are closed at once."""
DEFAULT_HELLO_TIMEOUT = 5.0
"""Seconds an accepted connection has to finish its handshake."""
DEFAULT_IDLE_TIMEOUT = 60.0
"""Seconds without a byte before an accepted connection is closed."""


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
    connections_refused: int = 0
    """Inbound connections closed at once because ``max_inbound`` were already open."""
    handshake_failures: int = 0
    """Inbound connections closed before their handshake finished (bad Hello or proof, or
    ``hello_timeout``); also counted in ``decode_errors``."""
    idle_closed: int = 0
    """Inbound connections closed after ``idle_timeout`` without a byte."""
    frames_rejected: int = 0
    """Frames dropped for not being from the connection's peer or not to this node (their
    connection is closed too)."""
    hellos_ignored: int = 0
    """Authenticated Hellos whose address the node refused to learn (an id it does not know)."""
    buffer_overflows: int = 0
    """Inbound connections closed because partial frames over all of them exceeded
    ``max_buffered``."""

    def copy(self) -> TransportStats:
        return TransportStats(*(getattr(self, f.name) for f in fields(self)))


class _Outbound(asyncio.Protocol):
    """The write side of one outbound connection, with flow control (as StreamWriter's).

    The peer may write exactly one frame, its Challenge, and only when a reply is expected;
    anything else it writes is a protocol error that closes the connection.
    """

    def __init__(self, owner: PeerTransport, on_lost: Callable[[], None]) -> None:
        self._owner = owner
        self._on_lost = on_lost
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.lost = loop.create_future()
        self.reply: asyncio.Future[Frame] = loop.create_future()
        """The handshake frame the peer answered with (set once)."""
        self.expect_reply = False
        self._decoder = FrameDecoder(HANDSHAKE_MAX_FRAME)
        self._paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._stall_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        try:
            if not self.expect_reply or self.reply.done():
                raise RemoteProtocolError(f"{len(data)} unexpected bytes on an outbound link")
            self._decoder.receive(data)
            frame = self._decoder.next_frame()
            if frame is not None:
                if self._decoder.buffered:
                    raise RemoteProtocolError("bytes after the Challenge")
                self.reply.set_result(frame)
        except RemoteProtocolError as e:
            log.warning("peer broke the protocol on an outbound connection: %s", e)
            if not self.reply.done():
                self.reply.set_exception(e)
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
        if not self.reply.done():
            self.reply.set_exception(ConnectionResetError("connection lost"))
        self.reply.exception()  # retrieved: never "exception was never retrieved"
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
    """One accepted connection: the handshake first, then messages from the node it named.

    Until the handshake is done frames are limited to ``HANDSHAKE_MAX_FRAME`` and must arrive
    within ``hello_timeout``; after it, to ``max_frame``, and a silence of ``idle_timeout``
    closes the connection.
    """

    def __init__(self, owner: PeerTransport) -> None:
        self._owner = owner
        self._decoder = FrameDecoder(min(HANDSHAKE_MAX_FRAME, owner.max_frame))
        self._handshake = AcceptorHandshake(owner.node_id, owner.cluster_id, owner.secret)
        self._hello: Hello | None = None
        self.transport: asyncio.Transport | None = None
        self.lost = asyncio.get_running_loop().create_future()
        self._timer: asyncio.TimerHandle | None = None
        self._last_activity = 0.0
        self._peername: object = None
        self._admitted = False
        self._failed = False
        self._held = 0
        """Bytes this connection's decoder holds, as last added to the owner's total."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._peername = transport.get_extra_info("peername")
        owner = self._owner
        if len(owner._inbound) >= owner.max_inbound:
            owner._stats.connections_refused += 1
            log.warning(
                "refusing peer connection from %s: %d already open",
                self._peername,
                len(owner._inbound),
            )
            self.transport.abort()
            return
        owner._inbound.add(self)
        self._admitted = True
        owner._stats.inbound_connections += 1
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(owner.hello_timeout, self._no_handshake)

    def _no_handshake(self) -> None:
        self._fail(RemoteProtocolError("no handshake within the timeout"))

    def _check_idle(self) -> None:
        loop = asyncio.get_running_loop()
        idle = self._owner.idle_timeout
        left = self._last_activity + idle - loop.time()
        if left > 0:
            self._timer = loop.call_later(left, self._check_idle)
            return
        self._timer = None
        self._owner._stats.idle_closed += 1
        self._close(f"nothing received for {idle:.1f} s")

    def _fail(self, err: RemoteProtocolError) -> None:
        stats = self._owner._stats
        stats.decode_errors += 1
        if not self._handshake.done:
            stats.handshake_failures += 1
            self._failed = True
        self._close(str(err))

    def _close(self, why: str) -> None:
        log.warning(
            "closing inbound connection from %s (node %s): %s",
            self._peername,
            self._hello.node_id if self._hello else "?",
            why,
        )
        if self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        try:
            decoder = self._decoder
            if self._hello is None:
                # One frame at a time: the limit rises once the peer is authenticated.
                decoder.receive(data)
                while self._hello is None and (item := decoder.next_frame()) is not None:
                    self._handshake_step(item)
                if self._hello is None:
                    self._account(decoder.buffered)
                    return
                data = b""
            hello = self._hello
            owner = self._owner
            # Any byte counts: a big frame crawling over a slow link is not an idle peer.
            self._last_activity = asyncio.get_running_loop().time()
            frames = decoder.feed(data)
            for item in frames:
                if type(item) in _CONTROL:
                    if type(item) is Ping:
                        continue
                    raise RemoteProtocolError(f"{type(item).__name__} after the handshake")
                item = cast(Message, item)
                if item.frm != hello.node_id or item.to != owner.node_id:
                    owner._stats.frames_rejected += 1
                    raise RemoteProtocolError(
                        f"{type(item).__name__} from {item.frm} to {item.to} on a connection "
                        f"from node {hello.node_id} to node {owner.node_id}"
                    )
                owner._deliver(item)
        except RemoteProtocolError as e:
            self._fail(e)
            return
        self._account(self._decoder.buffered)

    def _account(self, held: int) -> None:
        owner = self._owner
        owner._held += held - self._held
        self._held = held
        if held and owner._held > owner.max_buffered:
            owner._stats.buffer_overflows += 1
            self._close(f"partial frames on all peer connections exceed {owner.max_buffered} bytes")

    def _handshake_step(self, item: Frame) -> None:
        handshake, owner = self._handshake, self._owner
        reply = handshake.receive(item)
        if reply is not None and self.transport is not None:
            self.transport.write(encode(reply))
        if not handshake.done:
            return
        hello = handshake.hello
        assert hello is not None
        self._hello = hello
        self._decoder.max_frame = owner.max_frame
        if self._timer is not None:
            self._timer.cancel()
        loop = asyncio.get_running_loop()
        self._last_activity = loop.time()
        self._timer = loop.call_later(owner.idle_timeout, self._check_idle)
        if owner.on_hello is not None:
            try:
                accepted = owner.on_hello(hello)
            except Exception:
                log.exception("on_hello failed for node %d", hello.node_id)
                accepted = False
            if accepted is False:
                owner._stats.hellos_ignored += 1

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._admitted and not self._handshake.done and not self._failed:
            # The dialer hung up mid-handshake (e.g. our Challenge did not prove our secret).
            self._owner._stats.handshake_failures += 1
        self._account(0)
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
    ``on_hello(hello)`` is called once a connection's peer is authenticated; it returns False
    when the node refuses to learn the address the Hello names (counted in ``hellos_ignored``).
    ``secret`` (at least 16 bytes) turns on the challenge-response handshake; without it any
    process that reaches the port may speak as any node (the insecure default).
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
        hello_timeout: float = DEFAULT_HELLO_TIMEOUT,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        max_inbound: int = DEFAULT_MAX_INBOUND,
        max_buffered: int | None = None,
        secret: bytes | None = None,
        ssl_server: ssl.SSLContext | None = None,
        ssl_client: ssl.SSLContext | None = None,
        rng: random.Random | None = None,
        advertise: str = "",
        on_hello: Callable[[Hello], bool | None] | None = None,
    ) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        if not 0 < backoff_base <= backoff_max:
            raise ValueError("need 0 < backoff_base <= backoff_max")
        if max_inbound < 1 or hello_timeout <= 0 or idle_timeout <= 0:
            raise ValueError("need max_inbound >= 1 and positive timeouts")
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
        self.idle_timeout = idle_timeout
        self.max_inbound = max_inbound
        self.max_buffered = 4 * max_frame if max_buffered is None else max_buffered
        self._held = 0
        """Invariant: the sum of ``_Inbound._held`` over open inbound connections."""
        self.secret = secret or None
        self.ssl_server = ssl_server
        self.ssl_client = ssl_client
        self._rng = rng or random.Random()
        self.advertise = advertise
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
            lambda: _Inbound(self),
            self.listen_host,
            self.listen_port,
            ssl=self.ssl_server,
            ssl_handshake_timeout=self.hello_timeout if self.ssl_server else None,
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
                    loop.create_connection(
                        partial(_Outbound, self, peer.wake.set),
                        host,
                        port,
                        ssl=self.ssl_client,
                        server_hostname=host if self.ssl_client else None,
                    ),
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
                except (OSError, RuntimeError, RemoteProtocolError) as e:
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

    async def _handshake(self, peer: _Peer, conn: _Outbound) -> None:
        """Write the Hello; with a secret, check the peer's Challenge and prove ours."""
        transport = conn.transport
        assert transport is not None
        if transport.is_closing():
            raise ConnectionResetError("closed by peer before the Hello")
        hs = DialerHandshake(
            self.node_id, self.cluster_id, peer.node_id, self.secret, self.advertise
        )
        conn.expect_reply = hs.needs_reply
        transport.write(encode(hs.hello()))
        if not hs.needs_reply:
            return
        try:
            challenge = await asyncio.wait_for(asyncio.shield(conn.reply), self.hello_timeout)
        except TimeoutError:
            raise ConnectionResetError("no Challenge within the timeout") from None
        try:
            auth = hs.receive(challenge)
        except RemoteProtocolError as e:
            log.warning("refusing peer %d at %s:%d: %s", peer.node_id, *peer.address, e)
            raise
        transport.write(encode(auth))

    async def _pump(self, peer: _Peer, conn: _Outbound, address: tuple[str, int]) -> None:
        """Handshake, then write batches from the queue, until the connection breaks."""
        transport = conn.transport
        assert transport is not None
        await self._handshake(peer, conn)
        peer.conn = conn
        peer.connections += 1
        if peer.connections > 1:
            self._stats.reconnects += 1
        log.info("connected to peer %d at %s:%d", peer.node_id, *address)
        loop = asyncio.get_running_loop()
        ping_every = self.idle_timeout / 4
        last_write = loop.time()
        ping = encode(Ping())
        queue = peer.queue
        while True:
            if conn.lost.done():
                raise ConnectionResetError("closed by peer")
            if peer.address != address:
                return
            if not queue:
                quiet = loop.time() - last_write
                if quiet >= ping_every:
                    transport.write(ping)
                    last_write = loop.time()
                    await conn.drain()
                    continue
                peer.wake.clear()
                timer = loop.call_later(ping_every - quiet, peer.wake.set)
                try:
                    await peer.wake.wait()
                finally:
                    timer.cancel()
                continue
            last_write = loop.time()
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
    "DEFAULT_HELLO_TIMEOUT",
    "DEFAULT_IDLE_TIMEOUT",
    "DEFAULT_MAX_INBOUND",
    "DEFAULT_QUEUE_BYTES",
    "DEFAULT_QUEUE_SIZE",
    "PeerTransport",
    "TransportStats",
    "backoff_delay",
]
