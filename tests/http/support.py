"""Test helpers shared by the HTTP, client and CLI tests.

* :func:`async_test` runs an ``async def`` test in a fresh event loop (no pytest plugin needed);
* :func:`api` yields an aiohttp ``TestClient`` for ``build_app(FakeService)`` on a random port;
* :class:`LiveServers` serves apps from a background thread, for synchronous callers (the
  CLI, schemathesis, the sync client).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import json
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, ParamSpec

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from aspen.http import HttpServer, build_app, serve
from aspen.http.app import RUNNER_OPTIONS
from tests.http.fake_service import FakeService

P = ParamSpec("P")


def async_test(fn: Callable[P, Coroutine[Any, Any, None]]) -> Callable[P, None]:
    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        asyncio.run(fn(*args, **kwargs))

    return run


def payload(body: Any) -> dict[str, Any]:
    """Request kwargs for a JSON body (or raw bytes), streamed from a BytesIO: aiohttp warns
    about raw bodies over 1 MiB, and tests run with warnings as errors."""
    if body is None:
        return {}
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return {"data": io.BytesIO(raw), "headers": {"Content-Type": "application/json"}}


@contextlib.asynccontextmanager
async def api(
    service: FakeService | None = None, **kwargs: Any
) -> AsyncIterator[tuple[TestClient[web.Request, web.Application], FakeService]]:
    service = service or FakeService()
    server = TestServer(build_app(service, **kwargs))
    await server.start_server(**RUNNER_OPTIONS)  # TestClient would start it without them
    async with TestClient(server) as client:
        service.set_http(f"127.0.0.1:{client.port}")
        yield client, service


class LiveServers:
    """Serve apps from a thread with its own event loop; ``urls[i]`` is ``http://127.0.0.1:P``.

    Usable as a context manager; ``__exit__`` stops the servers and joins the thread.
    """

    def __init__(self, *services: FakeService, **app_kwargs: Any) -> None:
        self.services = services
        self._app_kwargs = app_kwargs
        self.urls: list[str] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="live-servers", daemon=True)

    @property
    def url(self) -> str:
        return self.urls[0]

    def _run(self) -> None:
        try:
            self._loop.run_until_complete(self._serve())
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        servers: list[HttpServer] = []
        stop = self._stop = asyncio.Event()
        try:
            for service in self.services:
                server = await serve(build_app(service, **self._app_kwargs), "127.0.0.1", 0)
                servers.append(server)
                service.set_http(f"127.0.0.1:{server.port}")
                self.urls.append(server.url)
        except BaseException as e:
            self._error = e
        self._ready.set()
        try:
            if self._error is None:
                await stop.wait()
        finally:
            for server in servers:
                await server.close()

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the servers' loop (to touch a service without racing a request)."""

        async def wrapped() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(wrapped(), self._loop).result(timeout=10)

    def __enter__(self) -> LiveServers:
        self._thread.start()
        self._ready.wait(timeout=30)
        if self._error is not None:
            self._thread.join()
            raise self._error
        return self

    def __exit__(self, *exc: object) -> None:
        stop = self._stop
        if stop is not None:
            self._loop.call_soon_threadsafe(stop.set)
        self._thread.join(timeout=30)
