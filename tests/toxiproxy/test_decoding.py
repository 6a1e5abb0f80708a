"""Pure pieces: attribute decoding, request bodies, addresses, and the slicer's cut points."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab.toxiproxy import jsonbody
from lab.toxiproxy.errors import ApiError
from lab.toxiproxy.listen import format_address, split_host_port
from lab.toxiproxy.toxics import Latency, LimitData, Slicer, decode_toxic


def test_defaults_and_attributes() -> None:
    assert decode_toxic("latency", None).attributes() == {"latency": 0, "jitter": 0}
    assert decode_toxic("noop", {"anything": 1}).attributes() == {}
    toxic = decode_toxic("latency", {"latency": 10, "unknown": "ignored"})
    assert toxic == Latency(latency=10, jitter=0)


def test_decoding_follows_go() -> None:
    assert decode_toxic("latency", {"LATENCY": 7}) == Latency(latency=7)  # case-insensitive
    assert decode_toxic("latency", {"latency": None}) == Latency()  # null leaves the value
    assert decode_toxic("latency", {"latency": 5.0}) == Latency(latency=5)
    base = Latency(latency=100, jitter=10)
    assert decode_toxic("latency", {"jitter": 3}, base) == Latency(latency=100, jitter=3)
    assert decode_toxic("limit_data", {"bytes": 2**63 - 1}) == LimitData(bytes=2**63 - 1)


@pytest.mark.parametrize(
    ("type_name", "attributes", "status"),
    [
        ("nonsense", {}, 400),
        ("latency", [1], 400),
        ("latency", {"latency": True}, 400),
        ("latency", {"latency": "1"}, 400),
        ("latency", {"latency": 1.5}, 400),
        ("latency", {"latency": -1}, 400),
        ("latency", {"latency": 2**63}, 400),
        ("slicer", {}, 400),  # average_size 0 would never finish slicing
    ],
)
def test_bad_attributes(type_name: str, attributes: object, status: int) -> None:
    with pytest.raises(ApiError) as exc:
        decode_toxic(type_name, attributes)
    assert exc.value.status == status


def test_latency_delay_range() -> None:
    toxic = Latency(latency=100, jitter=20)
    delays = [toxic.delay() for _ in range(500)]
    assert all(0.08 <= d < 0.12 for d in delays)
    assert Latency(latency=30).delay() == 0.03


@settings(max_examples=300, deadline=None)
@given(
    size=st.integers(1, 5000),
    average=st.integers(1, 200),
    variation=st.integers(0, 199),
)
def test_slicer_cuts_cover_the_chunk(size: int, average: int, variation: int) -> None:
    variation = min(variation, average - 1)
    cuts = Slicer(average_size=average, size_variation=variation).cuts(0, size)
    pairs = list(zip(cuts[::2], cuts[1::2], strict=True))
    assert pairs[0][0] == 0 and pairs[-1][1] == size
    assert all(b == c for (_, b), (c, _) in itertools.pairwise(pairs))
    assert all(0 < end - start <= average + variation for start, end in pairs)


def test_body_parsing_is_gos() -> None:
    assert jsonbody.parse(b'  {"a": 1} trailing garbage') == {"a": 1}
    assert jsonbody.parse(b"null") is None
    for raw in (b"", b"   ", b"{", b"NaN", b"1e999", b"\xff"):
        with pytest.raises(ApiError):
            jsonbody.parse(raw)
    assert jsonbody.fields({"Name": "x", "listen": None}, "name", "listen") == {"name": "x"}
    assert jsonbody.fields(None, "name") == {}
    with pytest.raises(ApiError):
        jsonbody.fields([1], "name")
    with pytest.raises(ApiError):
        jsonbody.as_float({"t": 10**400}, "t", 1.0)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1:80", ("127.0.0.1", 80)),
        ("localhost:0", ("localhost", 0)),
        ("[::1]:8474", ("::1", 8474)),
        (":26379", ("", 26379)),
        ("127.0.0.1:", ("127.0.0.1", 0)),
        ("example.com:http", ("example.com", 80)),
    ],
)
def test_split_host_port(address: str, expected: tuple[str, int]) -> None:
    assert split_host_port(address) == expected


@pytest.mark.parametrize(
    "address", ["nohost", "a:b:c", "127.0.0.1:65536", "[::1", "[::1]80", "h:nosuchservice"]
)
def test_split_host_port_errors(address: str) -> None:
    with pytest.raises(ValueError):
        split_host_port(address)


def test_format_address() -> None:
    assert format_address(("127.0.0.1", 80)) == "127.0.0.1:80"
    assert format_address(("::", 80, 0, 0)) == "[::]:80"
