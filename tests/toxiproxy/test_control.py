"""The lab's facade over toxiproxy-python (``lab.toxiproxy.control``)."""

from __future__ import annotations

import socket

import pytest

from lab.toxiproxy.control import ProxyInfo, ProxySpec, ToxicInfo, ToxiproxyControl
from lab.toxiproxy.embedded import EmbeddedToxiproxy
from lab.toxiproxy.errors import AlreadyExists, BadRequest, NotFound, ServerUnavailable
from tests.toxiproxy.conftest import Server
from tests.toxiproxy.helpers import EchoServer, round_trip

UPSTREAM = "127.0.0.1:9"


def test_server_calls(control: ToxiproxyControl) -> None:
    assert control.running() is True
    assert control.version().startswith("2.")


def test_proxy_lifecycle(control: ToxiproxyControl, prefix: str) -> None:
    info = control.create_proxy(prefix + "a", upstream=UPSTREAM)
    assert isinstance(info, ProxyInfo)
    assert info.enabled and info.upstream == UPSTREAM
    assert info.host == "127.0.0.1" and info.port > 0
    assert info.listen == f"{info.host}:{info.port}"
    assert control.proxy(prefix + "a") == info
    assert control.proxies()[prefix + "a"] == info
    control.disable(prefix + "a")
    assert control.proxy(prefix + "a").enabled is False
    control.enable(prefix + "a")
    assert control.proxy(prefix + "a") == info
    control.delete_proxy(prefix + "a")
    assert prefix + "a" not in control.proxies()


def test_errors_are_translated(control: ToxiproxyControl, prefix: str) -> None:
    control.create_proxy(prefix + "e", upstream=UPSTREAM)
    with pytest.raises(AlreadyExists):
        control.create_proxy(prefix + "e", upstream=UPSTREAM)
    with pytest.raises(NotFound):
        control.proxy(prefix + "missing")
    with pytest.raises(NotFound):
        control.delete_proxy(prefix + "missing")
    with pytest.raises(NotFound):
        control.disable(prefix + "missing")
    with pytest.raises(BadRequest, match="invalid toxic type"):
        control.add_toxic(prefix + "e", "nonsense")
    control.add_toxic(prefix + "e", "latency")
    with pytest.raises(AlreadyExists, match="toxic already exists"):
        control.add_toxic(prefix + "e", "latency")
    with pytest.raises(NotFound, match="toxic not found"):
        control.remove_toxic(prefix + "e", "nope")
    control.remove_toxic(prefix + "e", "nope", missing_ok=True)
    with pytest.raises(NotFound):
        control.update_toxic(prefix + "e", "nope", attributes={"latency": 1})


def test_listen_in_use_is_refused(control: ToxiproxyControl, prefix: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        listen = f"127.0.0.1:{taken.getsockname()[1]}"
        with pytest.raises(BadRequest):  # our 400, or the real server's 500
            control.create_proxy(prefix + "busy", upstream=UPSTREAM, listen=listen)


def test_typed_toxics(control: ToxiproxyControl, prefix: str) -> None:
    p = control.create_proxy(prefix + "typed", upstream=UPSTREAM).name
    names = [
        control.latency(p, 100, jitter_ms=10),
        control.bandwidth(p, 50, stream="upstream"),
        control.timeout(p, name="hole", toxicity=0.5),
        control.reset_peer(p, 20, stream="upstream"),
        control.slow_close(p, 30),
        control.slicer(p, 64, size_variation=8, delay_us=10, name="slices"),
        control.limit_data(p, 1000, name="cap"),
    ]
    toxics = control.toxics(p)
    assert sorted(names) == sorted(toxics)
    assert toxics["latency_downstream"] == ToxicInfo(
        "latency_downstream", "latency", "downstream", 1.0, {"latency": 100, "jitter": 10}
    )
    assert toxics["bandwidth_upstream"].attributes == {"rate": 50}
    assert toxics["hole"].toxicity == 0.5 and toxics["hole"].attributes == {"timeout": 0}
    assert toxics["reset_peer_upstream"].attributes == {"timeout": 20}
    assert toxics["slow_close_downstream"].attributes == {"delay": 30}
    assert toxics["slices"].attributes == {"average_size": 64, "size_variation": 8, "delay": 10}
    assert toxics["cap"].attributes == {"bytes": 1000}


def test_update_toxic_merges_and_keeps_fields(control: ToxiproxyControl, prefix: str) -> None:
    p = control.create_proxy(prefix + "upd", upstream=UPSTREAM).name
    name = control.latency(p, 100, jitter_ms=10, stream="upstream", toxicity=0.75)
    control.update_toxic(p, name, attributes={"latency": 300})
    assert control.toxics(p)[name] == ToxicInfo(
        name, "latency", "upstream", 0.75, {"latency": 300, "jitter": 10}
    )
    control.update_toxic(p, name, toxicity=0.25)
    assert control.toxics(p)[name].toxicity == 0.25


def test_populate(control: ToxiproxyControl, prefix: str) -> None:
    specs = [ProxySpec(prefix + "p1", UPSTREAM), ProxySpec(prefix + "p2", UPSTREAM)]
    found = control.populate(specs)
    assert set(found) == {prefix + "p1", prefix + "p2"}
    assert all(info.port > 0 for info in found.values())


def test_unreachable_server() -> None:
    with socket.create_server(("127.0.0.1", 0)) as gone:
        url = f"http://127.0.0.1:{gone.getsockname()[1]}"
    control = ToxiproxyControl(url)
    assert control.running() is False
    with pytest.raises(ServerUnavailable):
        control.proxies()
    with pytest.raises(ServerUnavailable):
        control.version()


def test_url_forms() -> None:
    assert (ToxiproxyControl("http://127.0.0.1:1234").host, 1234) == ("127.0.0.1", 1234)
    assert ToxiproxyControl("localhost").port == 8474
    assert ToxiproxyControl("http://[::1]:9").host == "[::1]"
    with pytest.raises(ValueError):
        ToxiproxyControl("https://example.invalid:8474")


def test_two_servers_in_one_process(
    control: ToxiproxyControl, server: Server, prefix: str, echo: EchoServer
) -> None:
    """toxiproxy-python's address is class-wide; the facade re-points it on every call."""
    with EmbeddedToxiproxy() as other:
        second = ToxiproxyControl(other.url)
        here = control.create_proxy(prefix + "here", upstream=echo.address)
        there = second.create_proxy(prefix + "there", upstream=echo.address)
        assert prefix + "there" not in control.proxies()
        assert set(second.proxies()) == {prefix + "there"}
        second.latency(there.name, 1)
        assert control.toxics(here.name) == {}
        with socket.create_connection((there.host, there.port), timeout=5) as sock:
            assert round_trip(sock, b"through the second server") < 1.0
