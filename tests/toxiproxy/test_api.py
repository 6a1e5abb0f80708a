"""Conformance of the HTTP API, in raw HTTP: every endpoint, status code, JSON shape and error.

Runs against our server, or against the one ``TOXIPROXY_URL`` names (a real toxiproxy-server):
the assertions are what Toxiproxy 2.x answers, except where a test says ``server.ours``.
"""

from __future__ import annotations

import socket

import pytest

from tests.toxiproxy.conftest import Server
from tests.toxiproxy.helpers import RawApi, Reply

PROXY_KEYS = {"name", "listen", "upstream", "enabled", "toxics"}
TOXIC_KEYS = {"name", "type", "stream", "toxicity", "attributes"}
UPSTREAM = "127.0.0.1:9"  # never dialled: no client connects in these tests


def assert_error(reply: Reply, status: int, message: str | None = None) -> None:
    assert reply.status == status, reply.text
    body = reply.json
    assert body["status"] == status
    assert isinstance(body["error"], str)
    if message is not None:
        assert body["error"] == message


async def create(api: RawApi, name: str, **fields: object) -> dict[str, object]:
    reply = await api.call("POST", "/proxies", {"name": name, "listen": "127.0.0.1:0", **fields})
    assert reply.status == 201, reply.text
    return reply.json  # type: ignore[no-any-return]


async def test_version(server: Server) -> None:
    reply = await RawApi(server.url).call("GET", "/version")
    assert reply.status == 200
    assert reply.content_type == "application/json"
    assert reply.json["version"].startswith("2.")


async def test_create_proxy(server: Server, prefix: str) -> None:
    api = RawApi(server.url)
    reply = await api.call(
        "POST", "/proxies", {"name": prefix + "a", "listen": "127.0.0.1:0", "upstream": UPSTREAM}
    )
    assert reply.status == 201
    body = reply.json
    assert set(body) == PROXY_KEYS
    assert body["name"] == prefix + "a"
    assert body["upstream"] == UPSTREAM
    assert body["enabled"] is True
    assert body["toxics"] == []
    host, _, port = body["listen"].rpartition(":")
    assert host == "127.0.0.1" and int(port) > 0  # port 0 became the bound port
    shown = await api.call("GET", f"/proxies/{prefix}a")
    assert shown.status == 200 and shown.json == body
    index = await api.call("GET", "/proxies")
    assert index.status == 200 and index.json[prefix + "a"] == body


async def test_create_disabled_proxy_does_not_listen(server: Server, prefix: str) -> None:
    body = await create(RawApi(server.url), prefix + "off", upstream=UPSTREAM, enabled=False)
    assert body["enabled"] is False
    assert body["listen"] == "127.0.0.1:0"


async def test_duplicate_proxy_is_409(server: Server, prefix: str) -> None:
    api = RawApi(server.url)
    await create(api, prefix + "dup", upstream=UPSTREAM)
    reply = await api.call("POST", "/proxies", {"name": prefix + "dup", "upstream": UPSTREAM})
    assert_error(reply, 409, "proxy already exists")


@pytest.mark.parametrize("data", ["", "{", "not json", "[1, 2", '{"name": }'])
async def test_bad_json_is_400(server: Server, data: str) -> None:
    reply = await RawApi(server.url).call("POST", "/proxies", data=data)
    assert_error(reply, 400)
    assert reply.json["error"].startswith("bad request body")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"upstream": UPSTREAM}, "missing required field: name"),
        ({"name": "x"}, "missing required field: upstream"),
        ({"name": "", "upstream": UPSTREAM}, "missing required field: name"),
    ],
)
async def test_missing_field_is_400(server: Server, body: object, message: str) -> None:
    reply = await RawApi(server.url).call("POST", "/proxies", body)
    assert_error(reply, 400, message)


@pytest.mark.parametrize(
    "body",
    [
        [1, 2],
        "a string",
        {"name": 5, "upstream": UPSTREAM},
        {"name": "x", "upstream": UPSTREAM, "enabled": "yes"},
        {"name": "x", "upstream": ["a"]},
    ],
)
async def test_wrongly_typed_proxy_is_400(server: Server, body: object) -> None:
    reply = await RawApi(server.url).call("POST", "/proxies", body)
    assert_error(reply, 400)


async def test_listen_address_in_use(server: Server, prefix: str) -> None:
    taken = socket.create_server(("127.0.0.1", 0))
    try:
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        body = {"name": prefix + "busy", "listen": address, "upstream": UPSTREAM}
        reply = await RawApi(server.url).call("POST", "/proxies", body)
    finally:
        taken.close()
    # Toxiproxy answers 500 here; ours answers 400, as for any bad input.
    assert_error(reply, 400 if server.ours else reply.status)
    assert reply.status >= 400
    assert "address already in use" in reply.json["error"]
    assert (await RawApi(server.url).call("GET", f"/proxies/{prefix}busy")).status == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/proxies/{missing}"),
        ("POST", "/proxies/{missing}"),
        ("PATCH", "/proxies/{missing}"),
        ("DELETE", "/proxies/{missing}"),
        ("GET", "/proxies/{missing}/toxics"),
        ("POST", "/proxies/{missing}/toxics"),
        ("GET", "/proxies/{missing}/toxics/latency_downstream"),
        ("POST", "/proxies/{missing}/toxics/latency_downstream"),
        ("DELETE", "/proxies/{missing}/toxics/latency_downstream"),
    ],
)
async def test_unknown_proxy_is_404(server: Server, prefix: str, method: str, path: str) -> None:
    body = None if method in ("GET", "DELETE") else {"type": "latency"}
    reply = await RawApi(server.url).call(method, path.format(missing=prefix + "nope"), body)
    assert_error(reply, 404, "proxy not found")


async def test_update_proxy_with_post_and_patch(server: Server, prefix: str) -> None:
    api = RawApi(server.url)
    name = prefix + "upd"
    created = await create(api, name, upstream=UPSTREAM)
    off = await api.call("POST", f"/proxies/{name}", {"enabled": False})
    assert off.status == 200
    assert off.json["enabled"] is False and off.json["listen"] == created["listen"]
    on = await api.call("PATCH", f"/proxies/{name}", {"enabled": True})
    assert on.status == 200
    assert on.json["enabled"] is True and on.json["listen"] == created["listen"]
    moved = await api.call("PATCH", f"/proxies/{name}", {"upstream": "127.0.0.1:7"})
    assert moved.status == 200
    assert moved.json["upstream"] == "127.0.0.1:7" and moved.json["enabled"] is True
    assert set(moved.json) == PROXY_KEYS
    bad = await api.call("POST", f"/proxies/{name}", data="{")
    assert_error(bad, 400)


async def test_delete_proxy(server: Server, prefix: str) -> None:
    api = RawApi(server.url)
    await create(api, prefix + "del", upstream=UPSTREAM)
    reply = await api.call("DELETE", f"/proxies/{prefix}del")
    assert reply.status == 204 and reply.text == ""
    assert_error(await api.call("GET", f"/proxies/{prefix}del"), 404, "proxy not found")


async def test_toxic_lifecycle(server: Server, prefix: str) -> None:
    api = RawApi(server.url)
    name = prefix + "tox"
    await create(api, name, upstream=UPSTREAM)
    base = f"/proxies/{name}/toxics"
    made = await api.call("POST", base, {"type": "latency", "attributes": {"latency": 100}})
    assert made.status == 200  # Toxiproxy answers 200 here, not 201
    toxic = made.json
    assert set(toxic) == TOXIC_KEYS
    assert toxic["name"] == "latency_downstream"  # default: <type>_<stream>
    assert toxic["stream"] == "downstream" and toxic["toxicity"] == 1
    assert toxic["attributes"] == {"latency": 100, "jitter": 0}
    assert (await api.call("GET", base)).json == [toxic]
    assert (await api.call("GET", f"{base}/latency_downstream")).json == toxic
    assert (await api.call("GET", f"/proxies/{name}")).json["toxics"] == [toxic]

    updated = await api.call("POST", f"{base}/latency_downstream", {"attributes": {"jitter": 5}})
    assert updated.status == 200
    assert updated.json["attributes"] == {"latency": 100, "jitter": 5}  # merged, not replaced
    patched = await api.call("PATCH", f"{base}/latency_downstream", {"toxicity": 0.5})
    assert patched.status == 200
    assert patched.json["toxicity"] == 0.5 and patched.json["attributes"]["jitter"] == 5

    deleted = await api.call("DELETE", f"{base}/latency_downstream")
    assert deleted.status == 204
    assert_error(await api.call("GET", f"{base}/latency_downstream"), 404, "toxic not found")
    assert_error(await api.call("DELETE", f"{base}/latency_downstream"), 404, "toxic not found")
    assert_error(
        await api.call("POST", f"{base}/latency_downstream", {"toxicity": 1}),
        404,
        "toxic not found",
    )
    assert (await api.call("GET", base)).json == []


async def test_toxic_fields_and_order(server: Server, prefix: str) -> None:
    api = RawApi(server.url)
    name = prefix + "fields"
    await create(api, name, upstream=UPSTREAM)
    base = f"/proxies/{name}/toxics"
    down = {"name": "slow", "type": "latency", "stream": "downstream", "toxicity": 0.25}
    up = {"type": "timeout", "stream": "upstream", "attributes": {"timeout": 10}}
    assert (await api.call("POST", base, down)).status == 200
    assert (await api.call("POST", base, up)).status == 200
    toxics = (await api.call("GET", base)).json
    assert [t["name"] for t in toxics] == ["timeout_upstream", "slow"]  # upstream ones first
    assert toxics[1]["toxicity"] == 0.25
    assert toxics[1]["attributes"] == {"latency": 0, "jitter": 0}


@pytest.mark.parametrize(
    ("type_name", "attributes"),
    [
        ("latency", {"latency": 0, "jitter": 0}),
        ("bandwidth", {"rate": 0}),
        ("slow_close", {"delay": 0}),
        ("timeout", {"timeout": 0}),
        ("reset_peer", {"timeout": 0}),
        ("slicer", {"average_size": 1, "size_variation": 0, "delay": 0}),
        ("limit_data", {"bytes": 0}),
        ("noop", {}),
    ],
)
async def test_every_toxic_type(
    server: Server, prefix: str, type_name: str, attributes: dict[str, int]
) -> None:
    api = RawApi(server.url)
    name = prefix + type_name
    await create(api, name, upstream=UPSTREAM)
    given = {"type": type_name, "stream": "upstream", "attributes": attributes}
    reply = await api.call("POST", f"/proxies/{name}/toxics", given)
    assert reply.status == 200, reply.text
    assert reply.json["attributes"] == attributes
    assert reply.json["name"] == f"{type_name}_upstream"


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"type": "nonsense"}, 400, "invalid toxic type"),
        ({}, 400, "invalid toxic type"),
        (
            {"type": "latency", "stream": "sideways"},
            400,
            "stream was invalid, can be either upstream or downstream",
        ),
        ({"type": "latency", "attributes": {"latency": "slow"}}, 400, None),
        ({"type": "latency", "attributes": {"latency": 1.5}}, 400, None),
        ({"type": "latency", "attributes": [1]}, 400, None),
        ({"type": "latency", "toxicity": "high"}, 400, None),
        ({"type": 3}, 400, None),
        ([], 400, None),
    ],
)
async def test_bad_toxic_is_400(
    server: Server, prefix: str, body: object, status: int, message: str | None
) -> None:
    api = RawApi(server.url)
    await create(api, prefix + "bad", upstream=UPSTREAM)
    reply = await api.call("POST", f"/proxies/{prefix}bad/toxics", body)
    assert_error(reply, status, message)


async def test_bad_toxic_json_and_duplicates(server: Server, prefix: str) -> None:
    api = RawApi(server.url)
    name = prefix + "dups"
    await create(api, name, upstream=UPSTREAM)
    base = f"/proxies/{name}/toxics"
    assert_error(await api.call("POST", base, data="{oops"), 400)
    assert (await api.call("POST", base, {"type": "latency"})).status == 200
    assert_error(await api.call("POST", base, {"type": "latency"}), 409, "toxic already exists")
    assert_error(await api.call("POST", f"{base}/latency_downstream", data="]"), 400)
    bad_update = {"attributes": {"latency": "x"}}
    assert_error(await api.call("PATCH", f"{base}/latency_downstream", bad_update), 400)


async def test_populate(server: Server, prefix: str) -> None:
    api = RawApi(server.url)
    a, b = prefix + "pa", prefix + "pb"
    first = [
        {"name": a, "listen": "127.0.0.1:0", "upstream": UPSTREAM},
        {"name": b, "listen": "127.0.0.1:0", "upstream": UPSTREAM, "enabled": False},
    ]
    reply = await api.call("POST", "/populate", first)
    assert reply.status == 201
    proxies = reply.json["proxies"]
    assert [p["name"] for p in proxies] == [a, b]
    assert all(set(p) == PROXY_KEYS for p in proxies)
    assert [p["enabled"] for p in proxies] == [True, False]

    # Same listen and upstream: kept as it is. Different upstream: replaced.
    again = [
        {"name": a, "listen": proxies[0]["listen"], "upstream": UPSTREAM},
        {"name": b, "listen": "127.0.0.1:0", "upstream": "127.0.0.1:7"},
    ]
    reply = await api.call("POST", "/populate", again)
    assert reply.status == 201
    after = {p["name"]: p for p in reply.json["proxies"]}
    assert after[a]["listen"] == proxies[0]["listen"]
    assert after[b]["upstream"] == "127.0.0.1:7" and after[b]["enabled"] is True
    shown = (await api.call("GET", f"/proxies/{b}")).json
    assert shown["upstream"] == "127.0.0.1:7"


@pytest.mark.parametrize(
    "data",
    ["", "{", '{"name": "x"}', '[{"upstream": "127.0.0.1:9"}]', '[{"name": "x"}]'],
)
async def test_bad_populate_is_400(server: Server, data: str) -> None:
    reply = await RawApi(server.url).call("POST", "/populate", data=data)
    assert_error(reply, 400)


async def test_reset(exclusive: Server, prefix: str) -> None:
    api = RawApi(exclusive.url)
    name = prefix + "reset"
    await create(api, name, upstream=UPSTREAM)
    await api.call("POST", f"/proxies/{name}/toxics", {"type": "latency"})
    await api.call("POST", f"/proxies/{name}/toxics", {"type": "timeout", "stream": "upstream"})
    await api.call("POST", f"/proxies/{name}", {"enabled": False})
    reply = await api.call("POST", "/reset")
    assert reply.status == 204 and reply.text == ""
    shown = (await api.call("GET", f"/proxies/{name}")).json
    assert shown["enabled"] is True and shown["toxics"] == []


async def test_browsers_are_refused(server: Server) -> None:
    reply = await RawApi(server.url).call(
        "GET", "/proxies", headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"}
    )
    assert reply.status == 403


async def test_unknown_route_and_method(server: Server) -> None:
    api = RawApi(server.url)
    assert (await api.call("GET", "/nothing/here")).status == 404
    assert (await api.call("PUT", "/proxies")).status in (404, 405)
    if server.ours:
        assert_error(await api.call("GET", "/nothing/here"), 404)


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("POST", "/proxies", b"\xff\xfe"),
        ("POST", "/proxies", b"[" * 100_000),
        ("POST", "/proxies", b'{"name": "x", "upstream": "nohostport"}'),
        ("POST", "/proxies", b'{"name": "x", "upstream": "h:1", "listen": "nonsense"}'),
        ("POST", "/proxies", b'{"name": "x", "upstream": "h:1", "listen": "h:99999"}'),
        ("POST", "/proxies", b'{"name": "x", "upstream": "h:1", "toxicity": NaN}'),
        ("POST", "/populate", b'[{"name": "x", "upstream": "h:1"}, 5]'),
        (
            "POST",
            "/populate",
            b'[{"name": "d", "upstream": "h:1"}, {"name": "d", "upstream": "h:1"}]',
        ),
        ("POST", "/proxies/{p}/toxics", b'{"type": "latency", "attributes": {"latency": -1}}'),
        ("POST", "/proxies/{p}/toxics", b'{"type": "latency", "attributes": {"latency": 1e300}}'),
        ("POST", "/proxies/{p}/toxics", b'{"type": "slicer"}'),
        ("POST", "/proxies/{p}/toxics", b'{"type": "latency", "toxicity": 1e999}'),
        ("PATCH", "/proxies/{p}", b'{"listen": 5}'),
        ("PATCH", "/proxies/{p}", b'{"upstream": "no-port"}'),
    ],
)
async def test_ours_never_answers_500(
    server: Server, prefix: str, method: str, path: str, data: bytes
) -> None:
    """Inputs Toxiproxy itself may crash or 500 on: ours answers 4xx with a JSON error."""
    if not server.ours:
        pytest.skip("checks our server's error handling")
    api = RawApi(server.url)
    name = prefix + "p"
    await create(api, name, upstream=UPSTREAM)
    reply = await api.call(method, path.format(p=name), data=data)
    assert 400 <= reply.status < 500, reply.text
    assert {"error", "status"} <= set(reply.json)
