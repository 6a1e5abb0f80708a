"""Running our server in a background thread, and honouring ``TOXIPROXY_URL``."""

from __future__ import annotations

import socket
import threading

import pytest
import requests

from lab.toxiproxy.control import ToxiproxyControl
from lab.toxiproxy.embedded import EmbeddedToxiproxy, external_url, toxiproxy_url
from tests.toxiproxy.helpers import EchoServer, round_trip


def _refused(url: str) -> bool:
    try:
        requests.get(url + "/version", timeout=5)
    except requests.ConnectionError:
        return True
    return False


def _toxiproxy_threads() -> int:
    return sum(thread.name == "toxiproxy" for thread in threading.enumerate())


def test_start_serve_stop() -> None:
    embedded = EmbeddedToxiproxy()
    with pytest.raises(RuntimeError):
        _ = embedded.url
    url = embedded.start()
    try:
        assert embedded.running
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
        assert requests.get(url + "/version", timeout=5).json()["version"].startswith("2.")
    finally:
        embedded.stop()
    assert not embedded.running
    assert _refused(url)
    embedded.stop()  # a second stop is harmless


def test_stop_closes_proxies_and_connections(echo: EchoServer) -> None:
    with EmbeddedToxiproxy() as embedded:
        proxy = ToxiproxyControl(embedded.url).create_proxy("p", upstream=echo.address)
        sock = socket.create_connection((proxy.host, proxy.port), timeout=5)
        assert round_trip(sock, b"hi") < 1.0
    with sock:
        assert sock.recv(10) == b""
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((proxy.host, proxy.port), timeout=5).close()


def test_port_in_use_is_raised_to_the_caller() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        embedded = EmbeddedToxiproxy(port=taken.getsockname()[1])
        with pytest.raises(OSError):
            embedded.start()
    assert not embedded.running


def test_external_url_from_environment() -> None:
    assert external_url({}) is None
    assert external_url({"TOXIPROXY_URL": "  "}) is None
    assert external_url({"TOXIPROXY_URL": "http://10.0.0.1:8474/"}) == "http://10.0.0.1:8474"


def test_toxiproxy_url_uses_the_external_server() -> None:
    before = _toxiproxy_threads()
    with toxiproxy_url(environ={"TOXIPROXY_URL": "http://127.0.0.1:8474"}) as url:
        assert url == "http://127.0.0.1:8474"
        assert _toxiproxy_threads() == before  # nothing was started


def test_toxiproxy_url_starts_and_stops_ours() -> None:
    with toxiproxy_url(environ={}) as url:
        assert ToxiproxyControl(url).running()
    assert _refused(url)
