"""Building the aiohttp application for a node, and serving it on a port.

::

    app = build_app(service)                      # service: any NodeService
    server = await serve(app, "127.0.0.1", 0)     # port 0: any free port
    print(server.port)
    ...
    await server.close()

Middlewares, outermost first: metrics (times and counts every request by its final status),
then errors (turns every exception into a JSON response, see :mod:`aspen.http.errors`), then
the admin-token guard (:mod:`aspen.http.auth`).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry

from aspen.http import cluster, kv
from aspen.http.auth import admin_middleware
from aspen.http.errors import error_middleware, json_response
from aspen.http.keys import ADMIN_TOKEN, CLUSTER_SECRET, METRICS, SERVICE
from aspen.http.limits import DEFAULT_LIMITS, LIMITS, GuardedServer, HttpLimits, limits_middleware
from aspen.http.metrics import ApiMetrics, PeerStats, handle_metrics, metrics_middleware
from aspen.http.openapi import openapi_document
from aspen.kv.commands import MAX_VALUE_BYTES
from aspen.node.service import NodeService

log = logging.getLogger("aspen.http")

DEFAULT_MAX_BODY_BYTES = 8 * MAX_VALUE_BYTES
"""Room for one 1 MiB value even if every character is JSON-escaped (``\\u00XX``: 6 bytes)."""
MAX_REQUEST_LINE = 64 * 1024
"""Request-line limit. Any key of at most 4096 characters fits percent-encoded in ``/kv/{key}``
(4 UTF-8 bytes each, 3 characters per byte: 48 KiB), so an oversize key gets a JSON 400 from
validation. Beyond this, and for bytes that are not HTTP at all, aiohttp's parser refuses the
request before the application or its middlewares see it; :class:`aspen.http.limits.
GuardedHandler` still answers it in JSON (when served through :func:`serve`)."""
LINGER_SECONDS = 1.0
RUNNER_OPTIONS: dict[str, Any] = {"max_line_size": MAX_REQUEST_LINE, "access_log": None}
"""What :func:`serve` passes to ``web.AppRunner`` (for embedders that make their own runner)."""


async def _openapi(request: web.Request) -> web.Response:
    return json_response(openapi_document())


def build_app(
    service: NodeService,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    registry: CollectorRegistry | None = None,
    admin_token: str | None = None,
    peer_stats: Callable[[], PeerStats] | None = None,
    cluster_secret: str | None = None,
    limits: HttpLimits = DEFAULT_LIMITS,
) -> web.Application:
    """The HTTP API for ``service``.

    ``max_body_bytes`` bounds every request body (413 beyond it); ``registry`` is the
    Prometheus registry ``/metrics`` exposes (a new one per app by default: no global state);
    ``admin_token``, when given, guards the admin routes; ``peer_stats`` reads the peer
    transport's counters for ``/metrics``; ``cluster_secret`` goes into the tickets given to
    requests bearing the admin token (never when no token is configured: then anyone could
    read it). ``limits`` bounds time and connections (:mod:`aspen.http.limits`, applied by
    ``serve``).
    """
    app = web.Application(
        middlewares=[limits_middleware, metrics_middleware, error_middleware, admin_middleware],
        client_max_size=max_body_bytes,
    )
    app[LIMITS] = limits
    app[SERVICE] = service
    app[ADMIN_TOKEN] = admin_token or None
    app[CLUSTER_SECRET] = cluster_secret if admin_token else None
    app[METRICS] = ApiMetrics(service, registry, peer_stats)
    kv.add_routes(app)
    cluster.add_routes(app)
    app.router.add_get("/metrics", handle_metrics)
    app.router.add_get("/openapi.json", _openapi)
    return app


@dataclass(slots=True)
class HttpServer:
    """A running :func:`serve`: the bound ``host`` and ``port``, and ``close()``."""

    runner: web.AppRunner
    host: str
    port: int
    tls: bool = False
    listener: asyncio.base_events.Server | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    async def close(self) -> None:
        if self.listener is not None:
            self.listener.close()
        await self.runner.cleanup()


async def serve(
    app: web.Application,
    host: str,
    port: int,
    *,
    shutdown_timeout: float = 5.0,
    ssl_context: ssl.SSLContext | None = None,
) -> HttpServer:
    """Start serving ``app`` on ``host:port`` (0: any free port) and report the bound port;
    over TLS with ``ssl_context``.

    Connections are accepted through :class:`GuardedServer` (header timeout, connection cap);
    idle keep-alive connections close after the app's ``idle_timeout``.
    """
    limits = app.get(LIMITS, HttpLimits())
    # After a 408/413 the rest of the body is read and dropped for at most LINGER seconds (so the
    # client sees the answer rather than a reset), then the connection is closed.
    handler_args = {
        **RUNNER_OPTIONS,
        "keepalive_timeout": limits.idle_timeout,
        "lingering_time": LINGER_SECONDS,
    }
    runner = web.AppRunner(
        app, handle_signals=False, shutdown_timeout=shutdown_timeout, **handler_args
    )
    await runner.setup()
    assert runner.server is not None
    guard = GuardedServer(runner.server, limits, **handler_args)
    try:
        listener = await asyncio.get_running_loop().create_server(
            guard, host, port, reuse_address=True, backlog=128, ssl=ssl_context
        )
    except BaseException:
        await runner.cleanup()
        raise
    bound = listener.sockets[0].getsockname()[1] if listener.sockets else port
    return HttpServer(runner, host, bound, ssl_context is not None, listener)
