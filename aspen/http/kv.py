"""Key-value endpoints: the seed's ``POST /write`` and ``POST /read``, and the REST ``/kv`` routes.

A read of an absent key is a successful read: ``200 {"value": null, "found": false}``, not a
404, so a client never confuses "no such key" with "no such endpoint". A CAS whose expectation
did not hold is also a 200 (``"ok": false`` with the current value): only a request the node
could not carry out is an HTTP error. Every answer carries the Raft ``index`` it was served at.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from aspen.http import validation as v
from aspen.http.errors import json_response
from aspen.http.keys import METRICS, SERVICE
from aspen.node.service import CasResult, Consistency, NodeService, ReadResult, ScanResult

KV_QUERY = ("consistency",)
KEY_ROUTE = r"/kv/{key:[\s\S]+}"
SCAN_QUERY = ("prefix", "limit", "consistency", "start_after")


def _service(request: web.Request) -> NodeService:
    return request.app[SERVICE]


def _cas_json(key: str, r: CasResult) -> dict[str, Any]:
    return {"key": key, "ok": r.ok, "current": r.current, "index": r.index}


def _read_json(key: str, r: ReadResult) -> dict[str, Any]:
    return {"key": key, "value": r.value, "found": r.value is not None, "index": r.index}


# --- operations shared by the seed routes and the REST routes -----------------------------------


async def _put(request: web.Request, key: str, value: str) -> dict[str, Any]:
    key, value = v.check_key(key), v.check_value(value)
    with request.app[METRICS].proposal("put"):
        r = await _service(request).put(key, value)
    return {"key": key, "index": r.index}


async def _delete(request: web.Request, key: str) -> dict[str, Any]:
    key = v.check_key(key)
    with request.app[METRICS].proposal("delete"):
        r = await _service(request).delete(key)
    return {"key": key, "existed": r.existed, "index": r.index}


async def _cas(request: web.Request, b: v.CasBody) -> dict[str, Any]:
    key = v.check_key(b.key)
    expected = None if b.expected is None else v.check_value(b.expected, "expected")
    new = v.check_value(b.new, "new")
    with request.app[METRICS].proposal("cas"):
        r = await _service(request).cas(key, expected, new)
    return _cas_json(key, r)


async def _set_multi(request: web.Request, b: v.SetMultiBody) -> dict[str, Any]:
    items = v.check_items(b.items)
    with request.app[METRICS].proposal("set-multi"):
        r = await _service(request).set_multi(items)
    return {"count": len(items), "index": r.index}


async def _get(request: web.Request, key: str, consistency: Consistency) -> dict[str, Any]:
    key = v.check_key(key)
    with request.app[METRICS].read(consistency.value):
        r = await _service(request).get(key, consistency)
    return _read_json(key, r)


# --- seed-compatible routes ---------------------------------------------------------------------


async def write(request: web.Request) -> web.Response:
    """``POST /write``: ``{"key","value"}`` (a put) or ``{"op": put|delete|cas|set-multi, ...}``."""
    op, b = v.write_op(await v.read_json(request))
    match b:
        case v.PutBody(key, value):
            result = await _put(request, key, value)
        case v.DeleteBody(key):
            result = await _delete(request, key)
        case v.CasBody():
            result = await _cas(request, b)
        case v.SetMultiBody():
            result = await _set_multi(request, b)
        case _:  # pragma: no cover - write_op returns one of the above
            raise AssertionError(op)
    return json_response({"op": op, **result})


async def read(request: web.Request) -> web.Response:
    """``POST /read``: ``{"key", "consistency"?}``."""
    b = await v.body(request, v.ReadBody)
    return json_response(await _get(request, b.key, v.consistency(b.consistency)))


# --- REST routes --------------------------------------------------------------------------------


async def get_key(request: web.Request) -> web.Response:
    """``GET /kv/{key}?consistency=linearizable|stale``."""
    params = v.query(request, KV_QUERY)
    consistency = v.consistency(params.get("consistency"))
    return json_response(await _get(request, request.match_info["key"], consistency))


async def put_key(request: web.Request) -> web.Response:
    """``PUT /kv/{key}`` with ``{"value"}``."""
    v.query(request, ())
    b = await v.body(request, v.ValueBody)
    return json_response(await _put(request, request.match_info["key"], b.value))


async def delete_key(request: web.Request) -> web.Response:
    """``DELETE /kv/{key}``."""
    v.query(request, ())
    return json_response(await _delete(request, request.match_info["key"]))


async def cas(request: web.Request) -> web.Response:
    """``POST /kv/cas`` with ``{"key", "expected" (null: must be absent), "new"}``."""
    return json_response(await _cas(request, await v.body(request, v.CasBody)))


async def set_multi(request: web.Request) -> web.Response:
    """``POST /kv/set-multi`` with ``{"items": {key: value, ...}}``: atomic, at most 100 keys."""
    return json_response(await _set_multi(request, await v.body(request, v.SetMultiBody)))


async def scan(request: web.Request) -> web.Response:
    """``GET /kv?prefix=&limit=&consistency=&start_after=``: keys in order, at most ``limit``
    (<= 1000); ``start_after`` (exclusive) pages through a larger result."""
    params = v.query(request, SCAN_QUERY)
    prefix = v.scan_prefix(params.get("prefix"))
    start_after = v.scan_prefix(params.get("start_after"))
    limit = v.scan_limit(params.get("limit"))
    consistency = v.consistency(params.get("consistency"))
    with request.app[METRICS].read(consistency.value):
        r: ScanResult = await _service(request).scan(prefix, limit, consistency, start_after)
    items = [{"key": k, "value": val} for k, val in r.items]
    return json_response(
        {
            "prefix": prefix,
            "items": items,
            "count": len(items),
            "truncated": r.truncated,
            "index": r.index,
        }
    )


def add_routes(app: web.Application) -> None:
    app.router.add_post("/write", write)
    app.router.add_post("/read", read)
    app.router.add_get("/kv", scan)
    # POST /kv/cas and /kv/set-multi come before /kv/{key} so that their paths resolve to them;
    # a key named "cas" is still readable and writable with GET/PUT/DELETE /kv/cas.
    app.router.add_post("/kv/cas", cas)
    app.router.add_post("/kv/set-multi", set_multi)
    # Any key the write path accepts, newlines included (``.`` would stop at a newline).
    app.router.add_get(KEY_ROUTE, get_key)
    app.router.add_put(KEY_ROUTE, put_key)
    app.router.add_delete(KEY_ROUTE, delete_key)
