"""Fixtures for the Toxiproxy suite.

The server under test is ours (embedded, one per xdist worker) unless ``TOXIPROXY_URL`` names
an external one, e.g. a real ``toxiproxy-server``: then every test that takes ``server`` runs
against it instead. Tests name their proxies with a per-test prefix and delete only those, so
workers can share an external server; the few tests that touch every proxy (``/reset``,
``destroy_all``) take ``exclusive`` and are skipped when an external server is shared by
several workers.
"""

from __future__ import annotations

import itertools
import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import requests
from toxiproxy.api import APIConsumer

from lab.toxiproxy.control import ProxyInfo, ToxiproxyControl
from lab.toxiproxy.embedded import EmbeddedToxiproxy, external_url
from tests.toxiproxy.helpers import EchoServer, host_port

_EXTERNAL = external_url()
_counter = itertools.count()


@dataclass(frozen=True)
class Server:
    """The Toxiproxy under test."""

    url: str
    kind: str  # "ours" or "external"

    @property
    def ours(self) -> bool:
        return self.kind == "ours"


@pytest.fixture(scope="session", params=["external" if _EXTERNAL else "ours"])
def toxiproxy_server(request: pytest.FixtureRequest) -> Iterator[Server]:
    """One server for the whole session (per xdist worker when it is ours)."""
    if request.param == "external":
        assert _EXTERNAL is not None
        yield Server(_EXTERNAL, "external")
        return
    with EmbeddedToxiproxy() as embedded:
        yield Server(embedded.url, "ours")


@pytest.fixture(autouse=True)
def _restore_client_address() -> Iterator[None]:
    """toxiproxy-python keeps the server address on a class: restore it after every test."""
    saved = (APIConsumer.host, APIConsumer.port)
    yield
    APIConsumer.host, APIConsumer.port = saved


@pytest.fixture
def prefix() -> str:
    """A name prefix unique to this test (and worker), for its proxies."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw")
    return f"t{worker}n{next(_counter)}_"


@pytest.fixture
def server(toxiproxy_server: Server, prefix: str) -> Iterator[Server]:
    """The server under test; proxies named with ``prefix`` are deleted after the test."""
    yield toxiproxy_server
    proxies = requests.get(f"{toxiproxy_server.url}/proxies", timeout=10).json()
    for name in proxies:
        if name.startswith(prefix):
            requests.delete(f"{toxiproxy_server.url}/proxies/{name}", timeout=10)


@pytest.fixture
def exclusive(server: Server) -> Server:
    """The server, for a test that acts on every proxy of it."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if not server.ours and workers > 1:
        pytest.skip("acts on every proxy of a shared external server: run with -n 0")
    return server


@pytest.fixture
def control(server: Server) -> ToxiproxyControl:
    """The lab's facade on the server under test."""
    return ToxiproxyControl(server.url)


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    """An echo server for proxies to point at."""
    echo_server = EchoServer()
    yield echo_server
    echo_server.close()


@pytest.fixture
def sink() -> Iterator[EchoServer]:
    """A server that records what it receives and sends nothing back."""
    sink_server = EchoServer(echo=False)
    yield sink_server
    sink_server.close()


@pytest.fixture
def dial() -> Iterator[Callable[[ProxyInfo | str], socket.socket]]:
    """Connect to a proxy's listen address (closed after the test)."""
    opened: list[socket.socket] = []

    def connect(target: ProxyInfo | str) -> socket.socket:
        listen = target.listen if isinstance(target, ProxyInfo) else target
        sock = socket.create_connection(host_port(listen), timeout=5)
        opened.append(sock)
        return sock

    yield connect
    for sock in opened:
        sock.close()


@pytest.fixture
def proxy(control: ToxiproxyControl, echo: EchoServer, prefix: str) -> ProxyInfo:
    """A proxy in front of the echo server."""
    return control.create_proxy(prefix + "echo", upstream=echo.address)
