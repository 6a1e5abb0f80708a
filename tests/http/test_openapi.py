"""The OpenAPI document matches the routes, and schemathesis finds no 5xx and no response that
breaks the document, in valid and invalid requests, against the app backed by the fake."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from aspen.http import build_app, openapi_document
from tests.http.fake_service import FakeService
from tests.http.support import LiveServers, api, async_test

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
MAX_EXAMPLES = 20

schema = schemathesis.openapi.from_dict(openapi_document())
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=MAX_EXAMPLES
)


@pytest.fixture(scope="module")
def live() -> Iterator[LiveServers]:
    with LiveServers(FakeService(1)) as servers:
        yield servers


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
def test_api_conforms_to_its_openapi_document(
    case: schemathesis.Case[Any], live: LiveServers
) -> None:
    case.call_and_validate(base_url=live.url, checks=CHECKS, timeout=10)


def _document_routes() -> set[tuple[str, str]]:
    routes = set()
    for path, item in openapi_document()["paths"].items():
        for method in item:
            if method != "parameters":
                routes.add((method.upper(), path))
    return routes


def test_every_route_is_documented_and_every_documented_route_exists() -> None:
    app = build_app(FakeService())
    served = set()
    for route in app.router.routes():
        if route.method == "HEAD":
            continue
        path = route.resource.canonical if route.resource else ""
        served.add((route.method, path.replace("{key:[\\s\\S]+}", "{key}")))
    assert served == _document_routes()


@async_test
async def test_document_is_served() -> None:
    async with api() as (client, _):
        r = await client.get("/openapi.json")
        assert r.status == 200
        assert (await r.json())["openapi"].startswith("3.")
