"""Bearer-token guard for the admin endpoints (bootstrap, membership, snapshots).

When the node has an admin token, a request to an admin route must carry
``Authorization: Bearer <token>``; otherwise it gets a 401 JSON body (``code: unauthorized``)
and a ``WWW-Authenticate: Bearer`` header, and nothing is done. Tokens are compared with
:func:`hmac.compare_digest`. Without a token configured every route is open, as before. Admin
routes are what an operator does to the cluster: bootstrap, membership and peer records,
leadership transfer, snapshots (a whole-state download is a backup, not a read). Reads, writes,
health and metrics are never guarded here: they are for clients, not operators.
"""

from __future__ import annotations

import hmac

from aiohttp import web

from aspen.http.errors import Handler, error_response
from aspen.http.keys import ADMIN_TOKEN

ADMIN_ROUTES = frozenset(
    {
        "/init",
        "/add-learner",
        "/add-peer",
        "/peers/{node_id}",
        "/change-membership",
        "/transfer-leadership",
        "/trigger-snapshot",
        "/snapshot",
    }
)
"""Paths that change who is in the cluster or what it stores about itself."""


def bearer_token(request: web.Request) -> str | None:
    """The token in an ``Authorization: Bearer`` header, or None."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def is_admin(request: web.Request) -> bool:
    """Whether the request may use admin routes (always, when no token is configured)."""
    expected = request.app.get(ADMIN_TOKEN)
    if not expected:
        return True
    given = bearer_token(request)
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def _is_admin_route(request: web.Request) -> bool:
    """By the route the router matched (not the raw path), so no spelling of a path escapes."""
    resource = request.match_info.route.resource
    return resource is not None and resource.canonical in ADMIN_ROUTES


@web.middleware
async def admin_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """401 for an admin route without the right token; every other request passes."""
    if _is_admin_route(request) and not is_admin(request):
        why = "missing" if bearer_token(request) is None else "wrong"
        return error_response(
            401,
            f"{request.path} needs the admin token (Authorization: Bearer ...): {why} token",
            "unauthorized",
            headers={"WWW-Authenticate": 'Bearer realm="aspen-admin"'},
        )
    return await handler(request)


__all__ = ["ADMIN_ROUTES", "admin_middleware", "bearer_token", "is_admin"]
