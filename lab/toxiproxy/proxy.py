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

from lab.toxiproxy.collection import ToxicCollection
from lab.toxiproxy.errors import BAD_REQUEST_BODY, ApiError
from lab.toxiproxy.link import Connection

log = logging.getLogger(__name__)


def split_host_port(address: str) -> tuple[str, int]:
    """``"host:port"``, ``"[v6]:port"`` or ``":port"`` split as Go's ``net.SplitHostPort``.

    An empty port means 0. Raises ``ValueError`` with Go's wording.
    """
    if address.startswith("["):
        end = address.find("]")
        if end < 0:
            raise ValueError(f"address {address}: missing ']' in address")
        host, rest = address[1:end], address[end + 1 :]
        if not rest.startswith(":"):
            raise ValueError(f"address {address}: missing port in address")
        port_text = rest[1:]
    else:
        host, sep, port_text = address.rpartition(":")
        if not sep:
            raise ValueError(f"address {address}: missing port in address")
        if ":" in host:
            raise ValueError(f"address {address}: too many colons in address")
    if port_text == "":
        return host, 0
    if port_text.isdigit():
        port = int(port_text)
    else:
        try:
            port = socket.getservbyname(port_text, "tcp")
        except OSError:
            raise ValueError(f"address {address}: unknown port") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"address {address}: invalid port")
    return host, port


def check_address(field: str, address: str) -> None:
    """Raise ``ApiError`` 400 if ``address`` is not host:port."""
    try:
        split_host_port(address)
    except ValueError as exc:
        raise BAD_REQUEST_BODY.joined(f"{field}: {exc}") from None


def format_address(sockname: Any) -> str:
    """A bound socket's address as Go prints it: ``1.2.3.4:80`` or ``[::1]:80``."""
    host, port = sockname[0], sockname[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def bind(listen: str) -> socket.socket:
    """A listening socket for ``listen``; ``ApiError`` 400 if it cannot be had."""
    try:
        host, port = split_host_port(listen)
    except ValueError as exc:
        raise ApiError(f"listen tcp {listen}: {exc}", 400) from None
    candidates: list[tuple[int, Any]]
    if host == "":  # all interfaces, dual-stack when possible, as Go does
        candidates = [(socket.AF_INET6, ("::", port)), (socket.AF_INET, ("0.0.0.0", port))]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )
        except (socket.gaierror, UnicodeError) as exc:
            raise ApiError(f"listen tcp {listen}: lookup {host}: {exc}", 400) from None
        infos.sort(key=lambda info: info[0] != socket.AF_INET)  # Go prefers IPv4
        candidates = [(info[0], info[4]) for info in infos[:1]]
    error: OSError | None = None
    for family, sockaddr in candidates:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and host == "":
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind(sockaddr)
            sock.listen(128)
            sock.setblocking(False)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    reason = (error.strerror or str(error)).lower() if error else "no address"
    raise ApiError(f"listen tcp {listen}: bind: {reason}", 400)


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
        sock = await bind(self.listen)
        self.listen = format_address(sock.getsockname())
        self._server = await asyncio.start_server(self._on_client, sock=sock)
        self.enabled = True
        log.info("started proxy %s on %s -> %s", self.name, self.listen, self.upstream)

    async def stop(self) -> None:
        """Close the listener and every connection."""
        if not self.enabled:
            return
        self.enabled = False
        server, self._server = self._server, None
        if server is not None:
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

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._accepting.add(task)
        server = self._server
        try:
            host, port = split_host_port(self.upstream)
            up_reader, up_writer = await asyncio.open_connection(host, port)
        except (OSError, ValueError) as exc:
            log.warning("proxy %s: cannot reach upstream %s: %s", self.name, self.upstream, exc)
            writer.close()
            self._accepting.discard(task)
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
