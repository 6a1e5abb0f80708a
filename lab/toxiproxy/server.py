"""Our Toxiproxy server: the collection of proxies and the HTTP API that drives it.

``ToxiproxyServer`` holds the proxies (Toxiproxy's ``ProxyCollection``) and serves the API of
``api.py`` with aiohttp. It runs on whatever event loop calls ``start``; ``embedded.py`` gives it
a thread of its own and ``cli.py`` a process.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass

from aiohttp import web

from lab.toxiproxy.errors import PROXY_ALREADY_EXISTS, PROXY_NOT_FOUND, ApiError
from lab.toxiproxy.listen import check_address, open_listener, settle, stop_accepting
from lab.toxiproxy.proxy import Proxy

log = logging.getLogger(__name__)

# The Toxiproxy release whose API we follow, marked as ours.
VERSION = "2.12.0-aspen"


@dataclass(frozen=True, slots=True)
class ProxySpec:
    """A proxy to create: the fields of ``POST /proxies`` and of each ``/populate`` entry."""

    name: str
    listen: str
    upstream: str
    enabled: bool = True


class PopulateFailed(Exception):
    """``/populate`` stopped at ``error``; ``proxies`` were applied before it."""

    def __init__(self, error: ApiError, proxies: list[Proxy]) -> None:
        super().__init__(error.message)
        self.error = error
        self.proxies = proxies


class ToxiproxyServer:
    """Proxies plus the HTTP API on ``host:port`` (port 0 picks a free one)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8474) -> None:
        self.host = host
        self.port = port
        self.proxies: dict[str, Proxy] = {}
        self._lock = asyncio.Lock()
        self._runner: web.AppRunner | None = None
        self._socket: socket.socket | None = None

    @property
    def url(self) -> str:
        """The API's base URL (valid once started)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> str:
        """Serve the API; returns its URL, with the port actually bound (``OSError`` if not)."""
        from lab.toxiproxy.api import make_app

        sock = await open_listener(self.host, self.port)
        runner = web.AppRunner(make_app(self), access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.SockSite(runner, sock).start()
        except BaseException:
            sock.close()
            await runner.cleanup()
            raise
        self._runner, self._socket = runner, sock
        self.port = sock.getsockname()[1]
        log.info("toxiproxy API listening on %s", self.url)
        return self.url

    async def stop(self) -> None:
        """Stop every proxy and the API, closing every connection."""
        runner, self._runner = self._runner, None
        if runner is not None and self._socket is not None:
            await stop_accepting([self._socket])  # no new API connections from here on
        for proxy in list(self.proxies.values()):
            await proxy.stop()
        if runner is not None:
            await runner.cleanup()
        await settle()

    def get(self, name: str) -> Proxy:
        """The proxy called ``name``; ``ApiError`` 404 if none."""
        proxy = self.proxies.get(name)
        if proxy is None:
            raise PROXY_NOT_FOUND
        return proxy

    async def create(self, spec: ProxySpec) -> Proxy:
        """Add a proxy, started if ``spec.enabled`` (409 if the name is taken)."""
        check_address("upstream", spec.upstream)
        async with self._lock:
            if spec.name in self.proxies:
                raise PROXY_ALREADY_EXISTS
            proxy = Proxy(spec.name, spec.listen, spec.upstream)
            if spec.enabled:
                await proxy.start()
            self.proxies[spec.name] = proxy
            return proxy

    async def populate(self, specs: list[ProxySpec]) -> list[Proxy]:
        """Create or replace each proxy, as Toxiproxy's ``AddOrReplace``.

        A proxy that exists with the same listen and upstream is kept as it is; otherwise it is
        stopped and replaced. Everything is validated before anything changes.
        """
        seen: set[str] = set()
        for spec in specs:
            if spec.name in seen:
                raise PopulateFailed(ApiError(f"duplicate proxy name {spec.name!r}", 400), [])
            seen.add(spec.name)
            try:
                check_address("upstream", spec.upstream)
            except ApiError as exc:
                raise PopulateFailed(exc, []) from None
        done: list[Proxy] = []
        async with self._lock:
            for spec in specs:
                existing = self.proxies.get(spec.name)
                if existing is not None:
                    if existing.listen == spec.listen and existing.upstream == spec.upstream:
                        done.append(existing)
                        continue
                    await existing.stop()
                    del self.proxies[spec.name]
                proxy = Proxy(spec.name, spec.listen, spec.upstream)
                if spec.enabled:
                    try:
                        await proxy.start()
                    except ApiError as exc:
                        raise PopulateFailed(exc, done) from None
                self.proxies[spec.name] = proxy
                done.append(proxy)
        return done

    async def update(self, name: str, listen: str, upstream: str, enabled: bool) -> Proxy:
        """Change a proxy's fields; a new listen or upstream restarts it."""
        check_address("upstream", upstream)
        async with self._lock:
            proxy = self.get(name)
            await proxy.update(listen, upstream, enabled)
            return proxy

    async def delete(self, name: str) -> None:
        """Stop and forget a proxy."""
        async with self._lock:
            proxy = self.get(name)
            await proxy.stop()
            del self.proxies[name]

    async def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        async with self._lock:
            for proxy in list(self.proxies.values()):
                await proxy.start()
                await proxy.toxics.reset()
