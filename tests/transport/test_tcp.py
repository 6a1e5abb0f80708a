from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from aspen.raft.messages import AppendEntries, Entry, Heartbeat, Message, TimeoutNow
from aspen.tls import peer_contexts
from aspen.transport import PeerTransport
from aspen.transport.tcp import backoff_delay
from aspen.wire import PROTOCOL_VERSION, Hello, encode
from tests.waiting import eventually

CLUSTER = "test-cluster"


class Node:
    """A transport and the messages it received."""

    def __init__(self, node_id: int, port: int = 0, **kw: Any) -> None:
        self.inbox: list[Message] = []
        self.unreachable: list[int] = []
        kw.setdefault("backoff_base", 0.01)
        kw.setdefault("backoff_max", 0.1)
        self.t = PeerTransport(
            node_id,
            CLUSTER,
            "127.0.0.1",
            port,
            self.inbox.append,
            report_unreachable=self.unreachable.append,
            **kw,
        )

    async def __aenter__(self) -> Node:
        await self.t.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.t.close()

    @property
    def port(self) -> int:
        return self.t.port


def hb(frm: int, to: int, n: int) -> Heartbeat:
    return Heartbeat(term=1, frm=frm, to=to, commit=n)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def raw_connection(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def closed_by_peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    """True once the transport closed this raw connection (EOF or reset)."""
    try:
        data = await asyncio.wait_for(reader.read(), 10)
    except ConnectionResetError:
        data = b""
    writer.close()
    with contextlib.suppress(ConnectionResetError):
        await writer.wait_closed()
    return data == b""


async def test_two_transports_exchange_messages() -> None:
    async with Node(1) as a, Node(2) as b:
        a.t.set_peer(2, "127.0.0.1", b.port)
        b.t.set_peer(1, "127.0.0.1", a.port)
        big = AppendEntries(
            1, 1, 2, 0, 0, tuple(Entry(1, i + 1, data=b"x" * 100) for i in range(50)), 0
        )
        for n in range(500):
            a.t.send(hb(1, 2, n))
        a.t.send(big)
        b.t.send(TimeoutNow(1, 2, 1))
        await eventually(lambda: len(b.inbox) == 501 and len(a.inbox) == 1)
        assert b.inbox[:500] == [hb(1, 2, n) for n in range(500)]
        assert b.inbox[500] == big
        assert a.inbox == [TimeoutNow(1, 2, 1)]
        assert a.t.stats.sent == 501 and b.t.stats.received == 501
        assert a.t.stats.dropped == 0


async def test_writes_are_batched_per_loop_turn() -> None:
    async with Node(1) as a, Node(2) as b:
        a.t.set_peer(2, "127.0.0.1", b.port)
        await eventually(lambda: a.t.connected(2))
        writes: list[int] = []
        conn = a.t._peers[2].conn
        assert conn is not None and conn.transport is not None
        real = conn.transport.writelines

        def spy(frames: Any) -> None:
            frames = list(frames)
            writes.append(len(frames))
            real(frames)

        conn.transport.writelines = spy  # type: ignore[method-assign,assignment]
        for n in range(100):
            a.t.send(hb(1, 2, n))
        await eventually(lambda: len(b.inbox) == 100)
        assert writes == [100]


async def test_reconnects_after_the_peer_restarts_on_the_same_port() -> None:
    async with Node(1) as a:
        b = Node(2)
        await b.t.start()
        port = b.port
        a.t.set_peer(2, "127.0.0.1", port)
        a.t.send(hb(1, 2, 0))
        await eventually(lambda: b.inbox == [hb(1, 2, 0)])
        await b.t.close()
        await eventually(lambda: 2 in a.unreachable, what="report_unreachable(2)")
        async with Node(2, port=port) as b2:
            await eventually(lambda: a.t.connected(2), what="reconnect")
            a.t.send(hb(1, 2, 1))
            await eventually(lambda: hb(1, 2, 1) in b2.inbox)
        assert a.t.stats.reconnects >= 1
        assert a.t.stats.connect_failures >= 1


async def test_queue_is_bounded_and_drops_the_oldest() -> None:
    port = free_port()  # nothing listens here yet
    async with Node(1, queue_size=10) as a:
        a.t.set_peer(2, "127.0.0.1", port)
        await eventually(lambda: 2 in a.unreachable)
        for n in range(25):
            a.t.send(hb(1, 2, n))
        assert a.t.queue_depth(2) == 10
        assert a.t.stats.dropped == 15
        async with Node(2, port=port) as b:
            await eventually(lambda: len(b.inbox) == 10)
            assert b.inbox == [hb(1, 2, n) for n in range(15, 25)]


async def test_queue_is_bounded_in_bytes_too() -> None:
    async with Node(1, queue_bytes=1000) as a:
        a.t.set_peer(2, "127.0.0.1", free_port())
        for n in range(10):
            a.t.send(Heartbeat(1, 1, 2, n, context=b"x" * 300))
        assert a.t.queue_depth(2) == 3
        a.t.send(Heartbeat(1, 1, 2, 99, context=b"x" * 5000))  # alone over the limit: kept
        assert a.t.queue_depth(2) == 1


async def test_unsendable_messages_are_dropped_and_counted() -> None:
    async with Node(1, max_frame=100) as a:
        a.t.send(hb(1, 7, 0))  # unknown peer
        a.t.set_peer(2, "127.0.0.1", free_port())
        a.t.send(Heartbeat(1, 1, 2, 0, context=b"x" * 200))  # over max_frame
        assert a.t.stats.dropped == 2
        assert a.t.queue_depth(2) == 0


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", id="garbage"),
        pytest.param((1 << 20).to_bytes(4, "big"), id="oversize-prefix"),
        pytest.param(encode(Hello(PROTOCOL_VERSION, "other-cluster", 3)), id="wrong-cluster"),
        pytest.param(encode(Hello(PROTOCOL_VERSION + 1, CLUSTER, 3)), id="wrong-version"),
        pytest.param(encode(hb(3, 2, 0)), id="no-hello"),
        pytest.param(encode(Hello(PROTOCOL_VERSION, CLUSTER, 3)) + encode(hb(4, 2, 0)), id="spoof"),
        pytest.param(
            encode(Hello(PROTOCOL_VERSION, CLUSTER, 3)) + encode(hb(3, 9, 0)), id="misrouted"
        ),
        pytest.param(encode(Hello(PROTOCOL_VERSION, CLUSTER, 3)) * 2, id="second-hello"),
    ],
)
async def test_a_bad_connection_is_closed_and_the_others_keep_working(
    payload: bytes, request: pytest.FixtureRequest
) -> None:
    async with Node(1) as a, Node(2, max_frame=4096) as b:
        a.t.set_peer(2, "127.0.0.1", b.port)
        a.t.send(hb(1, 2, 0))
        await eventually(lambda: len(b.inbox) == 1)
        reader, writer = await raw_connection(b.port)
        writer.write(payload)
        assert await closed_by_peer(reader, writer)
        assert b.t.stats.decode_errors == 1
        spoofed = "spoof" in request.node.name or "misrouted" in request.node.name
        assert b.t.stats.frames_rejected == (1 if spoofed else 0)
        a.t.send(hb(1, 2, 1))
        await eventually(lambda: len(b.inbox) == 2)
        assert b.inbox == [hb(1, 2, 0), hb(1, 2, 1)]
        assert a.t.stats.connect_failures == 0


async def test_a_silent_connection_is_closed_after_the_hello_timeout() -> None:
    async with Node(2, hello_timeout=0.05) as b:
        reader, writer = await raw_connection(b.port)
        assert await closed_by_peer(reader, writer)
        assert b.t.stats.decode_errors == 1


async def test_a_failing_on_message_does_not_close_the_connection() -> None:
    got: list[Message] = []

    def flaky(m: Message) -> None:
        got.append(m)
        if len(got) == 1:
            raise RuntimeError("driver bug")

    async with Node(1) as a:
        b = PeerTransport(2, CLUSTER, "127.0.0.1", 0, flaky)
        async with b:
            a.t.set_peer(2, "127.0.0.1", b.port)
            a.t.send(hb(1, 2, 0))
            a.t.send(hb(1, 2, 1))
            await eventually(lambda: len(got) == 2)
            assert b.stats.decode_errors == 0


async def test_address_change_takes_effect() -> None:
    async with Node(1) as a, Node(2) as b_old, Node(2) as b_new:
        a.t.set_peer(2, "127.0.0.1", b_old.port)
        a.t.send(hb(1, 2, 0))
        await eventually(lambda: len(b_old.inbox) == 1)
        a.t.set_peer(2, "127.0.0.1", b_new.port)
        a.t.send(hb(1, 2, 1))
        await eventually(lambda: len(b_new.inbox) == 1)
        assert b_new.inbox == [hb(1, 2, 1)] and b_old.inbox == [hb(1, 2, 0)]
        assert 2 not in a.unreachable  # a deliberate move is not a failure


async def test_address_change_interrupts_the_backoff() -> None:
    async with Node(1, backoff_base=30.0, backoff_max=30.0) as a, Node(2) as b:
        a.t.set_peer(2, "127.0.0.1", free_port())
        await eventually(lambda: 2 in a.unreachable)  # now sleeping 15-30 s
        a.t.set_peer(2, "127.0.0.1", b.port)
        a.t.send(hb(1, 2, 0))
        await eventually(lambda: len(b.inbox) == 1, timeout=5)


async def test_remove_peer_drops_its_queue_and_connection() -> None:
    async with Node(1) as a, Node(2) as b:
        a.t.set_peer(2, "127.0.0.1", b.port)
        await eventually(lambda: a.t.connected(2))
        a.t.remove_peer(2)
        await eventually(lambda: not a.t._outbound)
        a.t.send(hb(1, 2, 0))
        assert a.t.stats.dropped == 1
        assert a.t.peers() == {}


async def test_close_leaves_nothing_pending() -> None:
    a = Node(1)
    b = Node(2)
    await a.t.start()
    await b.t.start()
    a.t.set_peer(2, "127.0.0.1", b.port)
    b.t.set_peer(1, "127.0.0.1", a.port)
    a.t.set_peer(3, "127.0.0.1", free_port())  # in backoff
    reader, writer = await raw_connection(b.port)  # an inbound connection without Hello
    a.t.send(hb(1, 2, 0))
    b.t.send(hb(2, 1, 0))
    await eventually(lambda: a.inbox and b.inbox and 3 in a.unreachable)
    await a.t.close()
    await b.t.close()
    await a.t.close()  # idempotent
    assert await closed_by_peer(reader, writer)
    assert asyncio.all_tasks() == {asyncio.current_task()}
    assert not a.t._inbound and not a.t._outbound and not b.t._inbound and not b.t._outbound
    a.t.send(hb(1, 2, 1))
    assert a.t.stats.dropped == 1
    with pytest.raises(RuntimeError):
        await a.t.start()


def test_works_on_uvloop() -> None:
    uvloop = pytest.importorskip("uvloop")

    async def exchange() -> None:
        async with Node(1) as a, Node(2) as b:
            a.t.set_peer(2, "127.0.0.1", b.port)
            for n in range(100):
                a.t.send(hb(1, 2, n))
            await eventually(lambda: len(b.inbox) == 100)
            reader, writer = await raw_connection(b.port)
            writer.write(b"\xff" * 8)
            assert await closed_by_peer(reader, writer)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(exchange())


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    rng = random.Random(7)
    delays = [backoff_delay(n, 0.1, 2.0, rng) for n in range(12)]
    ceilings = [min(2.0, 0.1 * 2**n) for n in range(12)]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert len(set(delays)) == len(delays)  # jittered
    assert backoff_delay(10_000, 0.1, 2.0, rng) <= 2.0


async def test_a_peer_that_stops_reading_is_disconnected() -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def never_read(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        accepted.append(w)

    server = await asyncio.start_server(never_read, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with Node(1, write_timeout=0.2, queue_size=8) as a:
            a.t.set_peer(2, "127.0.0.1", port)
            big = Heartbeat(1, 1, 2, 0, context=b"x" * (1 << 20))

            def stalled() -> bool:
                a.t.send(big)  # keep the pipe full until the sender gives up
                return 2 in a.unreachable

            await eventually(stalled, what="stalled connection dropped")
    finally:
        for w in accepted:
            w.close()
        server.close()
        await server.wait_closed()


async def test_hello_carries_the_advertised_address_to_the_receiver() -> None:
    seen: list[Hello] = []
    a = PeerTransport(1, CLUSTER, "127.0.0.1", 0, lambda m: None, advertise="10.9.8.7:7000")
    b = PeerTransport(2, CLUSTER, "127.0.0.1", 0, lambda m: None, on_hello=seen.append)
    await a.start()
    await b.start()
    try:
        a.set_peer(2, "127.0.0.1", b.port)
        a.send(hb(1, 2, 1))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while not seen and loop.time() < deadline:
            await asyncio.sleep(0.01)
        assert seen and seen[0].node_id == 1 and seen[0].address == "10.9.8.7:7000"
    finally:
        await a.close()
        await b.close()


class _ClosedUnderfoot:
    """A transport uvloop has already closed: every write raises RuntimeError."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def write(self, data: bytes) -> None:
        raise RuntimeError("unable to perform operation on <TCPTransport closed=True>")

    writelines = write

    def is_closing(self) -> bool:
        return False  # uvloop's flag can lag behind the closed handle

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


async def test_a_runtime_error_on_write_is_a_lost_connection_not_a_dead_sender(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """uvloop raises RuntimeError (not OSError) writing to a transport closed under it; the
    sender must count that as a lost connection and reconnect, not die silently."""
    import aspen.transport.tcp as tcp

    original = tcp._Outbound.connection_made
    broken = {"left": 2}

    def connection_made(self: Any, transport: Any) -> None:
        if broken["left"]:
            broken["left"] -= 1
            transport = _ClosedUnderfoot(transport)
        original(self, transport)

    monkeypatch.setattr(tcp._Outbound, "connection_made", connection_made)
    got: list[Message] = []
    b = PeerTransport(2, CLUSTER, "127.0.0.1", 0, got.append)
    await b.start()
    a = PeerTransport(1, CLUSTER, "127.0.0.1", 0, lambda m: None, backoff_max=0.05)
    await a.start()
    try:
        a.set_peer(2, "127.0.0.1", b.port)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while not got and loop.time() < deadline:
            a.send(hb(1, 2, 1))
            await asyncio.sleep(0.02)
        assert got, "the sender died instead of reconnecting"
        assert broken["left"] == 0
    finally:
        await a.close()
        await b.close()


# --- authentication and bounds on the listening port -------------------------------------------

SECRET = b"0123456789abcdef0123456789abcdef"


async def test_peers_that_share_the_secret_talk() -> None:
    async with Node(1, secret=SECRET) as a, Node(2, secret=SECRET) as b:
        a.t.set_peer(2, "127.0.0.1", b.port)
        a.t.send(hb(1, 2, 0))
        await eventually(lambda: b.inbox == [hb(1, 2, 0)])
        assert b.t.stats.handshake_failures == 0


@pytest.mark.parametrize("dialer_secret", [b"another-secret-of-32-bytes......", None])
async def test_a_dialer_without_the_secret_delivers_nothing(dialer_secret: bytes | None) -> None:
    async with Node(1, secret=dialer_secret) as a, Node(2, secret=SECRET, hello_timeout=0.2) as b:
        a.t.set_peer(2, "127.0.0.1", b.port)
        a.t.send(hb(1, 2, 0))
        await eventually(lambda: b.t.stats.handshake_failures >= 2, what="refused handshakes")
        await eventually(lambda: 2 in a.unreachable, what="dialer told the peer is unreachable")
        # (a dialer without a secret counts itself connected until refused: no check of that)
        assert b.inbox == []


async def test_a_raw_hello_and_raft_frames_without_the_secret_are_refused() -> None:
    async with Node(2, secret=SECRET) as b:
        reader, writer = await raw_connection(b.port)
        writer.write(encode(Hello(PROTOCOL_VERSION, CLUSTER, 3)) + encode(hb(3, 2, 0)))
        assert await closed_by_peer(reader, writer)
        assert b.inbox == [] and b.t.stats.handshake_failures == 1


async def test_a_large_frame_before_the_handshake_is_refused_at_its_prefix() -> None:
    async with Node(2, secret=SECRET) as b:
        reader, writer = await raw_connection(b.port)
        writer.write((1 << 20).to_bytes(4, "big") + b"x" * 1000)  # 1 MiB < max_frame
        assert await closed_by_peer(reader, writer)
        assert b.t.stats.handshake_failures == 1


async def test_connections_beyond_the_cap_are_closed_at_once_and_peers_get_in_later() -> None:
    async with Node(1) as a, Node(2, max_inbound=3, hello_timeout=0.5) as b:
        held = [await raw_connection(b.port) for _ in range(3)]
        await eventually(lambda: b.t.stats.inbound_connections == 3)
        reader, writer = await raw_connection(b.port)
        assert await closed_by_peer(reader, writer)
        assert b.t.stats.connections_refused == 1
        # The held ones are closed by the handshake timeout; then a real peer gets in.
        for r, w in held:
            assert await closed_by_peer(r, w)
        a.t.set_peer(2, "127.0.0.1", b.port)
        a.t.send(hb(1, 2, 0))
        await eventually(lambda: b.inbox == [hb(1, 2, 0)])


async def test_a_silent_connection_after_the_hello_is_closed_after_the_idle_timeout() -> None:
    async with Node(2, idle_timeout=0.2) as b:
        reader, writer = await raw_connection(b.port)
        writer.write(encode(Hello(PROTOCOL_VERSION, CLUSTER, 3)))
        assert await closed_by_peer(reader, writer)
        assert b.t.stats.idle_closed == 1 and b.t.stats.decode_errors == 0


async def test_a_quiet_link_between_real_peers_stays_up_on_pings() -> None:
    async with Node(1, idle_timeout=0.2) as a, Node(2, idle_timeout=0.2) as b:
        a.t.set_peer(2, "127.0.0.1", b.port)
        a.t.send(hb(1, 2, 0))
        await eventually(lambda: len(b.inbox) == 1)
        await asyncio.sleep(1.0)  # five idle timeouts with nothing to send
        a.t.send(hb(1, 2, 1))
        await eventually(lambda: len(b.inbox) == 2)
        assert b.t.stats.idle_closed == 0 and b.t.stats.inbound_connections == 1
        assert a.t.stats.connect_failures == 0


@pytest.mark.parametrize("address", ["no-port", "h:99999", "[::1", "a b:1", "h:-1"])
async def test_an_unparsable_address_closes_only_that_connection(address: str) -> None:
    async with Node(1) as a, Node(2) as b:
        a.t.set_peer(2, "127.0.0.1", b.port)
        a.t.send(hb(1, 2, 0))
        await eventually(lambda: len(b.inbox) == 1)
        reader, writer = await raw_connection(b.port)
        writer.write(encode(Hello(PROTOCOL_VERSION, CLUSTER, 3, address)))
        assert await closed_by_peer(reader, writer)
        assert b.t.stats.handshake_failures == 1
        a.t.send(hb(1, 2, 1))
        await eventually(lambda: len(b.inbox) == 2)


async def test_hellos_the_node_refuses_to_learn_are_counted() -> None:
    seen: list[Hello] = []

    def refuse(h: Hello) -> bool:
        seen.append(h)
        return False

    async with Node(2, on_hello=refuse) as b:
        _reader, writer = await raw_connection(b.port)
        writer.write(encode(Hello(PROTOCOL_VERSION, CLUSTER, 77, "10.9.9.9:1")))
        await eventually(lambda: b.t.stats.hellos_ignored == 1)
        assert [h.node_id for h in seen] == [77]
        assert b.t.peers() == {}
        writer.close()


async def test_partial_frames_over_all_connections_are_bounded() -> None:
    """Without a secret a Hello is all it takes to be trusted with big frames: the total held
    for partial frames is what bounds a crowd of such connections."""
    async with Node(2, max_buffered=100_000) as b:
        first = await raw_connection(b.port)
        partial = (1 << 20).to_bytes(4, "big") + b"x" * 60_000
        first[1].write(encode(Hello(PROTOCOL_VERSION, CLUSTER, 3)) + partial)
        await eventually(lambda: b.t._held >= 60_000)
        second = await raw_connection(b.port)
        second[1].write(encode(Hello(PROTOCOL_VERSION, CLUSTER, 4)) + partial)
        assert await closed_by_peer(*second)
        assert b.t.stats.buffer_overflows == 1
        first[1].close()
        await eventually(lambda: b.t._held == 0, what="the total released with the connection")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl binary to make a cert")
async def test_peers_talk_over_mutual_tls_and_a_plain_client_gets_nowhere(tmp_path: Path) -> None:
    cert, key = tmp_path / "n.pem", tmp_path / "n.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=t",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    server, client = peer_contexts(cert, key, cert)
    tls = {"ssl_server": server, "ssl_client": client, "secret": SECRET}
    async with Node(1, **tls) as a, Node(2, **tls, hello_timeout=0.5) as b:
        a.t.set_peer(2, "127.0.0.1", b.port)
        a.t.send(hb(1, 2, 0))
        await eventually(lambda: b.inbox == [hb(1, 2, 0)])
        reader, writer = await raw_connection(b.port)
        writer.write(encode(Hello(PROTOCOL_VERSION, CLUSTER, 3)) + encode(hb(3, 2, 1)))
        assert await closed_by_peer(reader, writer)
        assert b.inbox == [hb(1, 2, 0)]
