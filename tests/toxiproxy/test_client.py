"""Conformance through toxiproxy-python 0.1.1: every operation the lab's client can do."""

from __future__ import annotations

import pytest
import toxiproxy
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

from tests.toxiproxy.conftest import Server
from tests.toxiproxy.helpers import host_port

UPSTREAM = "127.0.0.1:9"


@pytest.fixture
def client(server: Server) -> toxiproxy.Toxiproxy:
    """toxiproxy-python pointed at the server under test."""
    client = toxiproxy.Toxiproxy()
    host, port = host_port(server.url.removeprefix("http://"))
    client.update_api_consumer(host, port)
    return client


def test_running_and_version(client: toxiproxy.Toxiproxy) -> None:
    assert client.running() is True
    assert b"2." in client.version()


def test_create_get_list_destroy(client: toxiproxy.Toxiproxy, prefix: str) -> None:
    proxy = client.create(upstream=UPSTREAM, name=prefix + "c")
    assert proxy.name == prefix + "c"
    assert proxy.upstream == UPSTREAM and proxy.enabled is True
    assert host_port(proxy.listen)[1] > 0
    fetched = client.get_proxy(prefix + "c")
    assert fetched is not None and fetched.listen == proxy.listen
    assert prefix + "c" in client.proxies()
    assert client.destroy(proxy) is True
    assert client.get_proxy(prefix + "c") is None


def test_create_disabled(client: toxiproxy.Toxiproxy, prefix: str) -> None:
    proxy = client.create(upstream=UPSTREAM, name=prefix + "d", enabled=False)
    assert proxy.enabled is False


def test_duplicate_raises_proxy_exists(client: toxiproxy.Toxiproxy, prefix: str) -> None:
    client.create(upstream=UPSTREAM, name=prefix + "dup")
    with pytest.raises(ProxyExists):
        client.create(upstream=UPSTREAM, name=prefix + "dup")


def test_unknown_proxy_raises_not_found(client: toxiproxy.Toxiproxy, prefix: str) -> None:
    ghost = toxiproxy.Proxy(name=prefix + "ghost", upstream="", enabled=True, listen="")
    with pytest.raises(NotFound):
        ghost.destroy()
    with pytest.raises(NotFound):
        ghost.disable()
    with pytest.raises(NotFound):
        ghost.toxics()
    with pytest.raises(NotFound):
        ghost.add_toxic(type="latency")


def test_toxics(client: toxiproxy.Toxiproxy, prefix: str) -> None:
    proxy = client.create(upstream=UPSTREAM, name=prefix + "t")
    proxy.add_toxic(type="latency", attributes={"latency": 50, "jitter": 5})
    proxy.add_toxic(type="bandwidth", stream="upstream", name="thin", toxicity=0.5)
    toxics = proxy.toxics()
    assert set(toxics) == {"latency_downstream", "thin"}
    latency = proxy.get_toxic("latency_downstream")
    assert latency is not None
    assert latency.type == "latency" and latency.stream == "downstream"
    assert latency.attributes == {"latency": 50, "jitter": 5} and latency.toxicity == 1
    thin = toxics["thin"]
    assert thin.stream == "upstream" and thin.toxicity == 0.5
    assert thin.attributes == {"rate": 0}
    assert proxy.destroy_toxic("thin") is True
    assert set(proxy.toxics()) == {"latency_downstream"}
    with pytest.raises(NotFound):
        proxy.destroy_toxic("thin")


def test_bad_toxic_raises_invalid_toxic(client: toxiproxy.Toxiproxy, prefix: str) -> None:
    proxy = client.create(upstream=UPSTREAM, name=prefix + "bad")
    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type="nonsense")
    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type="latency", stream="sideways")
    proxy.add_toxic(type="latency")
    with pytest.raises(ProxyExists):  # toxiproxy-python maps every 409 to ProxyExists
        proxy.add_toxic(type="latency")


def test_disable_enable_and_down(client: toxiproxy.Toxiproxy, prefix: str) -> None:
    proxy = client.create(upstream=UPSTREAM, name=prefix + "onoff")
    proxy.disable()
    assert client.proxies()[prefix + "onoff"].enabled is False
    proxy.enable()
    assert client.proxies()[prefix + "onoff"].enabled is True
    with proxy.down():
        assert client.proxies()[prefix + "onoff"].enabled is False
    restored = client.proxies()[prefix + "onoff"]
    assert restored.enabled is True and restored.listen == proxy.listen


def test_populate(client: toxiproxy.Toxiproxy, prefix: str) -> None:
    wanted = [
        {"name": prefix + "p1", "upstream": UPSTREAM, "listen": "127.0.0.1:0"},
        {"name": prefix + "p2", "upstream": UPSTREAM, "listen": "127.0.0.1:0"},
    ]
    created = client.populate(wanted)
    assert sorted(p.name for p in created) == [prefix + "p1", prefix + "p2"]
    keep = client.get_proxy(prefix + "p1")
    assert keep is not None
    same = [{"name": prefix + "p1", "upstream": UPSTREAM, "listen": keep.listen}]
    assert client.populate(same) == []  # already there: nothing created
    assert client.get_proxy(prefix + "p1").listen == keep.listen


def test_reset(client: toxiproxy.Toxiproxy, exclusive: Server, prefix: str) -> None:
    proxy = client.create(upstream=UPSTREAM, name=prefix + "r")
    proxy.add_toxic(type="timeout")
    proxy.disable()
    assert client.reset() is True
    after = client.get_proxy(prefix + "r")
    assert after is not None and after.enabled is True
    assert after.toxics() == {}


def test_destroy_all(client: toxiproxy.Toxiproxy, exclusive: Server, prefix: str) -> None:
    client.create(upstream=UPSTREAM, name=prefix + "x1")
    client.create(upstream=UPSTREAM, name=prefix + "x2")
    client.destroy_all()
    assert client.proxies() == {}
