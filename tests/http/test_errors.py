"""The error middleware: each ServiceError to its one status, HTTP errors and bugs as JSON."""

from __future__ import annotations

import io
import logging

import pytest

from aspen.node.service import (
    ConflictError,
    InvalidRequestError,
    NotLeaderError,
    PeerAddress,
    ServiceError,
    UnavailableError,
    UnknownOutcomeError,
)
from aspen.storage.errors import StorageFullError
from tests.http.support import api, async_test


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (UnavailableError("no leader"), 503, "unavailable"),
        (UnknownOutcomeError("timed out"), 504, "unknown_outcome"),
        (StorageFullError("disk full"), 507, "storage_full"),
        (ConflictError("change in flight"), 409, "conflict"),
        (InvalidRequestError("unknown node"), 400, "invalid_request"),
    ],
)
@async_test
async def test_service_errors_map_to_one_status(error: Exception, status: int, code: str) -> None:
    async with api() as (client, service):
        service.on("put", error)
        r = await client.post("/write", json={"key": "k", "value": "v"})
        assert r.status == status
        assert await r.json() == {"error": str(error), "code": code}
        service.on("get", error)
        r = await client.get("/kv/k")
        assert r.status == status


@async_test
async def test_not_leader_without_address_looks_it_up_in_membership() -> None:
    async with api() as (client, service):
        service.addresses[3] = PeerAddress("h3:7000", "h3:8080")
        service.on("delete", NotLeaderError(3, None))
        r = await client.delete("/kv/a%2Fb")
        assert r.status == 421
        body = await r.json()
        assert body["leader_id"] == 3
        assert body["location"] == "http://h3:8080/kv/a%2Fb"
        assert r.headers["Location"] == body["location"]


@async_test
async def test_not_leader_with_no_leader_known() -> None:
    async with api() as (client, service):
        service.on("put", NotLeaderError())
        r = await client.put("/kv/k", json={"value": "v"})
        assert r.status == 421
        body = await r.json()
        assert (body["leader_id"], body["leader"], body["location"]) == (None, None, None)
        assert "Location" not in r.headers


@async_test
async def test_unexpected_exception_is_a_logged_500_json(caplog: pytest.LogCaptureFixture) -> None:
    class Boom(Exception):
        pass

    async def boom() -> None:
        raise Boom("kaput")

    async with api() as (client, service):
        service.on("put", boom)
        with caplog.at_level(logging.ERROR, logger="aspen.http"):
            r = await client.post("/write", json={"key": "k", "value": "v"})
        assert r.status == 500
        assert (await r.json())["code"] == "internal"
        assert "kaput" not in (await r.text())
        assert any("unexpected error" in rec.message for rec in caplog.records)


@async_test
async def test_unclassified_service_error_is_500_not_a_definite_failure() -> None:
    async with api() as (client, service):
        service.on("put", ServiceError("something odd"))
        r = await client.post("/write", json={"key": "k", "value": "v"})
        assert r.status == 500  # clients read 500 as "outcome unknown"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/write", "POST"),
        ("GET", "/write", "POST"),
        ("POST", "/leader", "GET, HEAD"),
        ("POST", "/kv/foo", "DELETE, GET, HEAD, PUT"),
        ("PATCH", "/kv/foo", "DELETE, GET, HEAD, PUT"),
        ("GET", "/kv/cas", None),  # a key named "cas": a read, not a 405
        ("PUT", "/health", "GET, HEAD"),
    ],
)
@async_test
async def test_wrong_method_is_405_json(method: str, path: str, allowed: str | None) -> None:
    async with api() as (client, _):
        r = await client.request(method, path)
        if allowed is None:
            assert r.status == 200
            return
        assert r.status == 405
        assert r.headers["Allow"] == allowed
        body = await r.json()
        assert body["code"] == "method_not_allowed"
        assert method in body["error"] and allowed in body["error"]


@pytest.mark.parametrize("path", ["/nope", "/kv/", "/write/extra", "/", "/%ff"])
@async_test
async def test_unknown_path_is_404_json(path: str) -> None:
    async with api() as (client, _):
        r = await client.get(path)
        assert r.status == 404
        assert r.content_type == "application/json"
        assert (await r.json())["code"] == "not_found"


@async_test
async def test_body_too_large_is_413_json() -> None:
    async with api(max_body_bytes=1024) as (client, service):
        body = b'{"key": "k", "value": "' + b"v" * 2000 + b'"}'
        r = await client.post("/write", data=io.BytesIO(body))
        assert r.status == 413
        error = await r.json()
        assert error["code"] == "payload_too_large"
        assert "too large" in error["error"]
        assert service.data == {}
