"""Listening sockets, addresses as Go writes them, and closing listeners without leaks."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from lab.toxiproxy.errors import BAD_REQUEST_BODY


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
            raise ValueError(f"address tcp/{port_text}: unknown port") from None
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


async def open_listener(host: str, port: int) -> socket.socket:
    """A non-blocking listening socket on ``host:port`` ("" = all interfaces, as Go does).

    Raises ``OSError`` (``socket.gaierror`` if ``host`` does not resolve).
    """
    candidates: list[tuple[int, Any]]
    if host == "":  # dual-stack when possible
        candidates = [(socket.AF_INET6, ("::", port)), (socket.AF_INET, ("0.0.0.0", port))]
    else:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        infos.sort(key=lambda info: info[0] != socket.AF_INET)  # Go prefers IPv4
        candidates = [(info[0], info[4]) for info in infos[:1]]
    error = OSError(f"no address for {host!r}")
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
    raise error


async def stop_accepting(sockets: Any) -> None:
    """Stop accepting on ``sockets`` (an ``asyncio.Server``'s), then let the connections already
    accepted reach their protocol before the server is closed.

    Python 3.11 leaks a socket accepted just before ``Server.close()``: its transport is built
    after the close and fails on ``Server._attach``. Removing the reader first and giving the
    loop a few turns (not a delay: the accept task's first step, ``connection_made``, the
    handler's first step) lets such connections arrive, so their handlers close them.
    """
    loop = asyncio.get_running_loop()
    for sock in sockets:
        loop.remove_reader(sock.fileno())
    await settle()


async def settle() -> None:
    """A few turns of the event loop."""
    for _ in range(5):
        await asyncio.sleep(0)
