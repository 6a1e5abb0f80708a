"""The async client's outcome classification, leader following and retry rules, against real
sockets: fake-backed app servers and servers that hang, drop or refuse on purpose."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from aspen.client import (
    AsyncClient,
    CasReply,
    LeaderInfo,
    OperationFailed,
    Outcome,
    OutcomeUnknown,
)
from aspen.kv.commands import MAX_VALUE_BYTES
from aspen.node.service import (
    ConflictError,
    Consistency,
    InvalidRequestError,
    PeerAddress,
    UnavailableError,
    UnknownOutcomeError,
)
from aspen.storage.errors import StorageFullError
from tests.client.servers import RawServer, app_servers, http_response, refusing_port
from tests.http.fake_service import FakeService
from tests.http.support import async_test

FAST: dict[str, Any] = {"timeout": 0.5, "backoff": 0.001, "max_backoff": 0.01}


# --- (a) a node that answers normally -------------------------------------------------------------


@async_test
async def test_kv_round_trip() -> None:
    service = FakeService()
    async with app_servers(service) as [url], AsyncClient([url]) as client:
        r = await client.put("k", "v")
        assert (r.outcome, r.value, r.status, r.index, r.endpoint) == (
            Outcome.OK,
            None,
            200,
            1,
            url,
        )
        assert (await client.get("k")).unwrap() == "v"
        assert (await client.get("absent")).unwrap() is None
        cas = await client.cas("k", "nope", "w")
        assert cas.outcome is Outcome.OK and cas.value == CasReply(False, "v")  # ok, not applied
        assert (await client.cas("k", "v", "w")).unwrap() == CasReply(True, "v")
        assert (await client.cas("new", None, "1")).unwrap() == CasReply(True, None)
        assert (await client.set_multi({"a/1": "1", "a/2": "2"})).ok
        scan = (await client.scan("a/", limit=1)).unwrap()
        assert scan.items == [("a/1", "1")] and scan.truncated
        assert (await client.delete("k")).unwrap() is True
        assert (await client.delete("k")).unwrap() is False
        assert service.data == {"new": "1", "a/1": "1", "a/2": "2"}


@async_test
async def test_values_up_to_the_limit_are_sent_without_warnings() -> None:
    service = FakeService()
    async with app_servers(service) as [url], AsyncClient([url]) as client:
        big = "\u00e9" * (MAX_VALUE_BYTES // 2)  # 1 MiB in UTF-8, more than that as JSON
        assert (await client.put("big", big)).ok
        assert service.data["big"] == big


@async_test
async def test_cluster_calls() -> None:
    service = FakeService(1, initialized=False)
    async with app_servers(service) as [url], AsyncClient([url]) as client:
        assert (await client.leader()).outcome is Outcome.FAIL  # 503: no leader yet
        r = await client.init({1: PeerAddress("h1:7000", url.removeprefix("http://"))})
        assert r.ok, r.error
        assert (await client.init({1: ("h1:7000", "h1:8080")})).status == 409
        assert (await client.leader()).unwrap() == LeaderInfo(1, service.address.http, "h1:7000")
        assert (await client.add_learner(2, "h2:7000", "h2:8080")).ok
        assert (await client.add_peer(3, "h3:7000", "h3:8080")).ok
        assert (await client.change_membership([2, 1])).ok
        assert (await client.membership()).unwrap()["voters"] == [1, 2]
        assert (await client.trigger_snapshot()).unwrap() == service.index
        assert (await client.raft_metrics()).unwrap()["role"] == "leader"
        assert (await client.node_info()).unwrap()["id"] == 1
        assert (await client.health()).unwrap()["status"] == "healthy"
        assert (await client.cluster_ticket()).unwrap().startswith("aspen")
        bad = await client.change_membership([1, 2, 9])
        assert (bad.outcome, bad.status) == (Outcome.FAIL, 400)
        assert "not members" in (bad.error or "")


# --- (b) a node that hangs past the timeout -------------------------------------------------------


@async_test
async def test_write_that_times_out_is_unknown_and_never_resent() -> None:
    async with RawServer("hang") as server, AsyncClient([server.url], **FAST) as client:
        client.leader_url = server.url  # skip discovery: it would hang too
        r = await client.put("k", "v")
        assert r.outcome is Outcome.UNKNOWN
        assert r.status is None and "Timeout" in (r.error or "")
        assert server.posts == 1
        with pytest.raises(OutcomeUnknown):
            r.unwrap()


@async_test
async def test_read_that_times_out_is_retried() -> None:
    async with RawServer("hang") as server, AsyncClient([server.url], max_attempts=3, **FAST) as c:
        r = await c.get("k", consistency="stale")
        assert r.outcome is Outcome.UNKNOWN
        assert (r.attempts, server.requests) == (3, 3)


# --- (c) a node that closes the connection mid-request --------------------------------------------


@pytest.mark.parametrize("mode", ["close", "reset"])
@async_test
async def test_write_whose_connection_drops_is_unknown(mode: str) -> None:
    async with RawServer(mode) as server, AsyncClient([server.url], **FAST) as client:  # type: ignore[arg-type]
        client.leader_url = server.url
        for call in (client.put("k", "v"), client.cas("k", None, "v"), client.delete("k")):
            r = await call
            assert r.outcome is Outcome.UNKNOWN, r
            assert r.status is None
        assert server.posts == 3  # each write sent exactly once (GET /leader aside)


@async_test
async def test_write_resent_by_aiohttp_and_refused_is_unknown() -> None:
    """aiohttp resends an idempotent request (DELETE) on a new connection when the first one
    broke. The server took the first one and died, so the resend is refused: the error alone
    says "never sent", but the first attempt arrived and may have been applied."""
    async with RawServer("crash") as server, AsyncClient([server.url], **FAST) as client:
        r = await client.request("DELETE", "/peers/2", endpoint=server.url)
        assert server.lines == ["DELETE /peers/2 HTTP/1.1"]
        assert "ClientConnectorError" in (r.error or "")  # what the refused resend raised
        assert r.outcome is Outcome.UNKNOWN, r


@async_test
async def test_read_whose_connection_drops_is_retried() -> None:
    async with RawServer("close") as server, AsyncClient([server.url], max_attempts=2, **FAST) as c:
        r = await c.get("k", consistency="stale")
        assert r.outcome is Outcome.UNKNOWN
        assert server.requests == 2


# --- (d) a node that refuses the connection -------------------------------------------------------


@async_test
async def test_refused_connection_is_fail() -> None:
    with refusing_port() as url:
        async with AsyncClient([url], max_attempts=2, **FAST) as client:
            r = await client.put("k", "v")
            assert r.outcome is Outcome.FAIL
            assert r.attempts == 2 and r.status is None
            assert "Connect" in (r.error or "")
            with pytest.raises(OperationFailed):
                r.unwrap()


@async_test
async def test_refused_endpoint_fails_over_to_the_next() -> None:
    service = FakeService()
    with refusing_port() as dead:
        async with app_servers(service) as [live], AsyncClient([dead, live], **FAST) as client:
            r = await client.put("k", "v")
            assert r.outcome is Outcome.OK
            assert r.endpoint == live
            assert service.data == {"k": "v"}
            assert client.leader_url == live


# --- (e) a follower answers 421, the leader answers -----------------------------------------------


@async_test
async def test_421_is_followed_to_the_new_leader() -> None:
    a, b = FakeService(1), FakeService(2)
    async with app_servers(a, b) as [url_a, url_b], AsyncClient([url_a, url_b]) as client:
        assert (await client.put("x", "1")).endpoint == url_a
        a.become_follower(2, b.address)  # leadership moved; the client still thinks it is a
        r = await client.put("y", "2")
        assert r.outcome is Outcome.OK
        assert (r.endpoint, r.attempts) == (url_b, 2)
        assert client.leader_url == url_b
        assert (a.data, b.data) == ({"x": "1"}, {"y": "2"})
        assert (await client.get("y")).unwrap() == "2"  # linearizable: to the leader


@async_test
async def test_leader_is_discovered_through_get_leader() -> None:
    a, b = FakeService(1), FakeService(2)
    async with app_servers(a, b) as [url_a, url_b]:
        b.become_leader()
        a.become_follower(2, b.address)
        async with AsyncClient([url_a]) as client:
            r = await client.put("k", "v")
            assert (r.outcome, r.endpoint, r.attempts) == (Outcome.OK, url_b, 1)
            assert [c[0] for c in a.calls] == []  # only GET /leader reached a


@async_test
async def test_discovery_is_not_stalled_by_a_hanging_node() -> None:
    service = FakeService()
    slow: dict[str, Any] = {"timeout": 30.0, "connect_timeout": 30.0}
    hung = RawServer("hang")
    async with hung, app_servers(service) as [live], AsyncClient([hung.url, live], **slow) as c:
        r = await c.put("k", "v")  # the endpoints are asked at once, not in turn
        assert (r.outcome, r.endpoint) == (Outcome.OK, live)


@async_test
async def test_stale_reads_stay_on_their_node() -> None:
    a, b = FakeService(1), FakeService(2)
    async with app_servers(a, b) as [url_a, url_b]:
        a.become_follower(2, b.address)
        a.data["k"] = "old"
        b.data["k"] = "new"
        async with AsyncClient([url_a, url_b]) as client:
            assert (await client.get("k", consistency=Consistency.STALE)).unwrap() == "old"
            assert (await client.get("k", consistency="stale", endpoint=url_b)).unwrap() == "new"


@async_test
async def test_421_not_followed_when_disabled() -> None:
    a, b = FakeService(1), FakeService(2)
    async with app_servers(a, b) as [url_a, _]:
        a.become_follower(2, b.address)
        async with AsyncClient([url_a], follow_leader=False) as client:
            r = await client.put("k", "v")
            assert (r.outcome, r.status) == (Outcome.FAIL, 421)
            assert b.data == {}


@async_test
async def test_421_without_a_known_leader_is_fail_after_bounded_attempts() -> None:
    a = FakeService(1)
    async with app_servers(a) as [url], AsyncClient([url], max_attempts=3, **FAST) as client:
        a.become_follower(0, None)
        r = await client.put("k", "v")
        assert (r.outcome, r.status, r.attempts) == (Outcome.FAIL, 421, 3)


# --- (f) 503 / 507 / 400 / 409 are FAIL; only 503 is retried --------------------------------------


@async_test
async def test_503_is_fail_and_retried_until_it_succeeds() -> None:
    service = FakeService()
    async with app_servers(service) as [url], AsyncClient([url], max_attempts=4, **FAST) as c:
        service.on("put", UnavailableError("electing"), times=2)
        r = await c.put("k", "v")
        assert (r.outcome, r.attempts) == (Outcome.OK, 3)
        service.on("put", UnavailableError("electing"), times=10)
        r = await c.put("k", "w")
        assert (r.outcome, r.status, r.attempts, r.error) == (Outcome.FAIL, 503, 4, "electing")
        assert service.data == {"k": "v"}


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (StorageFullError("disk full"), 507),
        (InvalidRequestError("no"), 400),
        (ConflictError("busy"), 409),
    ],
)
@async_test
async def test_definite_refusals_are_fail_and_not_retried(error: Exception, status: int) -> None:
    service = FakeService()
    async with app_servers(service) as [url], AsyncClient([url], **FAST) as client:
        service.on("put", error)  # type: ignore[arg-type]
        r = await client.put("k", "v")
        assert (r.outcome, r.status, r.attempts) == (Outcome.FAIL, status, 1)
        assert r.error == str(error)


@async_test
async def test_client_side_validation_errors_are_fail() -> None:
    async with app_servers(FakeService()) as [url], AsyncClient([url]) as client:
        r = await client.put("", "v")
        assert (r.outcome, r.status) == (Outcome.FAIL, 400)
        assert "key must not be empty" in (r.error or "")


# --- (g) 504 and other 5xx are UNKNOWN ------------------------------------------------------------


@async_test
async def test_504_is_unknown_and_write_not_resent() -> None:
    service = FakeService()
    async with app_servers(service) as [url], AsyncClient([url], **FAST) as client:
        service.on("put", UnknownOutcomeError("commit timed out"))
        r = await client.put("k", "v")
        assert (r.outcome, r.status, r.attempts) == (Outcome.UNKNOWN, 504, 1)
        service.on("get", UnknownOutcomeError("read index timed out"))
        r2 = await client.get("k")
        assert (r2.outcome, r2.attempts) == (Outcome.OK, 2)  # reads are retried


@async_test
async def test_500_is_unknown() -> None:
    server = RawServer("respond", http_response(500, b'{"error": "bug", "code": "internal"}'))
    async with server, AsyncClient([server.url], **FAST) as client:
        client.leader_url = server.url
        r = await client.put("k", "v")
        assert (r.outcome, r.status, r.error) == (Outcome.UNKNOWN, 500, "bug")
        assert server.requests == 1


@async_test
async def test_ok_with_an_unexpected_body_is_unknown() -> None:
    server = RawServer("respond", http_response(200, b'{"surprise": 1}'))
    async with server, AsyncClient([server.url], **FAST) as client:
        client.leader_url = server.url
        r = await client.delete("k")
        assert r.outcome is Outcome.UNKNOWN
        assert "unexpected response body" in (r.error or "")


@async_test
async def test_concurrent_calls_share_one_pool() -> None:
    service = FakeService()
    async with app_servers(service) as [url], AsyncClient([url], pool_size=8) as client:
        results = await asyncio.gather(*(client.put(f"k{i}", str(i)) for i in range(200)))
        assert all(r.ok for r in results)
        assert len(service.data) == 200
        assert {r.index for r in results} == set(range(1, 201))


def test_constructor_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="at least one endpoint"):
        AsyncClient([])
    with pytest.raises(ValueError, match="bad endpoint"):
        AsyncClient(["ftp://x:1"])
    assert AsyncClient("a:1, http://b:2/").endpoints == ["http://a:1", "http://b:2"]
