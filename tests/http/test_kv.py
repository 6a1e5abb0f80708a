"""The key-value endpoints against the fake service: what each answers, and every bad input."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from aspen.kv.commands import MAX_KEY_BYTES, MAX_MULTI_KEYS, MAX_VALUE_BYTES
from aspen.node.service import Consistency, PeerAddress
from tests.http.support import api, async_test, payload


@async_test
async def test_seed_write_then_read() -> None:
    async with api() as (client, service):
        r = await client.post("/write", json={"key": "a", "value": "1"})
        assert r.status == 200
        assert await r.json() == {"op": "put", "key": "a", "index": 1}
        r = await client.post("/read", json={"key": "a"})
        assert await r.json() == {"key": "a", "value": "1", "found": True, "index": 1}
        assert service.data == {"a": "1"}


@async_test
async def test_write_ops() -> None:
    async with api() as (client, service):
        service.data["x"] = "old"
        cases: list[tuple[dict[str, Any], dict[str, Any]]] = [
            ({"op": "put", "key": "k", "value": "v"}, {"op": "put", "key": "k", "index": 1}),
            ({"op": "delete", "key": "x"}, {"op": "delete", "key": "x", "existed": True}),
            ({"op": "delete", "key": "x"}, {"existed": False}),
            ({"op": "cas", "key": "k", "expected": "v", "new": "w"}, {"ok": True, "current": "v"}),
            ({"op": "cas", "key": "k", "expected": "v", "new": "z"}, {"ok": False, "current": "w"}),
            (
                {"op": "cas", "key": "n", "expected": None, "new": "1"},
                {"ok": True, "current": None},
            ),
            ({"op": "set-multi", "items": {"p": "1", "q": "2"}}, {"op": "set-multi", "count": 2}),
        ]
        for body, expected in cases:
            r = await client.post("/write", json=body)
            assert r.status == 200, await r.text()
            got = await r.json()
            assert expected.items() <= got.items(), (body, got)
            assert isinstance(got["index"], int)
        assert service.data == {"k": "w", "n": "1", "p": "1", "q": "2"}


@async_test
async def test_rest_routes() -> None:
    async with api() as (client, _service):
        r = await client.put("/kv/hello", json={"value": "world"})
        assert (r.status, await r.json()) == (200, {"key": "hello", "index": 1})
        r = await client.get("/kv/hello")
        assert await r.json() == {"key": "hello", "value": "world", "found": True, "index": 1}
        r = await client.delete("/kv/hello")
        assert await r.json() == {"key": "hello", "existed": True, "index": 2}
        r = await client.get("/kv/hello")
        assert r.status == 200  # absent is a successful read, not a 404
        assert await r.json() == {"key": "hello", "value": None, "found": False, "index": 2}


@async_test
async def test_rest_keys_with_slashes_and_unicode() -> None:
    async with api() as (client, service):
        for key in ["a/b/c", "héllo wörld", "?&=#", "cas", "set-multi"]:
            path = "/kv/" + quote(key, safe="")
            r = await client.put(path, json={"value": key})
            assert r.status == 200, (key, await r.text())
            r = await client.get(path)
            assert (await r.json())["value"] == key
        assert service.data["a/b/c"] == "a/b/c"
        assert service.data["cas"] == "cas"


@async_test
async def test_cas_mismatch_is_not_an_http_error() -> None:
    async with api() as (client, service):
        service.data["k"] = "actual"
        r = await client.post("/kv/cas", json={"key": "k", "expected": "other", "new": "x"})
        assert r.status == 200
        body = await r.json()
        assert body["ok"] is False and body["current"] == "actual"
        r = await client.post("/kv/cas", json={"key": "k", "expected": None, "new": "x"})
        assert (await r.json())["ok"] is False
        r = await client.post("/kv/cas", json={"key": "k", "expected": "actual", "new": "x"})
        assert (await r.json())["ok"] is True
        assert service.data["k"] == "x"


@async_test
async def test_set_multi_is_one_call_with_all_items() -> None:
    async with api() as (client, service):
        items = {f"k{i}": str(i) for i in range(MAX_MULTI_KEYS)}
        r = await client.post("/kv/set-multi", json={"items": items})
        assert r.status == 200
        assert (await r.json())["count"] == MAX_MULTI_KEYS
        assert [c for c in service.calls if c[0] == "set_multi"] == [
            ("set_multi", (tuple(items.items()),))
        ]


@async_test
async def test_scan_is_bounded_and_reports_truncation() -> None:
    async with api() as (client, service):
        service.data.update({f"user/{i:04}": str(i) for i in range(1500)})
        service.data["other"] = "x"
        r = await client.get("/kv", params={"prefix": "user/"})
        body = await r.json()
        assert body["count"] == 100 and body["truncated"] is True
        assert body["items"][0] == {"key": "user/0000", "value": "0"}
        r = await client.get("/kv", params={"prefix": "user/", "limit": "1000"})
        assert (await r.json())["count"] == 1000
        r = await client.get("/kv", params={"prefix": "oth", "consistency": "stale"})
        body = await r.json()
        assert body["items"] == [{"key": "other", "value": "x"}] and body["truncated"] is False
        assert service.calls[-1] == ("scan", ("oth", 100, Consistency.STALE))


@async_test
async def test_scan_pages_with_start_after() -> None:
    async with api() as (client, service):
        service.data.update({f"p/{i:02}": str(i) for i in range(5)})
        r = await client.get("/kv", params={"prefix": "p/", "limit": "2"})
        first = await r.json()
        assert [i["key"] for i in first["items"]] == ["p/00", "p/01"] and first["truncated"]
        params = {"prefix": "p/", "start_after": first["items"][-1]["key"]}
        rest = await (await client.get("/kv", params=params)).json()
        assert [i["key"] for i in rest["items"]] == ["p/02", "p/03", "p/04"]
        assert rest["truncated"] is False


@async_test
async def test_consistency_reaches_the_service() -> None:
    async with api() as (client, service):
        await client.get("/kv/k", params={"consistency": "stale"})
        assert service.calls[-1] == ("get", ("k", Consistency.STALE))
        await client.post("/read", json={"key": "k", "consistency": "linearizable"})
        assert ("get", ("k", Consistency.LINEARIZABLE)) in service.calls


@async_test
async def test_follower_serves_stale_reads_and_redirects_the_rest() -> None:
    leader = PeerAddress("10.0.0.2:7000", "10.0.0.2:8080")
    async with api() as (client, service):
        service.data["k"] = "v"
        service.become_follower(2, leader)
        r = await client.get("/kv/k", params={"consistency": "stale"})
        assert (await r.json())["value"] == "v"
        r = await client.get("/kv/k")
        assert r.status == 421
        assert r.headers["Location"] == "http://10.0.0.2:8080/kv/k"
        r = await client.post("/write", json={"key": "k", "value": "w"})
        assert r.status == 421
        body = await r.json()
        assert body["code"] == "not_leader"
        assert body["leader_id"] == 2
        assert body["leader"] == {"raft": "10.0.0.2:7000", "http": "10.0.0.2:8080"}
        assert body["location"] == "http://10.0.0.2:8080/write"
        assert service.data == {"k": "v"}


@async_test
async def test_limits_are_inclusive() -> None:
    async with api() as (client, _service):
        key = "k" * MAX_KEY_BYTES
        value = "v" * MAX_VALUE_BYTES
        r = await client.post("/write", **payload({"key": key, "value": value}))
        assert r.status == 200
        r = await client.get("/kv/" + "é" * (MAX_KEY_BYTES // 2))  # 4096 bytes in UTF-8
        assert r.status == 200


BIG_KEY = "k" * (MAX_KEY_BYTES + 1)
WIDE_KEY = "é" * (MAX_KEY_BYTES // 2 + 1)  # under 4096 characters, over 4096 bytes
BIG_VALUE = "v" * (MAX_VALUE_BYTES + 1)

BAD_INPUTS: list[tuple[str, str, Any, str]] = [
    # (method, path, json body or raw bytes, what is blamed): a fragment of our own message, or
    # the JSON path in the body's `field` when the decoder found the fault (its wording is a
    # third party's and changes between releases; the path is ours)
    ("POST", "/write", b"", "body is empty"),
    ("POST", "/write", b"{", "malformed JSON"),
    ("POST", "/write", b'{"key": "a", "value": "b"} x', "malformed JSON"),
    ("POST", "/write", b'{"key": "\\ud800", "value": "v"}', "malformed JSON"),
    ("POST", "/write", b'{"key": "\xff", "value": "v"}', "not valid UTF-8 (byte 9)"),
    ("POST", "/write", b"NaN", "malformed JSON"),
    ("POST", "/write", [], "must be a JSON object, got an array"),
    ("POST", "/write", "k", "must be a JSON object, got a string"),
    ("POST", "/write", {"key": 1, "value": "v"}, "$.key"),
    ("POST", "/write", {"key": "k", "value": None}, "$.value"),
    ("POST", "/write", {"key": "k"}, "$.value"),
    ("POST", "/write", {"key": "k", "value": "v", "ttl": 1}, "$.ttl"),
    ("POST", "/write", {"key": "", "value": "v"}, "key must not be empty"),
    ("POST", "/write", {"key": BIG_KEY, "value": "v"}, "the limit is 4096"),
    ("POST", "/write", {"key": WIDE_KEY, "value": "v"}, "4098 bytes in UTF-8"),
    ("POST", "/write", {"key": "k", "value": BIG_VALUE}, "the limit is 1048576"),
    ("POST", "/write", {"op": "nope", "key": "k"}, "op must be one of"),
    ("POST", "/write", {"op": 3, "key": "k"}, "op must be one of"),
    ("POST", "/write", {"op": "delete", "key": "k", "value": "v"}, "$.value"),
    ("POST", "/write", {"op": "cas", "key": "k", "new": "v"}, "$.expected"),
    ("POST", "/write", {"op": "cas", "key": "k", "expected": 1, "new": "v"}, "$.expected"),
    ("POST", "/write", {"op": "set-multi", "items": {}}, "items must not be empty"),
    ("POST", "/write", {"op": "set-multi", "items": {"a": 1}}, "$.items[...]"),
    ("POST", "/write", {"op": "set-multi", "items": [["a", "b"]]}, "$.items"),
    ("POST", "/read", {"key": "k", "consistency": "eventual"}, "consistency must be"),
    ("POST", "/read", {"key": None}, "$.key"),
    ("POST", "/read", {"keys": ["k"]}, "$.keys"),
    ("GET", "/kv/k?consistency=bogus", None, "consistency must be"),
    ("GET", "/kv/k?consistancy=stale", None, "unknown query parameter 'consistancy'"),
    ("GET", "/kv/k?consistency=stale&consistency=stale", None, "more than once"),
    ("GET", "/kv/" + "k" * (MAX_KEY_BYTES + 1), None, "the limit is 4096"),
    ("GET", "/kv?limit=abc", None, "limit must be an integer in 1..1000"),
    ("GET", "/kv?limit=0", None, "limit must be an integer in 1..1000"),
    ("GET", "/kv?limit=1001", None, "limit must be an integer in 1..1000"),
    ("GET", "/kv?limit=-1", None, "limit must be an integer in 1..1000"),
    ("GET", "/kv?limit=" + "9" * 5000, None, "limit must be an integer"),
    ("GET", "/kv?prefix=" + "p" * (MAX_KEY_BYTES + 1), None, "prefix is longer"),
    ("GET", "/kv?start=a", None, "unknown query parameter 'start'"),
    ("PUT", "/kv/k", {"value": 5}, "$.value"),
    ("PUT", "/kv/k", b"", "body is empty"),
    ("PUT", "/kv/k", {"val": "x"}, "$.val"),
    ("PUT", "/kv/k?ttl=5", {"value": "x"}, "unknown query parameter"),
    ("DELETE", "/kv/k?x=1", None, "unknown query parameter"),
    ("POST", "/kv/cas", {"key": "k", "expected": "a"}, "$.new"),
    ("POST", "/kv/cas", {"key": "k", "expected": "a", "new": BIG_VALUE}, "new is"),
    ("POST", "/kv/cas", {"key": "k", "expected": BIG_VALUE, "new": "x"}, "expected is"),
    ("POST", "/kv/set-multi", {"items": {str(i): "v" for i in range(101)}}, "the limit is 100"),
    ("POST", "/kv/set-multi", {"items": {"": "v"}}, "items key must not be empty"),
    ("POST", "/kv/set-multi", {"items": {"k": BIG_VALUE}}, "items value is"),
    ("POST", "/kv/set-multi", {"items": {"k": "v"}, "atomic": True}, "$.atomic"),
]


@pytest.mark.parametrize(("method", "path", "body", "fragment"), BAD_INPUTS)
@async_test
async def test_bad_input_is_400_json(method: str, path: str, body: Any, fragment: str) -> None:
    async with api() as (client, service):
        r = await client.request(method, path, **payload(body))
        assert r.status == 400, await r.text()
        assert r.content_type == "application/json"
        error = await r.json()
        if fragment.startswith("$"):
            assert error["field"] == fragment, error
            assert fragment.rsplit(".", 1)[-1].split("[")[0] in error["error"]  # names it too
        else:
            assert fragment in error["error"]
        assert error["code"] in {
            "bad_request", "malformed_json", "key_too_large", "value_too_large", "too_many_keys"
        }  # fmt: skip
        assert service.calls == []  # rejected before reaching the node
        assert service.data == {}
