"""Run our Toxiproxy server inside the lab's process, or use the one ``TOXIPROXY_URL`` names.

::

    with toxiproxy_url() as url:        # TOXIPROXY_URL if set, else our server on a free port
        control = ToxiproxyControl(url)
        ...

``EmbeddedToxiproxy`` runs the server in a daemon thread with its own event loop, so the lab
(synchronous, driving it through toxiproxy-python) never shares a loop with it.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import TracebackType

from lab.toxiproxy import loop
from lab.toxiproxy.server import ToxiproxyServer

ENV_VAR = "TOXIPROXY_URL"


def external_url(environ: Mapping[str, str] | None = None) -> str | None:
    """The external server's URL from ``TOXIPROXY_URL`` (without a trailing slash), if set."""
    value = (os.environ if environ is None else environ).get(ENV_VAR, "").strip()
    return value.rstrip("/") or None


class EmbeddedToxiproxy:
    """Our server on ``host:port`` (0 = a free port) in a background thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._url: str | None = None
        self._error: BaseException | None = None
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    @property
    def url(self) -> str:
        """The API's URL, e.g. ``http://127.0.0.1:40123``."""
        if self._url is None:
            raise RuntimeError("the embedded toxiproxy is not running")
        return self._url

    @property
    def running(self) -> bool:
        """Whether the server thread is serving."""
        return self._url is not None and self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 10.0) -> str:
        """Start serving and return the URL; raises what the server raised if it could not."""
        if self._thread is not None:
            raise RuntimeError("the embedded toxiproxy was already started")
        self._thread = threading.Thread(target=self._main, name="toxiproxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the embedded toxiproxy did not start in time")
        if self._error is not None:
            self._thread.join()
            raise self._error
        return self.url

    def stop(self, timeout: float = 10.0) -> None:
        """Stop every proxy and the API, and wait for the thread to end."""
        thread, loop, stop = self._thread, self._loop, self._stop
        if thread is None or loop is None or stop is None:
            return
        if thread.is_alive():
            loop.call_soon_threadsafe(stop.set)
            thread.join(timeout)
            if thread.is_alive():
                raise TimeoutError("the embedded toxiproxy did not stop in time")
        self._url = None

    def __enter__(self) -> EmbeddedToxiproxy:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _main(self) -> None:
        loop.run(self._serve())

    async def _serve(self) -> None:
        server = ToxiproxyServer(self.host, self.port)
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            self._url = await server.start()
        except BaseException as exc:  # handed to the thread that called start()
            self._error = exc
            return
        finally:
            self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await server.stop()


@contextmanager
def toxiproxy_url(
    host: str = "127.0.0.1", port: int = 0, environ: Mapping[str, str] | None = None
) -> Iterator[str]:
    """The URL of the Toxiproxy the lab should use, for the duration of the ``with``.

    ``TOXIPROXY_URL`` when set (that server is left running and untouched); otherwise our own
    server, started on ``host:port`` and stopped on exit.
    """
    url = external_url(environ)
    if url is not None:
        yield url
        return
    with EmbeddedToxiproxy(host, port) as embedded:
        yield embedded.url
