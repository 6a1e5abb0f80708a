"""The blocking client drives the async one from its own thread, with the same rules."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from aspen.client import CasReply, Client, Outcome
from aspen.node.service import UnknownOutcomeError
from tests.client.servers import refusing_port
from tests.http.fake_service import FakeService
from tests.http.support import LiveServers


def test_round_trip_and_leader_following() -> None:
    a, b = FakeService(1), FakeService(2)
    with LiveServers(a, b) as live, Client(live.urls) as client:
        assert client.put("k", "v").ok
        assert client.get("k").unwrap() == "v"
        assert client.cas("k", "v", "w").unwrap() == CasReply(True, "v")
        live.call(lambda: a.become_follower(2, b.address))
        r = client.put("x", "1")
        assert (r.outcome, r.endpoint, r.attempts) == (Outcome.OK, live.urls[1], 2)
        assert client.leader_url == live.urls[1]
        assert b.data == {"x": "1"}
        assert client.leader().unwrap().id == 2


def test_unknown_outcome_is_reported() -> None:
    service = FakeService()
    with LiveServers(service) as live, Client([live.url]) as client:
        live.call(lambda: service.on("put", UnknownOutcomeError("lost leadership")))
        r = client.put("k", "v")
        assert (r.outcome, r.status, r.error) == (Outcome.UNKNOWN, 504, "lost leadership")


def test_many_threads_share_one_client() -> None:
    service = FakeService()
    with LiveServers(service) as live, Client([live.url]) as client:
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda i: client.put(f"k{i}", str(i)), range(100)))
        assert all(r.ok for r in results)
        assert len(service.data) == 100


def test_close_stops_the_thread_and_refuses_further_calls() -> None:
    with refusing_port() as url:
        client = Client([url], max_attempts=1)
        assert client.put("k", "v").outcome is Outcome.FAIL
        client.close()
        client.close()  # idempotent
        assert not any(t.name == "aspen-client" and t.is_alive() for t in threading.enumerate())
        with pytest.raises(RuntimeError, match="closed"):
            client.get("k")
