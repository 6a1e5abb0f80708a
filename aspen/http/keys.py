"""Typed keys for what :func:`aspen.http.app.build_app` stores on the application."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from aspen.http.metrics import ApiMetrics
    from aspen.node.service import NodeService

SERVICE: web.AppKey[NodeService] = web.AppKey("aspen_service")
METRICS: web.AppKey[ApiMetrics] = web.AppKey("aspen_metrics")
ADMIN_TOKEN: web.AppKey[str | None] = web.AppKey("aspen_admin_token")
"""The bearer token admin routes require (None or empty: open)."""
CLUSTER_SECRET: web.AppKey[str | None] = web.AppKey("aspen_cluster_secret")
"""Put in the tickets ``/cluster-ticket`` gives an admin (only when an admin token is set)."""
