"""Every failure becomes a JSON response with the status a client can act on.

The error middleware is the one place where exceptions turn into responses::

    RequestError (bad input, raised by validation)        -> its status (400, 413, ...)
    aiohttp HTTPException (unknown path, wrong method, ...) -> same status, JSON body
    NotLeaderError                                        -> 421 + leader id, address, Location
    UnavailableError / UnknownOutcomeError / StorageFullError / ConflictError /
    InvalidRequestError / NotFoundError                   -> 503 / 504 / 507 / 409 / 400 / 404
    (a ServiceError's ``details`` are added to the body)
    anything else                                         -> 500, logged (a bug, never expected)

Every body is ``{"error": "<message>", "code": "<machine-readable>", ...}``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import web

from aspen.errors import AspenError
from aspen.http.keys import SERVICE
from aspen.node.service import (
    ConflictError,
    InvalidRequestError,
    NodeService,
    NotFoundError,
    NotLeaderError,
    PeerAddress,
    ServiceError,
    UnavailableError,
    UnknownOutcomeError,
)
from aspen.storage.errors import StorageFullError

log = logging.getLogger("aspen.http")

SERVICE_ERRORS: dict[type[ServiceError | StorageFullError], tuple[int, str]] = {
    NotLeaderError: (421, "not_leader"),
    UnavailableError: (503, "unavailable"),
    UnknownOutcomeError: (504, "unknown_outcome"),
    StorageFullError: (507, "storage_full"),
    ConflictError: (409, "conflict"),
    InvalidRequestError: (400, "invalid_request"),
    NotFoundError: (404, "not_found"),
}
"""ServiceError subclass (and the storage's `StorageFullError`) -> (HTTP status, code). The
client library inverts this mapping."""

_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
}


class RequestError(AspenError):
    """The request itself is wrong (syntax, types, limits): the client must change it."""

    def __init__(
        self, message: str, *, status: int = 400, code: str = "bad_request", field: str = ""
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.field = field
        """The offending part of the body as a JSON path (``$.items[0]``), when one is to blame:
        what clients and tests rely on, rather than the wording of the message."""


def _encode_fallback(obj: object) -> object:
    return str(obj)


_encoder = msgspec.json.Encoder(enc_hook=_encode_fallback)


def json_response(
    body: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON response encoded with msgspec (sets, enums, dataclasses and int keys welcome)."""
    return web.Response(
        body=_encoder.encode(body), status=status, headers=headers, content_type="application/json"
    )


def error_response(
    status: int, message: str, code: str, headers: dict[str, str] | None = None, **extra: Any
) -> web.Response:
    return json_response({"error": message, "code": code, **extra}, status=status, headers=headers)


def _service(request: web.Request) -> NodeService | None:
    return request.app.get(SERVICE)


def not_leader_response(request: web.Request, e: NotLeaderError) -> web.Response:
    """421 with who the leader is, and a ``Location`` a client can replay the request at."""
    leader_id = e.leader_id or None
    address: PeerAddress | None = e.leader
    service = _service(request)
    if address is None and leader_id and service is not None:
        try:
            address = service.membership().addresses.get(leader_id)
        except Exception:  # the hint is best effort; the 421 itself must go out
            log.debug("membership lookup for a 421 failed", exc_info=True)
    location = f"{request.scheme}://{address.http}{request.rel_url}" if address else None
    return error_response(
        421,
        str(e),
        "not_leader",
        headers={"Location": location} if location else None,
        leader_id=leader_id,
        leader={"raft": address.raft, "http": address.http} if address else None,
        location=location,
    )


def _http_exception(request: web.Request, e: web.HTTPException) -> web.Response:
    headers: dict[str, str] = {}
    if isinstance(e, web.HTTPMethodNotAllowed):
        allowed = ", ".join(sorted(e.allowed_methods))
        headers["Allow"] = allowed
        message = f"method {request.method} is not allowed on {request.path}; use {allowed}"
    elif isinstance(e, web.HTTPNotFound) and request.match_info.route.resource is None:
        message = f"no such endpoint: {request.method} {request.path}"
    elif isinstance(e, web.HTTPRequestEntityTooLarge):
        message = f"request body too large: {e.text or e.reason}"
    else:
        message = e.text if e.text and not e.text.startswith(f"{e.status}:") else e.reason
    code = _HTTP_CODES.get(e.status, "http_error")
    return error_response(e.status, message, code, headers=headers or None)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map every exception to a JSON response (see the module docstring)."""
    try:
        return await handler(request)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        return _http_exception(request, e)
    except RequestError as e:
        extra: dict[str, Any] = {"field": e.field} if e.field else {}
        response = error_response(e.status, str(e), e.code, **extra)
        if e.status in (408, 413):
            response.force_close()  # the unread rest of the body must not be parsed as a request
        return response
    except NotLeaderError as e:
        return not_leader_response(request, e)
    except (ServiceError, StorageFullError) as e:
        details = e.details if isinstance(e, ServiceError) else {}
        for cls, (status, code) in SERVICE_ERRORS.items():
            if isinstance(e, cls):
                return error_response(status, str(e) or type(e).__name__, code, **details)
        # A ServiceError of no known kind: whether it took effect is unknown, so say 500
        # (which clients treat as an unknown outcome), never a status meaning "not done".
        log.error("unclassified service error on %s %s: %r", request.method, request.path, e)
        return error_response(500, f"{type(e).__name__}: {e}", "internal")
    except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
        raise
    except Exception:
        log.exception("unexpected error serving %s %s", request.method, request.path)
        return error_response(500, "internal error (logged on the node)", "internal")
