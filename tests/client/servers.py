"""Servers that misbehave on purpose, and fake-backed app servers, in the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Literal

from aiohttp.test_utils import TestServer

from aspen.http import build_app
from aspen.http.app import RUNNER_OPTIONS
from tests.http.fake_service import FakeService

Mode = Literal["hang", "close", "reset", "crash", "respond"]


class RawServer:
    """A TCP server that reads one whole HTTP request, then: ``hang`` (never answers),
    ``close`` (FIN), ``reset`` (RST), or ``respond`` with fixed bytes. ``requests`` counts the
    requests it received in full; ``posts`` those that were POSTs (writes). ``crash`` is a
    server that dies with the request in hand: it stops listening, then closes the connection,
    so a client's resend is refused."""

    def __init__(self, mode: Mode, response: bytes = b"") -> None:
        self.mode = mode
        self.response = response
        self.requests = 0
        self.lines: list[str] = []
        """The request lines received in full, e.g. ``POST /write HTTP/1.1``."""
        self._stop = asyncio.Event()
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None
        self.url = ""

    @property
    def posts(self) -> int:
        return sum(line.startswith("POST ") for line in self.lines)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                self.requests += 1
                self.lines.append(head.split(b"\r\n", 1)[0].decode())
                if self.mode == "hang":
                    await self._stop.wait()
                    break
                if self.mode == "close":
                    break
                if self.mode == "crash":
                    assert self._server is not None
                    self._server.close()
                    break
                if self.mode == "reset":
                    writer.transport.abort()
                    return
                writer.write(self.response)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._server is not None
        self._server.close()
        for w in self._writers:
            w.close()
        for w in self._writers:
            with contextlib.suppress(ConnectionError):
                await w.wait_closed()
        await self._server.wait_closed()


def http_response(status: int, body: bytes) -> bytes:
    return (
        f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


@contextlib.contextmanager
def refusing_port() -> Iterator[str]:
    """A URL whose port refuses connections: bound, never listening (no race with reuse)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


@contextlib.asynccontextmanager
async def app_servers(*services: FakeService) -> AsyncIterator[list[str]]:
    """Serve each fake with the real app on a random port; yields their base URLs."""
    servers = [TestServer(build_app(s)) for s in services]
    try:
        for server, service in zip(servers, services, strict=True):
            await server.start_server(**RUNNER_OPTIONS)
            service.set_http(f"127.0.0.1:{server.port}")
        yield [f"http://127.0.0.1:{s.port}" for s in servers]
    finally:
        for server in servers:
            await server.close()
