"""Toxiproxy 2.x's HTTP API (``api.go``) in aiohttp: same routes, JSON shapes and status codes.

=========  ===================================  ===========================================
method     path                                 answer
=========  ===================================  ===========================================
GET        /version                             200 ``{"version": ...}``
GET        /proxies                             200 ``{name: proxy}``
POST       /proxies                             201 proxy; 409 name taken; 400 bad input
POST       /populate                            201 ``{"proxies": [...]}``
GET        /proxies/{proxy}                     200 proxy
POST|PATCH /proxies/{proxy}                     200 proxy (listen, upstream, enabled)
DELETE     /proxies/{proxy}                     204
GET        /proxies/{proxy}/toxics              200 ``[toxic]``
POST       /proxies/{proxy}/toxics              200 toxic (Toxiproxy answers 200, not 201)
GET        /proxies/{proxy}/toxics/{toxic}      200 toxic
POST|PATCH /proxies/{proxy}/toxics/{toxic}      200 toxic (attributes, toxicity)
DELETE     /proxies/{proxy}/toxics/{toxic}      204
POST       /reset                               204
=========  ===================================  ===========================================

Errors are ``{"error": message, "status": code}``; unknown proxy or toxic is 404. Bad input is
always a 4xx, and so is anything aiohttp itself rejects. Each call is logged at INFO.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from lab.toxiproxy import jsonbody
from lab.toxiproxy.errors import MISSING_FIELD, TOXIC_NOT_FOUND, ApiError
from lab.toxiproxy.server import VERSION, PopulateFailed, ProxySpec, ToxiproxyServer

log = logging.getLogger("lab.toxiproxy.api")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(error: ApiError) -> web.Response:
    """The JSON error answer."""
    return web.json_response(error.body(), status=error.status)


@web.middleware
async def _middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    response: web.StreamResponse
    try:
        if request.headers.get("User-Agent", "").startswith("Mozilla/"):
            raise ApiError("User agent not allowed", 403)  # Toxiproxy keeps browsers out
        response = await handler(request)
    except ApiError as exc:
        response = error_response(exc)
    except web.HTTPException as exc:  # no such route, wrong method, body too large...
        response = error_response(ApiError(exc.reason.lower(), exc.status))
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        response = error_response(ApiError("internal error", 500))
    log.info(
        "%s %s -> %d (%.1f ms)",
        request.method,
        request.path_qs,
        response.status,
        (time.perf_counter() - started) * 1000,
    )
    return response


async def _body(request: web.Request) -> object:
    return jsonbody.parse(await request.read())


def _spec(body: object) -> ProxySpec:
    """A new proxy from a JSON object; ``where`` says which entry for ``/populate``."""
    fields = jsonbody.fields(body, "name", "listen", "upstream", "enabled")
    name = jsonbody.as_str(fields, "name", "")
    listen = jsonbody.as_str(fields, "listen", "")
    upstream = jsonbody.as_str(fields, "upstream", "")
    enabled = jsonbody.as_bool(fields, "enabled", True)
    if not name:
        raise MISSING_FIELD.joined("name")
    if not upstream:
        raise MISSING_FIELD.joined("upstream")
    return ProxySpec(name, listen, upstream, enabled)


class _Api:
    def __init__(self, server: ToxiproxyServer) -> None:
        self.server = server

    async def version(self, request: web.Request) -> web.Response:
        return web.Response(
            text=f'{{"version": "{VERSION}"}}\n', content_type="application/json", charset="utf-8"
        )

    async def proxy_index(self, request: web.Request) -> web.Response:
        return web.json_response({n: p.to_json() for n, p in self.server.proxies.items()})

    async def proxy_create(self, request: web.Request) -> web.Response:
        proxy = await self.server.create(_spec(await _body(request)))
        return web.json_response(proxy.to_json(), status=201)

    async def populate(self, request: web.Request) -> web.Response:
        body = await _body(request)
        if body is None:
            body = []
        if not isinstance(body, list):
            raise ApiError("bad request body: expected a JSON array of proxies", 400)
        specs = []
        for i, entry in enumerate(body, start=1):
            try:
                specs.append(_spec(entry))
            except ApiError as exc:  # Go: "missing required field: name at proxy 1"
                error = ApiError(f"{exc.message} at proxy {i}", exc.status)
                return web.json_response({**error.body(), "proxies": None}, status=error.status)
        try:
            proxies = await self.server.populate(specs)
        except PopulateFailed as failed:
            body = {**failed.error.body(), "proxies": [p.to_json() for p in failed.proxies]}
            return web.json_response(body, status=failed.error.status)
        return web.json_response({"proxies": [p.to_json() for p in proxies]}, status=201)

    async def proxy_show(self, request: web.Request) -> web.Response:
        return web.json_response(self.server.get(request.match_info["proxy"]).to_json())

    async def proxy_update(self, request: web.Request) -> web.Response:
        proxy = self.server.get(request.match_info["proxy"])
        fields = jsonbody.fields(await _body(request), "listen", "upstream", "enabled")
        listen = jsonbody.as_str(fields, "listen", proxy.listen)
        upstream = jsonbody.as_str(fields, "upstream", proxy.upstream)
        enabled = jsonbody.as_bool(fields, "enabled", proxy.enabled)
        proxy = await self.server.update(proxy.name, listen, upstream, enabled)
        return web.json_response(proxy.to_json())

    async def proxy_delete(self, request: web.Request) -> web.Response:
        await self.server.delete(request.match_info["proxy"])
        return web.Response(status=204)

    async def toxic_index(self, request: web.Request) -> web.Response:
        proxy = self.server.get(request.match_info["proxy"])
        return web.json_response(proxy.toxics.to_json())

    async def toxic_create(self, request: web.Request) -> web.Response:
        proxy = self.server.get(request.match_info["proxy"])
        toxic = await proxy.toxics.add(await _body(request))
        return web.json_response(toxic.to_json())

    async def toxic_show(self, request: web.Request) -> web.Response:
        proxy = self.server.get(request.match_info["proxy"])
        toxic = proxy.toxics.get(request.match_info["toxic"])
        if toxic is None:
            raise TOXIC_NOT_FOUND
        return web.json_response(toxic.to_json())

    async def toxic_update(self, request: web.Request) -> web.Response:
        proxy = self.server.get(request.match_info["proxy"])
        body = await _body(request)
        toxic = await proxy.toxics.update(request.match_info["toxic"], body)
        return web.json_response(toxic.to_json())

    async def toxic_delete(self, request: web.Request) -> web.Response:
        proxy = self.server.get(request.match_info["proxy"])
        await proxy.toxics.remove(request.match_info["toxic"])
        return web.Response(status=204)

    async def reset(self, request: web.Request) -> web.Response:
        await self.server.reset()
        return web.Response(status=204)


def make_app(server: ToxiproxyServer) -> web.Application:
    """The aiohttp application serving ``server``'s API."""
    api = _Api(server)
    app = web.Application(middlewares=[_middleware])
    proxy, toxic = "/proxies/{proxy}", "/proxies/{proxy}/toxics/{toxic}"
    app.router.add_post("/reset", api.reset)
    app.router.add_get("/proxies", api.proxy_index)
    app.router.add_post("/proxies", api.proxy_create)
    app.router.add_post("/populate", api.populate)
    app.router.add_get(proxy, api.proxy_show)
    app.router.add_post(proxy, api.proxy_update)
    app.router.add_patch(proxy, api.proxy_update)
    app.router.add_delete(proxy, api.proxy_delete)
    app.router.add_get(proxy + "/toxics", api.toxic_index)
    app.router.add_post(proxy + "/toxics", api.toxic_create)
    app.router.add_get(toxic, api.toxic_show)
    app.router.add_post(toxic, api.toxic_update)
    app.router.add_patch(toxic, api.toxic_update)
    app.router.add_delete(toxic, api.toxic_delete)
    app.router.add_get("/version", api.version)
    return app
