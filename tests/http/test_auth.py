"""The admin-token guard: admin routes need ``Authorization: Bearer``, the rest never do."""

from __future__ import annotations

from typing import Any

import pytest

from aspen.client import AsyncClient, Outcome
from aspen.http.auth import ADMIN_ROUTES
from aspen.ticket import Ticket
from aspen.transport import TransportStats
from tests.http.fake_service import FakeService
from tests.http.support import api, async_test

TOKEN = "s3cret-admin-token"
SECRET = "cluster-secret-0123456789"
A2 = {"raft": "10.0.0.2:7000", "http": "10.0.0.2:8080"}
ADMIN_REQUESTS: list[tuple[str, str, Any]] = [
    ("POST", "/init", {"members": {"1": {"raft": "h1:7000", "http": "h1:8080"}}}),
    ("POST", "/add-learner", {"node_id": 3, **A2}),
    ("POST", "/add-peer", {"node_id": 2, **A2}),
    ("DELETE", "/peers/5", None),
    ("POST", "/change-membership", {"voters": [1]}),
    ("POST", "/transfer-leadership", {"to": 2}),
    ("POST", "/trigger-snapshot", {}),
    ("GET", "/snapshot", None),
]
DONE_BY = {
    "/init": "init",
    "/add-learner": "add_learner",
    "/add-peer": "add_peer",
    "/peers/5": "remove_peer",
    "/change-membership": "change_membership",
    "/transfer-leadership": "transfer_leadership",
    "/trigger-snapshot": "trigger_snapshot",
    "/snapshot": "snapshot_file",
}
"""The service call each admin request makes once it is let through."""


def test_every_admin_route_is_exercised() -> None:
    routes = {path.replace("/5", "/{node_id}") for _, path, _ in ADMIN_REQUESTS}
    assert routes == ADMIN_ROUTES


def _service(path: str) -> FakeService:
    service = FakeService(1, initialized=path != "/init")
    service.voters.add(2)  # a voter to transfer leadership to
    service.addresses[5] = service.address  # a stale peer record to delete
    return service


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_REQUESTS)
@pytest.mark.parametrize(
    "header",
    [None, "Bearer wrong-token", "Basic czNjcmV0", "Bearer ", TOKEN, f"bearer {TOKEN}x"],
)
@async_test
async def test_admin_routes_without_the_right_token_are_401(
    method: str, path: str, body: Any, header: str | None
) -> None:
    service = _service(path)
    async with api(service, admin_token=TOKEN) as (client, _):
        headers = {"Authorization": header} if header is not None else {}
        r = await client.request(method, path, json=body, headers=headers)
        assert r.status == 401
        assert r.content_type == "application/json"
        assert (await r.json())["code"] == "unauthorized"
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        assert service.calls == []  # nothing was done


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_REQUESTS)
@async_test
async def test_admin_routes_with_the_token_work(method: str, path: str, body: Any) -> None:
    service = _service(path)
    async with api(service, admin_token=TOKEN) as (client, _):
        auth = {"Authorization": f"Bearer {TOKEN}"}
        r = await client.request(method, path, json=body, headers=auth)
        assert r.status == 200, await r.text()
        assert [name for name, _ in service.calls] == [DONE_BY[path]]


@async_test
async def test_without_a_configured_token_admin_routes_are_open() -> None:
    async with api(FakeService(1)) as (client, _):
        r = await client.post("/trigger-snapshot", json={})
        assert r.status == 200


@pytest.mark.parametrize("path", ["/health", "/leader", "/membership", "/kv/k", "/metrics"])
@async_test
async def test_client_routes_never_need_the_token(path: str) -> None:
    async with api(FakeService(1), admin_token=TOKEN) as (client, _):
        r = await client.get(path)
        assert r.status != 401


@async_test
async def test_the_ticket_carries_the_secret_only_for_an_admin() -> None:
    async with api(FakeService(1), admin_token=TOKEN, cluster_secret=SECRET) as (client, _):
        plain = await (await client.get("/cluster-ticket")).json()
        assert plain["secret"] is False and Ticket.decode(plain["ticket"]).secret == ""
        r = await client.get("/cluster-ticket", headers={"Authorization": f"Bearer {TOKEN}"})
        admin = await r.json()
        assert admin["secret"] is True and Ticket.decode(admin["ticket"]).secret == SECRET
    async with api(FakeService(1), cluster_secret=SECRET) as (client, _):
        # No admin token configured: anyone may ask, so the secret is never handed out.
        body = await (await client.get("/cluster-ticket")).json()
        assert body["secret"] is False


@async_test
async def test_the_client_sends_its_token() -> None:
    async with api(FakeService(1), admin_token=TOKEN) as (client, _):
        url = f"http://127.0.0.1:{client.port}"
        async with AsyncClient([url], token=TOKEN) as good, AsyncClient([url]) as bad:
            assert (await good.trigger_snapshot()).outcome is Outcome.OK
            r = await bad.trigger_snapshot()
            assert (r.outcome, r.status) == (Outcome.FAIL, 401)


@async_test
async def test_peer_transport_counters_are_exported() -> None:
    stats = TransportStats(connections_refused=3, handshake_failures=5, frames_rejected=2)
    async with api(FakeService(1), peer_stats=lambda: stats) as (client, _):
        text = await (await client.get("/metrics")).text()
    assert "aspen_peer_connections_refused_total 3.0" in text
    assert "aspen_peer_handshake_failures_total 5.0" in text
    assert "aspen_peer_frames_rejected_total 2.0" in text
    assert "aspen_peer_hellos_ignored_total 0.0" in text
