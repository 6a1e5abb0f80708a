"""serve(): binds port 0, reports the port, serves long keys in URLs, closes cleanly."""

from __future__ import annotations

from urllib.parse import quote

import aiohttp

from aspen.http import build_app, serve
from aspen.kv.commands import MAX_KEY_BYTES
from tests.http.fake_service import FakeService
from tests.http.support import async_test


@async_test
async def test_serve_binds_a_free_port_and_reports_it() -> None:
    service = FakeService()
    server = await serve(build_app(service), "127.0.0.1", 0)
    try:
        assert server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}"
        key = "\U0001f600" * (MAX_KEY_BYTES // 4)  # 4096 bytes, 12 KiB percent-encoded
        async with aiohttp.ClientSession() as session:
            async with session.put(f"{server.url}/kv/{quote(key)}", json={"value": "v"}) as r:
                assert r.status == 200
            async with session.get(f"{server.url}/kv/{quote(key + 'x')}") as r:
                assert r.status == 400  # over the byte limit: a JSON answer, not a parser error
                assert "the limit is 4096" in (await r.json())["error"]
        assert service.data == {key: "v"}
    finally:
        await server.close()
