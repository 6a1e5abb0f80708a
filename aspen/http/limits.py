"""What one client may hold of a node's HTTP server: time to send headers and a body, idle
keep-alive time, and (for all clients together) the number of open connections.

aiohttp bounds sizes (request line, headers, ``client_max_size``) but hardly time: a client
that sends half a header, or 1 byte of a 100 MB body per second, holds a connection (and its
buffers) for as long as it likes, and enough of them exhaust the node's file descriptors. Here

* a connection that has not completed the headers of its first request within
  ``header_timeout`` is closed (later requests: the keep-alive idle timeout applies);
* a body not received within ``body_timeout`` is answered 408 and the connection closed
  (``aspen.http.validation.read_body``); one declared larger than the limit is a 413 at once;
* an idle keep-alive connection is closed after ``idle_timeout``;
* beyond ``max_connections`` a new connection gets a JSON 503 and is closed at once.

What aiohttp's own parser refuses before the application sees it (a malformed request line, a
Content-Encoding it cannot decode) is answered in JSON as well, by :class:`GuardedHandler`.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

_BUSY_BODY = b'{"error": "too many open connections, retry later", "code": "unavailable"}'
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Connection: close\r\nContent-Length: " + str(len(_BUSY_BODY)).encode() + b"\r\n\r\n"
) + _BUSY_BODY


@dataclass(frozen=True, slots=True)
class HttpLimits:
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    idle_timeout: float = 60.0
    max_connections: int = 1024


DEFAULT_LIMITS = HttpLimits()
LIMITS: web.AppKey[HttpLimits] = web.AppKey("aspen_http_limits")


class _Refuse(asyncio.Protocol):
    """Answers a connection over the cap with a 503 and closes it."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(_BUSY)  # type: ignore[attr-defined]  # uvloop's is no asyncio.Transport
        transport.close()


class GuardedHandler(RequestHandler):
    """aiohttp's connection handler, counted against the cap, closed if its first request's
    headers are late, and answering the parser's own refusals in JSON."""

    def __init__(self, guard: GuardedServer, manager: web.Server, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._guard = guard
        self._counted = True
        self.started = False
        """A request got past its headers on this connection (set by ``limits_middleware``)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        asyncio.get_running_loop().call_later(self._guard.limits.header_timeout, self._expire)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._counted:
            self._counted = False
            self._guard.open -= 1
        super().connection_lost(exc)

    def _expire(self) -> None:
        if not self.started:
            self.force_close()
            if self.transport is not None:
                self.transport.close()

    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        super().handle_error(request, status, exc, message)  # logs; raises if a response began
        reason = getattr(exc, "message", None) or message or "bad request"
        code = "bad_request" if status < 500 else "internal"
        body = json.dumps({"error": " ".join(str(reason).split())[:300], "code": code})
        response = web.Response(status=status, text=body, content_type="application/json")
        response.force_close()
        return response


class GuardedServer:
    """The protocol factory the node listens with, around aiohttp's ``web.Server``."""

    def __init__(self, server: web.Server, limits: HttpLimits, **handler_args: Any) -> None:
        self._server = server
        self.limits = limits
        self._handler_args = handler_args
        self.open = 0
        """Connections accepted and not yet lost (counted at once, before they are set up)."""

    def __call__(self) -> asyncio.Protocol:
        if self.open >= self.limits.max_connections:
            return _Refuse()
        self.open += 1
        loop = asyncio.get_running_loop()
        return GuardedHandler(self, self._server, loop=loop, **self._handler_args)


@web.middleware
async def limits_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """The outermost middleware: a request got here, so its connection sent its headers."""
    protocol = request.protocol
    if isinstance(protocol, GuardedHandler):
        protocol.started = True
    response: web.StreamResponse = await handler(request)
    return response
