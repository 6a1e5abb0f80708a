"""The ``packet_loss`` toxic: its attributes over the API, its drop rate and burst model, and
the byte stream through a real proxy (through toxiproxy-python, as the lab drives it).

Runs against our server; against an external ``TOXIPROXY_URL`` only when that server knows the
toxic (the shared real source predates Toxiproxy PR #739).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import socket
from collections.abc import Callable

import pytest
import toxiproxy

from lab.toxiproxy.control import ProxyInfo, ToxiproxyControl
from lab.toxiproxy.errors import BadRequest
from lab.toxiproxy.stream import Channel, Chunk, Stub
from lab.toxiproxy.toxics import PacketLoss, _LossState, decode_toxic
from tests.toxiproxy.conftest import Server
from tests.toxiproxy.helpers import EchoServer, RawApi, recv_exactly
from tests.waiting import wait_until

Dial = Callable[[ProxyInfo | str], socket.socket]


@pytest.fixture(autouse=True)
def _knows_packet_loss(server: Server) -> None:
    if not server.ours:
        pytest.skip("the external server may predate packet_loss (Toxiproxy PR #739)")


# -- attributes -------------------------------------------------------------------------------


def test_defaults_are_the_merged_codes() -> None:
    assert decode_toxic("packet_loss", None).attributes() == {"loss_rate": 0.0, "correlation": 0.0}
    toxic = decode_toxic("packet_loss", {"loss_rate": 1, "Correlation": 0.25})
    assert toxic == PacketLoss(loss_rate=1.0, correlation=0.25)
    assert isinstance(toxic.attributes()["loss_rate"], float)


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"loss_rate": 1.5}, "packet_loss attribute loss_rate must be between 0 and 1"),
        ({"loss_rate": -0.1}, "packet_loss attribute loss_rate must be between 0 and 1"),
        ({"correlation": 2}, "packet_loss attribute correlation must be between 0 and 1"),
        ({"loss_rate": "0.5"}, "packet_loss attribute loss_rate must be a number"),
        ({"loss_rate": True}, "packet_loss attribute loss_rate must be a number"),
    ],
)
async def test_out_of_range_is_400(
    server: Server, proxy: ProxyInfo, attributes: dict[str, object], message: str
) -> None:
    api = RawApi(server.url)
    body = {"type": "packet_loss", "attributes": attributes}
    reply = await api.call("POST", f"/proxies/{proxy.name}/toxics", body)
    assert reply.status == 400
    assert reply.json == {"error": f"bad request body: {message}", "status": 400}
    assert (await api.call("GET", f"/proxies/{proxy.name}/toxics")).json == []


async def test_created_listed_and_updated_over_the_api(server: Server, proxy: ProxyInfo) -> None:
    api = RawApi(server.url)
    body = {"type": "packet_loss", "stream": "upstream", "attributes": {"loss_rate": 0.25}}
    created = await api.call("POST", f"/proxies/{proxy.name}/toxics", body)
    expected = {
        "name": "packet_loss_upstream",
        "type": "packet_loss",
        "stream": "upstream",
        "toxicity": 1.0,
        "attributes": {"loss_rate": 0.25, "correlation": 0.0},
    }
    assert created.status == 200 and created.json == expected
    listed = await api.call("GET", f"/proxies/{proxy.name}/toxics")
    assert listed.json == [expected]
    path = f"/proxies/{proxy.name}/toxics/packet_loss_upstream"
    updated = await api.call("POST", path, {"attributes": {"correlation": 0.5}})
    assert updated.json["attributes"] == {"loss_rate": 0.25, "correlation": 0.5}
    refused = await api.call("POST", path, {"attributes": {"correlation": 1.01}})
    assert refused.status == 400
    assert (await api.call("GET", path)).json["attributes"]["correlation"] == 0.5


def test_reachable_from_toxiproxy_python(control: ToxiproxyControl, proxy: ProxyInfo) -> None:
    name = control.packet_loss(proxy.name, 0.3, correlation=0.1, stream="upstream")
    info = control.toxics(proxy.name)[name]
    assert (info.type, info.stream) == ("packet_loss", "upstream")
    assert info.attributes == {"loss_rate": 0.3, "correlation": 0.1}
    with pytest.raises(BadRequest, match="loss_rate must be between 0 and 1"):
        control.packet_loss(proxy.name, 3.0, name="too_much")
    raw = toxiproxy.Proxy(name=proxy.name, upstream="", enabled=True, listen="")
    raw.add_toxic(type="packet_loss", name="plain", attributes={"loss_rate": 0.5})
    assert raw.get_toxic("plain").attributes == {"loss_rate": 0.5, "correlation": 0.0}


# -- the model, on a stub (no sockets): many chunks, tight bounds --------------------------------


async def _survivors(toxic: PacketLoss, n: int, seed: int) -> list[int]:
    """Indexes of the ``n`` chunks that ``toxic`` lets through, with a seeded RNG."""
    stub = Stub(Channel(n + 1), Channel(n + 1), lambda: None)
    stub.state = _LossState(random.Random(seed))
    now = asyncio.get_running_loop().time()
    for i in range(n):
        stub.input.put_nowait(Chunk(i.to_bytes(4, "big"), now))
    stub.input.put_nowait(None)
    await toxic.pipe(stub)
    out = [c for c in stub.output.take_all() if c is not None]
    return [int.from_bytes(c.data, "big") for c in out]


@pytest.mark.parametrize("loss_rate", [0.0, 0.1, 0.3, 0.5, 1.0])
async def test_drops_about_loss_rate_of_chunks(loss_rate: float) -> None:
    n = 20_000
    kept = await _survivors(PacketLoss(loss_rate=loss_rate), n, seed=7)
    assert kept == sorted(kept)  # order kept, nothing duplicated
    # Binomial: 6 standard deviations is ~0.02 at most for n = 20000.
    assert abs((n - len(kept)) / n - loss_rate) < 0.02


async def test_correlation_makes_bursts() -> None:
    """P(drop | drop) = 0.2 + 0.5, P(drop | kept) = 0.2: a Markov chain whose stationary drop
    rate is 0.2 / (1 - 0.7 + 0.2) = 0.4 and whose bursts average 1 / (1 - 0.7) = 3.3 chunks."""
    n = 40_000
    kept = set(await _survivors(PacketLoss(loss_rate=0.2, correlation=0.5), n, seed=11))
    dropped = [i not in kept for i in range(n)]
    bursts: list[int] = []  # lengths of runs of dropped chunks
    for prev, cur in itertools.pairwise([False, *dropped]):
        if cur and prev:
            bursts[-1] += 1
        elif cur:
            bursts.append(1)
    assert abs(sum(dropped) / n - 0.4) < 0.03
    assert 3.0 < sum(bursts) / len(bursts) < 3.7
    plain = set(await _survivors(PacketLoss(loss_rate=0.4), n, seed=11))
    plain_bursts = sum(1 for i in range(1, n) if i not in plain and i - 1 in plain)
    assert plain_bursts > 1.5 * len(bursts)  # same loss, fewer and longer bursts


# -- real sockets ------------------------------------------------------------------------------


def _send_and_count(dial: Dial, proxy: ProxyInfo, sink: EchoServer, total: int) -> int:
    """Send ``total`` bytes through the proxy, close, and return how many reached the sink."""
    sock = dial(proxy)
    sock.sendall(random.randbytes(total))
    sock.close()
    wait_until(lambda: sink.sessions and sink.sessions[0].closed.is_set(), 20, "sink closed")
    return len(sink.sessions[0].data)


def test_stream_loses_about_loss_rate_of_bytes(
    control: ToxiproxyControl, sink: EchoServer, dial: Dial, prefix: str
) -> None:
    """Each chunk is dropped independently of its size, so the expected fraction of bytes lost
    is ``loss_rate`` however the proxy happens to cut the stream."""
    proxy = control.create_proxy(prefix + "lossy", upstream=sink.address)
    control.packet_loss(proxy.name, 0.3, stream="upstream")
    total = 16 * 1024 * 1024  # at least 512 chunks of 32 KiB
    lost = 1 - _send_and_count(dial, proxy, sink, total) / total
    assert 0.15 < lost < 0.45


def test_full_loss_keeps_the_connection_open(
    control: ToxiproxyControl, proxy: ProxyInfo, echo: EchoServer, dial: Dial
) -> None:
    control.packet_loss(proxy.name, 1.0)
    sock = dial(proxy)
    sock.sendall(b"into the void")
    wait_until(lambda: echo.sessions and echo.sessions[0].data == b"into the void")
    control.remove_toxic(proxy.name, "packet_loss_downstream")
    sock.sendall(b"back")  # no close, no RST: the stream just has a hole
    assert recv_exactly(sock, 4) == b"back"
