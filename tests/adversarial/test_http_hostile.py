"""HTTP input that cannot hurt a node (issue #13, item 5), against a REAL ``aspen-node`` process.

Each attack goes over raw sockets or raw HTTP; afterwards the process must still run and a write
plus a linearizable read must succeed. The node runs with short limits (1 s header and body
timeouts, 2 s idle, 16 connections) so that the timeouts are observable in a test.
"""

from __future__ import annotations

import gzip
import json
import socket
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.adversarial._single_node_util import LiveNode, live_node

pytestmark = pytest.mark.integration

HEADER_TIMEOUT, BODY_TIMEOUT, IDLE_TIMEOUT, MAX_CONNECTIONS = 1.0, 1.0, 2.0, 16
LIMIT_FLAGS = (
    "--http-header-timeout-ms", str(int(HEADER_TIMEOUT * 1000)),
    "--http-body-timeout-ms", str(int(BODY_TIMEOUT * 1000)),
    "--http-idle-timeout-ms", str(int(IDLE_TIMEOUT * 1000)),
    "--http-max-connections", str(MAX_CONNECTIONS),
)  # fmt: skip


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveNode]:
    with live_node(tmp_path_factory.mktemp("hostile") / "n1", *LIMIT_FLAGS) as n:
        rss = n.rss()
        yield n
        print(f"\nnode RSS {rss >> 20} MiB before the attacks, {n.rss() >> 20} MiB after")
        n.assert_serving()


def raw(node: LiveNode, data: bytes, timeout: float = 10.0) -> tuple[int, dict[str, Any], float]:
    """Send ``data`` on a new connection and read the whole answer (the server closes it, or
    it is one response with a Content-Length): (status, JSON body, seconds until it came)."""
    start = time.monotonic()
    with socket.create_connection((node.host, node.port), timeout=timeout) as s:
        s.sendall(data)
        return (*_read_response(s), time.monotonic() - start)


def _read_response(s: socket.socket) -> tuple[int, dict[str, Any]]:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before a response: {buf!r}")
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    assert headers.get("content-type", "").startswith("application/json"), (status, head, body)
    return status, json.loads(body[:length])


def request_bytes(method: str, path: str, body: bytes, **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: x", f"Content-Length: {len(body)}"]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# --- bodies -------------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [1000, 100_000])
@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/write"), ("PUT", "/kv/k"), ("POST", "/init")]
)
def test_deeply_nested_json_is_a_400(node: LiveNode, method: str, path: str, depth: int) -> None:
    body = b'{"key": "k", "value": ' + b"[" * depth + b"]" * depth + b"}"
    status, error, _ = raw(node, request_bytes(method, path, body, Content_Type="application/json"))
    assert status == 400 and error["code"] == "malformed_json", error
    node.assert_serving()


@pytest.mark.parametrize(
    ("encoding", "body", "status"),
    [
        pytest.param("gzip", b'{"value": "v"}', 400, id="not-gzip"),
        pytest.param("gzip", gzip.compress(b'{"value": "v"}', mtime=0)[:-14], 400, id="cut-gzip"),
        pytest.param("deflate", b"\x00garbage", 400, id="bad-deflate"),
        # refused by aiohttp's own parser (no Brotli installed), answered in JSON all the same
        pytest.param("br", b"\x00garbage", 400, id="br"),
        pytest.param("x-unknown", b'{"value": "v"}', 415, id="unknown"),
        pytest.param("gzip, gzip", gzip.compress(b"{}", mtime=0), 415, id="stacked"),
    ],
)
def test_a_bad_content_encoding_is_a_4xx_json(
    node: LiveNode, encoding: str, body: bytes, status: int
) -> None:
    data = request_bytes("PUT", "/kv/enc", body, Content_Encoding=encoding)
    got, error, _ = raw(node, data)
    assert got == status, error
    assert error["error"]
    node.assert_serving()


def test_a_good_gzip_body_is_accepted(node: LiveNode) -> None:
    data = request_bytes(
        "PUT", "/kv/gz", gzip.compress(b'{"value": "zipped"}'), Content_Encoding="gzip"
    )
    assert raw(node, data)[0] == 200
    assert node.request("GET", "/kv/gz")[1]["value"] == "zipped"  # type: ignore[index]


# --- keys ---------------------------------------------------------------------------------------

ODD_KEYS = [
    "line\nbreak", "tab\there", "cr\rlf\r\n", "trailing\n", "\n", "sp ace", "ünïcødé", "日本語",
    "emoji \U0001f600", "a/b/c", "/leading", "trailing/", "a//b", "q?x=1", "hash#frag", "100%",
    "%2F", "plus+sign", "semi;colon", "back\\slash", "quote\"d", "\u2028sep", "\x7f", "\x01ctl",
    ".", "..", "a/./b", "a/../b", "cas", "set-multi",
]  # fmt: skip


@pytest.mark.parametrize("key", ODD_KEYS)
def test_any_key_the_write_path_accepts_reads_back_on_every_endpoint(
    node: LiveNode, key: str
) -> None:
    path = "/kv/" + urllib.parse.quote(key, safe="")
    value = f"value of {key!r}"
    status, body = node.request("PUT", path, {"value": value})
    assert status == 200, body
    for method, p, b in (("GET", path, None), ("POST", "/read", {"key": key})):
        status, body = node.request(method, p, b)
        assert status == 200 and body["value"] == value, (method, body)  # type: ignore[index]
    status, body = node.request("POST", "/kv/set-multi", {"items": {key: "multi"}})
    assert status == 200, body
    assert node.request("GET", path)[1]["value"] == "multi"  # type: ignore[index]
    status, body = node.request("DELETE", path)
    assert status == 200 and body["existed"] is True, body  # type: ignore[index]


@pytest.mark.parametrize("key", ["\x00", "\x00peer/1", ""])
def test_a_key_the_write_path_refuses_is_a_400_everywhere(node: LiveNode, key: str) -> None:
    path = "/kv/" + urllib.parse.quote(key, safe="")
    attempts: list[tuple[str, str, object]] = [
        ("POST", "/write", {"key": key, "value": "v"}),
        ("POST", "/read", {"key": key}),
        ("POST", "/kv/cas", {"key": key, "expected": None, "new": "v"}),
        ("POST", "/kv/set-multi", {"items": {key: "v"}}),
    ]
    if key:
        attempts += [("PUT", path, {"value": "v"}), ("GET", path, None), ("DELETE", path, None)]
    for method, p, body in attempts:
        status, error = node.request(method, p, body)
        assert status == 400, (method, p, status, error)


# --- time and connections -----------------------------------------------------------------------


def test_a_slow_partial_body_is_cut_off_by_the_body_timeout(node: LiveNode) -> None:
    head = request_bytes("PUT", "/kv/slow", b"", Content_Type="application/json")
    head = head.replace(b"Content-Length: 0", b"Content-Length: 1000000")
    start = time.monotonic()
    with socket.create_connection((node.host, node.port), timeout=10) as s:
        s.sendall(head + b'{"value": "' + b"x" * 1000)
        status, error = _read_response(s)
        cut = time.monotonic() - start
        assert s.recv(1) == b""  # and the connection is closed
    assert status == 408 and error["code"] == "request_timeout", error
    assert BODY_TIMEOUT <= cut < BODY_TIMEOUT + 3, cut
    node.assert_serving()


def test_a_100_mb_body_is_refused_before_it_is_read(node: LiveNode) -> None:
    head = request_bytes("PUT", "/kv/huge", b"").replace(
        b"Content-Length: 0", f"Content-Length: {100 << 20}".encode()
    )
    with socket.create_connection((node.host, node.port), timeout=10) as s:
        s.sendall(head + b"x" * 65536)
        status, error = _read_response(s)
    assert status == 413, error
    node.assert_serving()


def test_partial_headers_are_cut_off_by_the_header_timeout(node: LiveNode) -> None:
    start = time.monotonic()
    with socket.create_connection((node.host, node.port), timeout=10) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        assert s.recv(1024) == b""
    closed = time.monotonic() - start
    assert closed < HEADER_TIMEOUT + IDLE_TIMEOUT + 2, closed
    node.assert_serving()


def test_idle_connections_beyond_the_cap_are_refused_and_the_rest_time_out(
    node: LiveNode,
) -> None:
    fds = node.open_fds()
    held = [socket.create_connection((node.host, node.port), timeout=10) for _ in range(80)]
    try:
        refused = 0
        for s in held:
            s.settimeout(HEADER_TIMEOUT + IDLE_TIMEOUT + 5)
            data = s.recv(4096)
            refused += data.startswith(b"HTTP/1.1 503")
        # every connection was closed by the server: at once over the cap, else by a timeout
        assert refused >= 80 - MAX_CONNECTIONS, refused
    finally:
        for s in held:
            s.close()
    node.assert_serving()
    assert node.open_fds() <= fds + 4


# --- the OpenAPI document, against the live node ------------------------------------------------

MUTATES_CLUSTER = {
    "/init",
    "/add-learner",
    "/add-peer",
    "/change-membership",
    "/transfer-leadership",
    "/peers/{node_id}",
}
"""Fuzzed against the fake in tests/http; here they would re-wire the one live node."""


def schema_valid_input_is_not_refused(ctx: Any, response: Any, case: Any) -> None:
    """A request the document calls valid is never a 400 (or 413/415): if the server refuses it,
    the document must say so, in its schema."""
    if case.meta is not None and case.meta.generation.mode.is_positive:
        assert response.status_code not in (400, 413, 415), (
            f"schema-valid {case.method} {case.formatted_path} refused: {response.text[:300]}"
        )


MAX_EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    schema_valid_input_is_not_refused,
]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_live_node_conforms_to_the_openapi_document_it_serves(
    node: LiveNode, mode: GenerationMode
) -> None:
    """Every operation but the cluster-changing ones, ``MAX_EXAMPLES`` cases each, generated
    from the document fetched from the live node (``from_fixture`` does not work with this
    pytest, so the operations are driven with Hypothesis directly)."""
    schema = schemathesis.openapi.from_url(f"{node.url}/openapi.json")
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) > 15
    ran: list[str] = []
    for op in operations:
        if op.path in MUTATES_CLUSTER:
            continue

        @given(case=op.as_strategy(generation_mode=mode))
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case: schemathesis.Case[Any]) -> None:
            case.call_and_validate(base_url=node.url, checks=CHECKS, timeout=10)

        try:
            run()
        except Unsatisfiable:
            # no way to break the input of this operation (no parameters, no body)
            assert mode is GenerationMode.NEGATIVE, op.label
            continue
        ran.append(op.label)
        assert node.alive
    fuzzable = len(operations) - len(MUTATES_CLUSTER)
    assert len(ran) == fuzzable if mode is GenerationMode.POSITIVE else len(ran) >= 6, ran
