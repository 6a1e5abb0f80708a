"""Helpers for attacking a real cluster's Raft port: a cluster of ``aspen-node`` processes with
the peer-security options on, a raw-socket peer that speaks (or fakes) the handshake, and the
node's Prometheus counters and memory as the attacker sees them from outside.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import psutil

from aspen.client import AsyncClient, Outcome
from aspen.transport.handshake import DialerHandshake
from aspen.wire import Challenge, FrameDecoder, Hello, encode
from lab.db.aspen import node_argv
from lab.runtime.base import NodeCommand
from lab.runtime.local import LocalRuntime
from tests.waiting import eventually

SECRET = "adversarial-test-secret-0123456789"
TOKEN = "adversarial-admin-token"
CLUSTER_ID = "peer-port-test"


@dataclass
class PeerCluster:
    """Three running nodes that share ``SECRET`` and ``TOKEN``; ``client`` carries the token."""

    rt: LocalRuntime
    client: AsyncClient
    ids: list[int] = field(default_factory=lambda: [1, 2, 3])
    scheme: str = "http"
    ssl: ssl.SSLContext | None = None

    def raft_port(self, node: int) -> int:
        return self.rt.endpoint(node, "raft").port

    def url(self, node: int) -> str:
        return f"{self.scheme}://{self.rt.endpoint(node, 'http').address}"

    def process(self, node: int) -> psutil.Process:
        pid = self.rt.pid(node)
        assert pid is not None, f"node {node} is not running"
        return psutil.Process(pid)

    def alive(self, node: int) -> bool:
        return self.rt.exit_code(node) is None

    def log(self, node: int) -> str:
        path = self.rt.log_path(node)
        return path.read_text(errors="replace") if path.exists() else ""

    async def leader(self) -> int:
        found: list[int] = []

        async def known() -> bool:
            r = await self.client.leader()
            if r.outcome is Outcome.OK and r.value is not None and r.value.id:
                found.append(r.value.id)
                return True
            return False

        await eventually(known, what="a leader")
        return found[-1]

    async def metrics(self, node: int) -> dict[str, float]:
        """The node's ``aspen_peer_*`` counters, by name without prefix or ``_total``."""
        connector = aiohttp.TCPConnector(ssl=self.ssl if self.ssl is not None else True)
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            session.get(self.url(node) + "/metrics", timeout=aiohttp.ClientTimeout(5)) as resp,
        ):
            assert resp.status == 200
            text = await resp.text()
        out: dict[str, float] = {}
        for m in re.finditer(r"^aspen_peer_(\w+)_total (\S+)$", text, re.M):
            out[m.group(1)] = float(m.group(2))
        return out

    async def serves(self, key: str, value: str) -> None:
        """A write and a linearizable read of it succeed (the cluster still works)."""
        put = await self.client.put(key, value)
        assert put.outcome is Outcome.OK, put
        got = await self.client.get(key)
        assert got.outcome is Outcome.OK and got.value == value, got


def node_argv_for(rt: LocalRuntime, n: int) -> list[str]:
    """Node ``n``'s command line: its id, directory, addresses, fast timing (no peers)."""
    raft, http = rt.endpoint(n, "raft"), rt.endpoint(n, "http")
    return [
        *node_argv("local"),
        "--node-id", str(n),
        "--data-dir", rt.data_dir(n),
        "--raft-addr", raft.address,
        "--http-addr", http.address,
        "--tick-ms", "20", "--heartbeat-ms", "60", "--election-ms", "600",
        "--fsync", "never",
    ]  # fmt: skip


@contextlib.asynccontextmanager
async def peer_cluster(
    tmp_path: Path,
    extra: Sequence[str] = (),
    *,
    tls: tuple[Path, Path, Path] | None = None,
    secret: bool = True,
    spare: Sequence[int] = (),
) -> AsyncIterator[PeerCluster]:
    """Start three nodes with static peers, the secret (unless ``secret=False``: the insecure
    default) and token (in the environment, as an operator should pass them) and ``extra``
    flags; init; wait until writes succeed. ``spare`` ids get ports but are not started."""
    rt = LocalRuntime(tmp_path, [1, 2, 3, *spare], run_id=f"adv-{uuid.uuid4().hex}")
    ssl_context = None
    scheme = "http"
    if tls is not None:
        from aspen.tls import client_context

        ssl_context = client_context(tls[2])
        scheme = "https"
    client = AsyncClient(
        [f"{scheme}://{rt.endpoint(n, 'http').address}" for n in (1, 2, 3)],
        timeout=3.0,
        token=TOKEN,
        ssl=ssl_context,
    )
    try:
        env = {"ASPEN_CLUSTER_SECRET": SECRET if secret else "", "ASPEN_ADMIN_TOKEN": TOKEN}
        for n in (1, 2, 3):
            argv = [*node_argv_for(rt, n), "--cluster-id", CLUSTER_ID]
            for p in (1, 2, 3):
                if p != n:
                    peer_raft, peer_http = rt.endpoint(p, "raft"), rt.endpoint(p, "http")
                    argv += ["--peer", f"{p}={peer_raft.address}@{peer_http.address}"]
            if tls is not None:
                argv += ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])]
                argv += ["--tls-ca", str(tls[2])]
            rt.start(n, NodeCommand([*argv, *extra], env))
        pc = PeerCluster(rt, client, scheme=scheme, ssl=ssl_context)

        async def serving() -> bool:
            for n in (1, 2, 3):
                assert pc.alive(n), pc.log(n)[-2000:]
            answers = [
                await client.request("GET", "/node-info", endpoint=pc.url(n)) for n in (1, 2, 3)
            ]
            return all(r.outcome is Outcome.OK for r in answers)

        await eventually(serving, what="all nodes serving")
        members = {
            n: (rt.endpoint(n, "raft").address, rt.endpoint(n, "http").address) for n in (1, 2, 3)
        }
        init = await client.init(members, endpoint=pc.url(1))
        assert init.outcome is Outcome.OK, init

        async def writable() -> bool:
            return (await client.put("setup", "1")).outcome is Outcome.OK

        await eventually(writable, what="writes accepted")
        yield pc
    finally:
        await client.close()
        rt.close()


# --- a raw peer --------------------------------------------------------------------------------


async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def closed_within(conn: Conn, seconds: float) -> bool:
    """True if the node closes the connection within ``seconds`` (EOF or reset); our side is
    then closed too. False leaves it open."""
    reader, writer = conn
    try:
        while True:
            data = await asyncio.wait_for(reader.read(65536), seconds)
            if not data:
                break
    except TimeoutError:  # first: TimeoutError is an OSError too
        return False
    except (ConnectionError, OSError):
        pass
    writer.close()
    with contextlib.suppress(ConnectionError, OSError):
        await writer.wait_closed()
    return True


async def authenticate(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    node_id: int,
    target: int,
    address: str,
    secret: str = SECRET,
) -> None:
    """Do the real handshake (a process that holds the secret), claiming ``node_id``."""
    hs = DialerHandshake(node_id, CLUSTER_ID, target, secret.encode(), address)
    writer.write(encode(hs.hello()))
    decoder = FrameDecoder(1 << 16)
    while True:
        data = await asyncio.wait_for(reader.read(65536), 10)
        assert data, "closed during the handshake"
        frame = decoder.feed(data)
        if frame:
            break
    assert isinstance(frame[0], Challenge), frame
    writer.write(encode(hs.receive(frame[0])))
    await writer.drain()


def fake_hello(node_id: int, address: str = "", nonce: bytes = b"") -> bytes:
    from aspen.wire import PROTOCOL_VERSION

    return encode(Hello(PROTOCOL_VERSION, CLUSTER_ID, node_id, address, nonce))


async def close_all(conns: Sequence[Conn]) -> None:
    for _, w in conns:
        w.close()
        with contextlib.suppress(ConnectionError, OSError):
            await w.wait_closed()
