"""``GET /metrics``: node gauges read at scrape time, request series, one registry per app."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from aspen.http import build_app
from aspen.http.metrics import RaftCollector
from tests.http.fake_service import FakeService
from tests.http.support import api, async_test


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


@async_test
async def test_node_gauges_are_read_at_scrape_time() -> None:
    service = FakeService(1)
    service.voters |= {2, 3}
    async with api(service) as (client, _):
        for i in range(5):
            await client.put(f"/kv/k{i}", json={"value": "v"})
        service.term = 7
        service.storage = 123456
        r = await client.get("/metrics")
        assert r.status == 200
        assert r.content_type == "text/plain"
        s = samples(await r.text())
        assert s[("aspen_raft_term", ())] == 7
        assert s[("aspen_raft_commit_index", ())] == 5
        assert s[("aspen_raft_applied_index", ())] == 5
        assert s[("aspen_raft_leader_id", ())] == 1
        assert s[("aspen_raft_role", (("role", "leader"),))] == 1
        assert s[("aspen_raft_role", (("role", "follower"),))] == 0
        assert s[("aspen_raft_is_leader", ())] == 1
        assert s[("aspen_raft_voters", ())] == 3
        assert s[("aspen_raft_follower_match_index", (("peer", "2"),))] == 4
        assert s[("aspen_raft_follower_lag", (("peer", "3"),))] == 1
        assert ("aspen_raft_follower_lag", (("peer", "1"),)) not in s  # not its own follower
        assert s[("aspen_storage_bytes", ())] == 123456

        service.become_follower(2)
        s = samples(await (await client.get("/metrics")).text())
        assert s[("aspen_raft_role", (("role", "follower"),))] == 1
        assert s[("aspen_raft_is_leader", ())] == 0
        assert ("aspen_raft_follower_lag", (("peer", "3"),)) not in s


@async_test
async def test_rejected_peer_messages_are_a_counter_by_check() -> None:
    service = FakeService(1)
    async with api(service) as (client, _):
        service.rejected = {"index_beyond_log": 3, "future_term": 1}
        s = samples(await (await client.get("/metrics")).text())
        check = "aspen_raft_rejected_messages_total"
        assert s[(check, (("check", "index_beyond_log"),))] == 3
        assert s[(check, (("check", "future_term"),))] == 1


@async_test
async def test_request_latency_and_errors_by_status() -> None:
    async with api() as (client, _):
        await client.put("/kv/a", json={"value": "1"})
        await client.get("/kv/a", params={"consistency": "stale"})
        await client.post("/write", data=b"{")
        await client.get("/nope")
        s = samples(await (await client.get("/metrics")).text())
        route = (("method", "PUT"), ("route", "/kv/{key}"))
        assert s[("aspen_http_request_duration_seconds_count", route)] == 1
        assert s[("aspen_http_responses_total", (*route, ("status", "200")))] == 1
        assert s[("aspen_http_errors_total", (("status", "400"),))] == 1
        assert s[("aspen_http_errors_total", (("status", "404"),))] == 1
        unmatched = (("method", "GET"), ("route", "unmatched"), ("status", "404"))
        assert s[("aspen_http_responses_total", unmatched)] == 1
        assert s[("aspen_proposal_duration_seconds_count", (("op", "put"),))] == 1
        assert s[("aspen_read_duration_seconds_count", (("consistency", "stale"),))] == 1


def test_each_app_has_its_own_registry() -> None:
    a, b = build_app(FakeService(1)), build_app(FakeService(2))
    from aspen.http.keys import METRICS

    assert a[METRICS].registry is not b[METRICS].registry
    a[METRICS].observe("GET", "/x", 200, 0.1)
    assert (
        b[METRICS].registry.get_sample_value(
            "aspen_http_responses_total", {"method": "GET", "route": "/x", "status": "200"}
        )
        is None
    )


def test_collector_survives_a_failing_node() -> None:
    service = FakeService(1)

    def broken() -> dict[str, object]:
        raise RuntimeError("driver gone")

    service.raft_metrics = broken  # type: ignore[method-assign]
    names = {m.name for m in RaftCollector(service).collect()}
    assert "aspen_storage_bytes" in names
    errors = [m for m in RaftCollector(service).collect() if m.name.endswith("collect_errors")]
    assert errors[0].samples[0].value == 1


def test_collector_normalizes_role_names() -> None:
    service = FakeService(1)
    for raw, role in [("StateLeader", "leader"), ("Role.PRE_CANDIDATE", "pre_candidate"),
                      ("PreCandidate", "pre_candidate"), ("witness", "witness")]:  # fmt: skip
        service.role = raw
        fam = next(m for m in RaftCollector(service).collect() if m.name == "aspen_raft_role")
        assert [s.labels["role"] for s in fam.samples if s.value == 1] == [role]
