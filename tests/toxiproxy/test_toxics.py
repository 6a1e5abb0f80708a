"""What each toxic does to real TCP traffic: a client, a proxy, and an echo server behind it.

Timing assertions have a hard lower bound (the toxic's delay) and a loose upper bound.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import pytest

from lab.toxiproxy.control import ProxyInfo, ToxiproxyControl
from tests.toxiproxy.conftest import Server
from tests.toxiproxy.helpers import (
    EchoServer,
    RawApi,
    recv_all,
    recv_exactly,
    round_trip,
)
from tests.waiting import wait_until

Dial = Callable[[ProxyInfo | str], socket.socket]

TIMER_SLACK = 0.005
"""Event-loop timers may fire up to a clock tick early (uvloop's are millisecond-grained): a
200 ms latency toxic was measured at 199.7 ms end to end."""


def test_passes_data_through(proxy: ProxyInfo, dial: Dial) -> None:
    sock = dial(proxy)
    payload = bytes(range(256)) * 1000
    assert round_trip(sock, payload) < 2.0


@pytest.mark.parametrize("stream", ["downstream", "upstream"])
def test_latency_delays_round_trips(
    control: ToxiproxyControl, proxy: ProxyInfo, dial: Dial, stream: str
) -> None:
    control.latency(proxy.name, 150, stream=stream)  # type: ignore[arg-type]
    sock = dial(proxy)
    for _ in range(2):
        assert 0.15 <= round_trip(sock, b"ping") < 1.0


def test_latency_jitter_stays_in_range(
    control: ToxiproxyControl, proxy: ProxyInfo, dial: Dial
) -> None:
    control.latency(proxy.name, 100, jitter_ms=50)
    sock = dial(proxy)
    for _ in range(4):
        assert 0.05 <= round_trip(sock, b"x") < 0.8


def test_latency_keeps_order_and_does_not_add_up(
    control: ToxiproxyControl, proxy: ProxyInfo, dial: Dial
) -> None:
    control.latency(proxy.name, 100, jitter_ms=20)
    sock = dial(proxy)
    messages = [f"message {i};".encode() for i in range(50)]
    started = time.monotonic()
    for message in messages:
        sock.sendall(message)
    assert recv_exactly(sock, sum(map(len, messages))) == b"".join(messages)
    assert 0.08 <= time.monotonic() - started < 1.0  # a burst is delayed once, not 50 times


def test_bandwidth_limits_throughput(
    control: ToxiproxyControl, proxy: ProxyInfo, dial: Dial
) -> None:
    control.bandwidth(proxy.name, 100)  # 100 KB/s
    sock = dial(proxy)
    elapsed = round_trip(sock, b"b" * 40_000)
    assert 0.35 <= elapsed < 2.0


def test_timeout_zero_black_holes_downstream(
    control: ToxiproxyControl, proxy: ProxyInfo, dial: Dial, echo: EchoServer
) -> None:
    control.timeout(proxy.name, 0)
    sock = dial(proxy)
    sock.sendall(b"hello")
    wait_until(lambda: echo.sessions and echo.sessions[0].data == b"hello", what="delivery")
    sock.settimeout(0.3)
    with pytest.raises(TimeoutError):
        sock.recv(10)  # the echo came back to the proxy and was dropped


def test_timeout_zero_black_holes_upstream(
    control: ToxiproxyControl, proxy: ProxyInfo, dial: Dial, echo: EchoServer
) -> None:
    control.timeout(proxy.name, 0, stream="upstream")
    sock = dial(proxy)
    wait_until(lambda: echo.sessions, what="upstream connection")
    sock.sendall(b"hello")
    sock.settimeout(0.3)
    with pytest.raises(TimeoutError):
        sock.recv(10)
    assert echo.sessions[0].data == b""  # never reached the server


def test_timeout_closes_after_delay(
    control: ToxiproxyControl, proxy: ProxyInfo, dial: Dial
) -> None:
    control.timeout(proxy.name, 200)
    sock = dial(proxy)
    started = time.monotonic()
    sock.sendall(b"lost")
    assert recv_all(sock) == b""
    assert 0.2 <= time.monotonic() - started < 2.0


def test_removing_a_black_hole_closes_its_connections(
    control: ToxiproxyControl, proxy: ProxyInfo, dial: Dial
) -> None:
    sock = dial(proxy)
    assert round_trip(sock, b"connected") < 1.0
    name = control.timeout(proxy.name, 0)
    sock.sendall(b"lost")
    control.remove_toxic(proxy.name, name)
    assert recv_all(sock) == b""  # as in Toxiproxy: the data is gone, so is the connection
    assert round_trip(dial(proxy), b"new connections are fine") < 1.0


@pytest.mark.parametrize("stream", ["downstream", "upstream"])
def test_reset_peer_resets(
    control: ToxiproxyControl, proxy: ProxyInfo, dial: Dial, stream: str
) -> None:
    control.reset_peer(proxy.name, 100, stream=stream)  # type: ignore[arg-type]
    sock = dial(proxy)
    started = time.monotonic()
    sock.sendall(b"boom")
    with pytest.raises(ConnectionResetError):
        while sock.recv(10):
            pass
    assert 0.1 <= time.monotonic() - started < 2.0


def test_slicer_splits_writes(
    control: ToxiproxyControl, proxy: ProxyInfo, dial: Dial, sink: EchoServer
) -> None:
    sliced = control.create_proxy(proxy.name + "_sink", upstream=sink.address)
    control.slicer(sliced.name, 20, delay_us=10_000, stream="upstream")
    sock = dial(sliced)
    started = time.monotonic()
    sock.sendall(b"s" * 200)
    wait_until(lambda: sink.sessions and len(sink.sessions[0].data) == 200, what="200 bytes")
    assert time.monotonic() - started >= 0.15  # 16 slices of 12-13 bytes, 10 ms apart
    sizes = [len(part) for part in sink.sessions[0].received]
    assert len(sizes) >= 4, sizes  # the server may read a few slices at once
    assert min(sizes) <= 20, sizes


def test_limit_data_closes_after_n_bytes(
    control: ToxiproxyControl, proxy: ProxyInfo, dial: Dial
) -> None:
    control.limit_data(proxy.name, 10)
    sock = dial(proxy)
    sock.sendall(b"0123456789abcdefghij")
    assert recv_all(sock) == b"0123456789"


def test_limit_data_upstream_counts_across_writes(
    control: ToxiproxyControl, proxy: ProxyInfo, dial: Dial, echo: EchoServer
) -> None:
    control.limit_data(proxy.name, 6, stream="upstream")
    sock = dial(proxy)
    assert round_trip(sock, b"abcd") < 1.0
    sock.sendall(b"efgh")
    assert _closed(sock)  # the proxy closed both sides once 6 bytes had gone up
    wait_until(lambda: echo.sessions[0].closed.is_set(), what="upstream close")
    assert echo.sessions[0].data == b"abcdef"


def test_slow_close_delays_the_close(
    control: ToxiproxyControl, proxy: ProxyInfo, dial: Dial
) -> None:
    control.slow_close(proxy.name, 500)
    sock = dial(proxy)
    assert round_trip(sock, b"data still flows") < 0.5
    started = time.monotonic()
    sock.shutdown(socket.SHUT_WR)  # the echo server closes, the proxy holds the close
    assert recv_all(sock) == b""
    assert 0.5 <= time.monotonic() - started < 2.5


def test_toxicity_zero_never_applies(
    control: ToxiproxyControl, proxy: ProxyInfo, dial: Dial
) -> None:
    control.latency(proxy.name, 1000, toxicity=0.0)
    for _ in range(3):
        assert round_trip(dial(proxy), b"fast") < 0.5


def test_streams_are_independent(
    control: ToxiproxyControl, proxy: ProxyInfo, dial: Dial, echo: EchoServer
) -> None:
    control.limit_data(proxy.name, 3, stream="downstream")
    sock = dial(proxy)
    sock.sendall(b"abcdef")
    assert recv_all(sock) == b"abc"
    wait_until(lambda: echo.sessions[0].data == b"abcdef", what="full upstream delivery")


def test_disable_closes_connections_and_enable_listens_again(
    control: ToxiproxyControl, proxy: ProxyInfo, dial: Dial
) -> None:
    sock = dial(proxy)
    assert round_trip(sock, b"before") < 1.0
    control.disable(proxy.name)
    sock.settimeout(5)
    assert _closed(sock)
    with pytest.raises(ConnectionRefusedError):
        dial(proxy)
    control.enable(proxy.name)
    assert control.proxy(proxy.name).listen == proxy.listen
    assert round_trip(dial(proxy), b"after") < 1.0


def test_delete_closes_connections(control: ToxiproxyControl, proxy: ProxyInfo, dial: Dial) -> None:
    sock = dial(proxy)
    assert round_trip(sock, b"x") < 1.0
    control.delete_proxy(proxy.name)
    assert _closed(sock)
    with pytest.raises(ConnectionRefusedError):
        dial(proxy)


def test_reset_restores_everything(
    control: ToxiproxyControl, exclusive: Server, proxy: ProxyInfo, dial: Dial
) -> None:
    control.latency(proxy.name, 1000)
    control.disable(proxy.name)
    control.reset()
    assert control.toxics(proxy.name) == {}
    assert round_trip(dial(proxy), b"clean") < 0.5


def test_toxic_added_to_an_open_connection(
    control: ToxiproxyControl, proxy: ProxyInfo, dial: Dial
) -> None:
    sock = dial(proxy)
    round_trip(sock, b"fast")
    control.latency(proxy.name, 200)
    assert round_trip(sock, b"slow") >= 0.2 - TIMER_SLACK


async def test_toxic_updated_on_an_open_connection(
    server: Server, control: ToxiproxyControl, proxy: ProxyInfo, dial: Dial
) -> None:
    name = control.latency(proxy.name, 20)
    sock = dial(proxy)
    assert round_trip(sock, b"a") >= 0.02 - TIMER_SLACK
    path = f"/proxies/{proxy.name}/toxics/{name}"
    reply = await RawApi(server.url).call("PATCH", path, {"attributes": {"latency": 250}})
    assert reply.status == 200
    assert round_trip(sock, b"b") >= 0.25 - TIMER_SLACK


def test_control_update_reaches_open_connections(
    control: ToxiproxyControl, proxy: ProxyInfo, dial: Dial
) -> None:
    name = control.latency(proxy.name, 20, jitter_ms=1)
    sock = dial(proxy)
    assert round_trip(sock, b"a") >= 0.019
    control.update_toxic(proxy.name, name, attributes={"latency": 250})
    assert control.toxics(proxy.name)[name].attributes == {"latency": 250, "jitter": 1}
    assert round_trip(sock, b"b") >= 0.24


def test_removing_latency_releases_held_data(
    control: ToxiproxyControl, proxy: ProxyInfo, dial: Dial
) -> None:
    name = control.latency(proxy.name, 3000)
    sock = dial(proxy)
    started = time.monotonic()
    payload = b"held " * 1000
    sock.sendall(payload)
    control.remove_toxic(proxy.name, name)
    assert recv_exactly(sock, len(payload)) == payload  # nothing lost, nothing reordered
    assert time.monotonic() - started < 2.0


def test_many_toxics_chain_and_unchain_under_traffic(
    control: ToxiproxyControl, proxy: ProxyInfo, dial: Dial
) -> None:
    sock = dial(proxy)
    names = [
        control.latency(proxy.name, 5, name="l1"),
        control.slicer(proxy.name, 100, size_variation=20, name="s1"),
        control.latency(proxy.name, 5, stream="upstream", name="l2"),
        control.bandwidth(proxy.name, 10_000, name="b1"),
    ]
    payload = bytes(range(256)) * 200
    sock.sendall(payload)
    for name in names[1:3]:
        control.remove_toxic(proxy.name, name)
    assert recv_exactly(sock, len(payload)) == payload
    assert round_trip(sock, payload) < 3.0


def test_unreachable_upstream_closes_the_client(
    control: ToxiproxyControl, prefix: str, dial: Dial
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as gone:
        dead = f"127.0.0.1:{gone.getsockname()[1]}"
    proxy = control.create_proxy(prefix + "dead", upstream=dead)
    sock = dial(proxy)
    assert _closed(sock)


def _closed(sock: socket.socket) -> bool:
    """Whether the peer closed (EOF or reset) within the socket's timeout."""
    try:
        return sock.recv(10) == b""
    except ConnectionResetError:
        return True
