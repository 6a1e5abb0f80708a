"""One proxy: a TCP listener that joins each client to a new upstream connection.

Mirrors Toxiproxy's ``proxy.go``: starting binds ``listen`` (port 0 picks a free port, and
``listen`` then holds the real address); stopping closes the listener and every connection;
changing ``listen`` or ``upstream`` restarts the proxy.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

from lab.toxiproxy import sockets
from lab.toxiproxy.collection import ToxicCollection
from lab.toxiproxy.errors import ApiError
from lab.toxiproxy.link import Connection
from lab.toxiproxy.listen import (
    format_address,
    open_listener,
    split_host_port,
    stop_accepting,
)
from lab.toxiproxy.sockets import DirectReader
from lab.toxiproxy.stream import BYPASS_READ_SIZE

log = logging.getLogger(__name__)


async def _bind(listen: str) -> socket.socket:
    """A listening socket for ``listen``; ``ApiError`` 400 (Go's wording) if it cannot be had.

    An empty ``listen`` is every interface on a free port, as Go's ``net.Listen("tcp", "")``.
    """
    try:
        host, port = split_host_port(listen) if listen else ("", 0)
    except ValueError as exc:
        raise ApiError(f"listen tcp: {exc}", 400) from None
    try:
        return await open_listener(host, port)
    except (socket.gaierror, UnicodeError) as exc:
        raise ApiError(f"listen tcp {listen}: lookup {host}: {exc}", 400) from None
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise ApiError(f"listen tcp {listen}: bind: {reason}", 400) from None


class Proxy:
    """A named proxy ``listen`` -> ``upstream`` with its toxics and open connections."""

    def __init__(self, name: str, listen: str, upstream: str) -> None:
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = False
        self.toxics = ToxicCollection()
        self._server: asyncio.Server | None = None
        self._connections: set[Connection] = set()
        self._accepting: set[asyncio.Task[Any]] = set()

    def to_json(self) -> dict[str, Any]:
        """The proxy as Toxiproxy serialises it, with its toxics."""
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": self.toxics.to_json(),
        }

    @property
    def connection_count(self) -> int:
        """Open client connections."""
        return len(self._connections)

    async def start(self) -> None:
        """Bind and accept clients; ``listen`` becomes the bound address."""
        if self.enabled:
            return
        sock = await _bind(self.listen)
        self.listen = format_address(sock.getsockname())
        self._server = await sockets.start_server(self._on_client, sock, BYPASS_READ_SIZE)
        self.enabled = True
        log.info("started proxy %s on %s -> %s", self.name, self.listen, self.upstream)

    async def stop(self) -> None:
        """Close the listener and every connection."""
        if not self.enabled:
            return
        self.enabled = False
        server, self._server = self._server, None
        if server is not None:
            await stop_accepting(server.sockets)
            server.close()
        pending = list(self._accepting)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
        connections, self._connections = list(self._connections), set()
        await asyncio.gather(*(conn.abort() for conn in connections))
        if server is not None:
            await server.wait_closed()
        log.info("stopped proxy %s on %s", self.name, self.listen)

    async def update(self, listen: str, upstream: str, enabled: bool) -> None:
        """Apply new fields as Toxiproxy's ``Proxy.Update`` does."""
        if listen != self.listen or upstream != self.upstream:
            await self.stop()
            self.listen, self.upstream = listen, upstream
        if enabled and not self.enabled:
            await self.start()
        elif not enabled:
            await self.stop()

    async def _on_client(self, reader: DirectReader, writer: asyncio.StreamWriter) -> None:
        server = self._server
        if server is None:  # accepted just before the listener closed
            writer.transport.abort()
            return
        task = asyncio.current_task()
        assert task is not None
        self._accepting.add(task)
        try:
            host, port = split_host_port(self.upstream)
            up_reader, up_writer = await sockets.open_connection(host, port, BYPASS_READ_SIZE)
        except (OSError, ValueError) as exc:
            log.warning("proxy %s: cannot reach upstream %s: %s", self.name, self.upstream, exc)
            writer.close()
            return
        except asyncio.CancelledError:
            writer.transport.abort()
            raise
        finally:
            self._accepting.discard(task)
        if server is not self._server:  # stopped while we dialled
            writer.transport.abort()
            up_writer.transport.abort()
            return
        conn = Connection((reader, writer), (up_reader, up_writer), self._connections.discard)
        self._connections.add(conn)
        await self.toxics.attach(conn)
