"""Cluster and operations endpoints against the fake service."""

from __future__ import annotations

from typing import Any

import pytest

from aspen.node.service import HealthCheck, HealthStatus, PeerAddress
from aspen.ticket import Ticket
from tests.http.fake_service import FakeService
from tests.http.support import api, async_test

A2 = {"raft": "10.0.0.2:7000", "http": "10.0.0.2:8080"}


@async_test
async def test_init_bootstraps_and_twice_is_409() -> None:
    async with api(FakeService(1, initialized=False)) as (client, service):
        members = {"1": {"raft": "h1:7000", "http": "h1:8080"}, "2": A2}
        r = await client.post("/init", json={"members": members})
        assert (r.status, await r.json()) == (200, {"initialized": True, "voters": [1, 2]})
        assert service.voters == {1, 2}
        assert service.addresses[2] == PeerAddress("10.0.0.2:7000", "10.0.0.2:8080")
        r = await client.post("/init", json={"members": members})
        assert r.status == 409
        assert (await r.json())["code"] == "conflict"


@async_test
async def test_init_without_this_node_is_400_from_the_service() -> None:
    async with api(FakeService(1, initialized=False)) as (client, _):
        r = await client.post("/init", json={"members": {"2": A2}})
        assert r.status == 400
        assert (await r.json())["code"] == "invalid_request"


@async_test
async def test_uninitialized_node_answers_503() -> None:
    async with api(FakeService(1, initialized=False)) as (client, _):
        r = await client.post("/write", json={"key": "k", "value": "v"})
        assert r.status == 503
        r = await client.get("/leader")
        assert r.status == 503
        assert await r.json() == {
            "error": "no leader known",
            "code": "unavailable",
            "leader_id": None,
        }
        r = await client.get("/cluster-ticket")
        assert r.status == 503


@async_test
async def test_add_learner_promote_and_add_peer() -> None:
    async with api() as (client, service):
        r = await client.post("/add-learner", json={"node_id": 2, **A2})
        assert r.status == 200
        assert (await r.json())["node_id"] == 2
        assert service.learners == {2}
        r = await client.post("/change-membership", json={"voters": [1, 2]})
        assert (r.status, (await r.json())["voters"]) == (200, [1, 2])
        assert service.voters == {1, 2} and service.learners == set()
        r = await client.post("/change-membership", json={"voters": [1, 2, 9]})
        assert r.status == 400  # 9 is not a member: the service refuses
        r = await client.post("/add-peer", json={"node_id": 9, "raft": "[::1]:7009", "http": "h:1"})
        assert r.status == 200
        assert service.addresses[9] == PeerAddress("[::1]:7009", "h:1")
        r = await client.get("/membership")
        body = await r.json()
        assert body["voters"] == [1, 2] and body["learners"] == [] and body["joint"] is False
        assert body["members"]["9"] == {"raft": "[::1]:7009", "http": "h:1"}


@async_test
async def test_leader_endpoint() -> None:
    async with api() as (client, service):
        r = await client.get("/leader")
        body = await r.json()
        assert body == {
            "leader_id": 1,
            "http": service.address.http,
            "raft": service.address.raft,
            "is_self": True,
        }
        service.addresses[2] = PeerAddress("10.0.0.2:7000", "10.0.0.2:8080")
        service.become_follower(2, None)  # id known, address only from membership
        body = await (await client.get("/leader")).json()
        assert body == {"leader_id": 2, **A2, "is_self": False}
        service.become_follower(5, None)  # no address known at all
        body = await (await client.get("/leader")).json()
        assert body == {"leader_id": 5, "http": None, "raft": None, "is_self": False}


@async_test
async def test_metrics_info_snapshot() -> None:
    async with api() as (client, _service):
        await client.post("/write", json={"key": "k", "value": "v"})
        r = await client.get("/raft-metrics")
        assert (await r.json())["applied"] == 1
        r = await client.get("/node-info")
        assert (await r.json())["cluster_id"] == "test-cluster"
        r = await client.post("/trigger-snapshot")
        assert await r.json() == {"index": 1}
        r = await client.post("/trigger-snapshot", json={})
        assert r.status == 200


@async_test
async def test_cluster_ticket_names_voters_first_and_at_most_16() -> None:
    service = FakeService(1)
    for i in range(2, 21):
        service.addresses[i] = PeerAddress(f"h{i}:7000", f"h{i}:8080")
    service.voters |= {2, 3}
    service.learners |= set(range(4, 21))
    async with api(service) as (client, _):
        r = await client.get("/cluster-ticket")
        body = await r.json()
        ticket = Ticket.decode(body["ticket"])
        assert ticket.cluster_id == "test-cluster"
        assert [p.id for p in ticket.peers] == list(range(1, 17))
        assert ticket.peers[1].http == "h2:8080"
        assert body["peers"][0]["id"] == 1


@pytest.mark.parametrize(
    ("checks", "status", "overall"),
    [
        ([HealthCheck("raft", HealthStatus.OK)], 200, "healthy"),
        ([], 200, "healthy"),
        ([HealthCheck("raft", HealthStatus.OK), HealthCheck("disk", HealthStatus.DEGRADED)],
         200, "degraded"),
        ([HealthCheck("disk", HealthStatus.DEGRADED), HealthCheck("raft", HealthStatus.FAIL, "x")],
         503, "unhealthy"),
    ],
)  # fmt: skip
@async_test
async def test_health(checks: list[HealthCheck], status: int, overall: str) -> None:
    async with api() as (client, service):
        service.checks = checks
        r = await client.get("/health")
        assert r.status == status
        body = await r.json()
        assert body["status"] == overall
        assert [c["name"] for c in body["checks"]] == [c.name for c in checks]


@async_test
async def test_health_that_raises_is_unhealthy() -> None:
    async with api() as (client, service):

        def broken() -> list[HealthCheck]:
            raise RuntimeError("boom")

        service.health = broken  # type: ignore[method-assign]
        r = await client.get("/health")
        assert r.status == 503
        assert (await r.json())["status"] == "unhealthy"


BAD_CLUSTER_INPUTS: list[tuple[str, Any, str]] = [
    ("/init", {"members": {}}, "at least one node"),
    ("/init", {"members": {"0": A2}}, "member id must be in 1.."),
    ("/init", {"members": {"x": A2}}, "member id must be a positive integer"),
    ("/init", {"members": {"-1": A2}}, "member id must be a positive integer"),
    ("/init", {"members": {"1": {"raft": "nohost", "http": "h:1"}}}, "member 1 raft"),
    ("/init", {"members": {"1": {"raft": "h:70000", "http": "h:1"}}}, "port must be in 1..65535"),
    ("/init", {"members": {"1": {"raft": "h:1", "http": "h:0"}}}, "port must be in 1..65535"),
    ("/init", {"members": {"1": {"raft": "h:1"}}}, "$.members[...].http"),
    ("/init", {"members": {"1": {**A2, "grpc": "h:3"}}}, "$.members[...].grpc"),
    ("/init", {"members": [1, 2]}, "$.members"),
    ("/init", {}, "$.members"),
    ("/add-learner", {"node_id": 0, **A2}, "node_id must be in 1.."),
    ("/add-learner", {"node_id": -3, **A2}, "node_id must be in 1.."),
    ("/add-learner", {"node_id": 2**63, **A2}, "node_id must be in 1.."),
    ("/add-learner", {"node_id": "2", **A2}, "$.node_id"),
    ("/add-learner", {"node_id": True, **A2}, "$.node_id"),
    ("/add-learner", {"node_id": 2.0, **A2}, "$.node_id"),
    ("/add-learner", {"node_id": 2, "raft": "h:1"}, "$.http"),
    ("/add-learner", {"node_id": 2, "raft": "h:1", "http": "h"}, "http: bad address"),
    ("/add-learner", {"node_id": 2, "raft": "::1:7000", "http": "h:1"}, "[addr]:port"),
    ("/add-learner", {"node_id": 2, "raft": "h h:1", "http": "h:1"}, "not a valid host name"),
    ("/add-peer", {"node_id": 2, "raft": "h:1", "http": "h:x"}, "port must be a number"),
    ("/add-peer", {"node_id": 2, **A2, "voter": True}, "$.voter"),
    ("/change-membership", {"voters": []}, "voters must not be empty"),
    ("/change-membership", {"voters": [1, 1]}, "must not repeat"),
    ("/change-membership", {"voters": [0]}, "voter id must be in 1.."),
    ("/change-membership", {"voters": "1,2"}, "$.voters"),
    ("/change-membership", {"voters": [1.5]}, "$.voters[0]"),
    ("/change-membership", {"learners": [1]}, "$.learners"),
    ("/trigger-snapshot", {"now": True}, "$.now"),
    ("/trigger-snapshot", [], "must be a JSON object"),
]


@pytest.mark.parametrize(("path", "body", "fragment"), BAD_CLUSTER_INPUTS)
@async_test
async def test_bad_cluster_input_is_400_json(path: str, body: Any, fragment: str) -> None:
    async with api() as (client, service):
        r = await client.post(path, json=body)
        assert r.status == 400, await r.text()
        error = await r.json()
        if fragment.startswith("$"):  # the decoder's fault: blamed by path, not by its wording
            assert error["field"] == fragment, error
        else:
            assert fragment in error["error"]
        assert service.calls == []


@pytest.mark.parametrize(
    "path", ["/leader", "/raft-metrics", "/node-info", "/membership", "/cluster-ticket", "/health"]
)
@async_test
async def test_get_endpoints_refuse_unknown_query_parameters(path: str) -> None:
    async with api() as (client, _):
        r = await client.get(path, params={"verbose": "1"})
        assert r.status == 400
        assert "unknown query parameter 'verbose'" in (await r.json())["error"]
