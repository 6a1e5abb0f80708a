"""What one client may hold of a node's HTTP server: time to send headers and a body, idle
keep-alive time, and (for all clients together) the number of open connections.

aiohttp bounds sizes (request line, headers, ``client_max_size``) but not time: a client that
sends half a header, or 1 byte of a 100 MB body per second, holds a connection (and its buffers)
for as long as it likes, and enough of them exhaust the node's file descriptors. Here

* a connection that has not completed the headers of its first request within
  ``header_timeout`` is closed (later requests: the keep-alive idle timeout applies);
* a body not received within ``body_timeout`` is answered 408 and the connection closed
  (``aspen.http.validation.read_json``); one declared larger than the limit is a 413 at once;
* an idle keep-alive connection is closed after ``idle_timeout``;
* beyond ``max_connections`` a new connection gets a JSON 503 and is closed at once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiohttp import web

_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Connection: close\r\nContent-Length: 67\r\n\r\n"
    b'{"error":"too many open connections, retry later","code":"busy"}\r\n'
)


@dataclass(frozen=True, slots=True)
class HttpLimits:
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    idle_timeout: float = 60.0
    max_connections: int = 1024


DEFAULT_LIMITS = HttpLimits()

LIMITS: web.AppKey[HttpLimits] = web.AppKey("aspen_http_limits")
STARTED: web.AppKey[Started] = web.AppKey("aspen_http_started")


class _Refuse(asyncio.Protocol):
    """Answers a connection over the cap with a 503 and closes it."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(_BUSY)
        transport.close()


Started = set[Any]
"""Connections (protocols) on which a request got past its headers, until their header
deadline passes (then they are forgotten: the set holds only connections younger than it)."""


@web.middleware
async def limits_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Marks the connection as past its header timeout (the outermost middleware)."""
    request.app[STARTED].add(request.protocol)
    response: web.StreamResponse = await handler(request)
    return response


class GuardedServer:
    """A protocol factory around aiohttp's ``web.Server`` enforcing the cap and header timeout."""

    def __init__(self, server: web.Server, limits: HttpLimits, started: Started) -> None:
        self._server = server
        self._limits = limits
        self.started = started

    def __call__(self) -> asyncio.Protocol:
        if len(self._server.connections) >= self._limits.max_connections:
            return _Refuse()
        handler = self._server()
        loop = asyncio.get_running_loop()
        loop.call_later(self._limits.header_timeout, self._expire, handler)
        return handler

    def _expire(self, handler: Any) -> None:
        if handler in self.started:
            self.started.discard(handler)
        else:
            handler.force_close()
            transport = handler.transport
            if transport is not None:
                transport.close()
