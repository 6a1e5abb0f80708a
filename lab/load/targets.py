"""The load generator's clients: plain HTTP over one aiohttp session, as cheap as we can make it.

The lab's ``Client`` (ok/fail/info per ``Invocation``) and Aspen's ``AsyncClient`` build a
result object per call; at tens of thousands of operations a second on a machine whose cores the
nodes also need, that overhead is measured, not the server. A target instead works on record
numbers: it pre-encodes every request body it can at ``start()`` and returns ``None`` for
success or a short error *kind* (``timeout``, ``connect``, ``http 503``, ...). A read returns
the value as the server encoded it, for the read-modify-write that follows.

Both targets send everything to the leader, found at start and followed on redirects: Aspen
answers 421 with the leader's address; etcd is asked who leads (a follower would forward).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import Sequence
from typing import Any, Final, Protocol

import aiohttp
import msgspec
from yarl import URL

CONFLICT: Final = "conflict"
"""A CAS whose expectation did not hold: nothing written, and not an error of the store."""

_HEADERS = {"Content-Type": "application/json"}
_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode
_REDIRECTS = 3


def error_kind(e: BaseException) -> str:
    """A transport exception as a short, countable kind."""
    if isinstance(e, TimeoutError | aiohttp.ServerTimeoutError):
        return "timeout"
    if isinstance(e, aiohttp.ClientConnectorError):
        return "connect"
    if isinstance(e, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return "disconnected"
    return type(e).__name__


class Target(Protocol):
    """What the engine drives. ``None`` is success; a string is an error kind (or CONFLICT)."""

    name: str

    async def start(self) -> None: ...

    async def put(self, key: int, value: int) -> str | None: ...

    async def get(self, key: int) -> tuple[str | None, Any]:
        """(error kind or None, the value as the server sent it, for ``cas``)."""
        ...

    async def cas(self, key: int, expected: Any, value: int) -> str | None: ...

    async def close(self) -> None: ...


def _base(endpoint: str) -> str:
    return endpoint if "://" in endpoint else f"http://{endpoint}"


class _Http:
    """One session, one pool, keep-alive; ``_post`` returns (status, body) or raises."""

    def __init__(self, endpoints: Sequence[str], *, timeout: float, connections: int) -> None:
        if not endpoints:
            raise ValueError("at least one endpoint is needed")
        self.endpoints = [_base(e).rstrip("/") for e in endpoints]
        self.timeout = timeout
        self.connections = connections
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self.connections, keepalive_timeout=60, ttl_dns_cache=None
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def _post(self, url: URL, body: bytes) -> tuple[int, bytes]:
        assert self._session is not None, "start() first"
        async with self._session.post(url, data=body, headers=_HEADERS) as resp:
            return resp.status, await resp.read()

    async def _get(self, url: str) -> tuple[int, bytes]:
        async with self._open().get(url, timeout=aiohttp.ClientTimeout(total=1.0)) as resp:
            return resp.status, await resp.read()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _status_kind(status: int, raw: bytes) -> str:
    with contextlib.suppress(msgspec.DecodeError, TypeError, AttributeError):
        code = _decode(raw).get("code")
        if isinstance(code, str):
            return f"http {status} {code}"
    return f"http {status}"


class AspenTarget(_Http):
    """Aspen's seed routes: ``POST /write`` (put), ``POST /read`` (linearizable get),
    ``POST /kv/cas``. A 421 names the leader; the request is sent there at once."""

    name = "aspen"

    def __init__(
        self,
        endpoints: Sequence[str],
        keys: Sequence[bytes],
        values: Sequence[bytes],
        *,
        timeout: float = 5.0,
        connections: int = 64,
    ) -> None:
        super().__init__(endpoints, timeout=timeout, connections=connections)
        self._keys = list(keys)
        self._values = list(values)
        self._value_str = [v.decode() for v in values]
        self._put_prefix = [b'{"key":"' + k + b'","value":"' for k in self._keys]
        self._read_body = [b'{"key":"' + k + b'"}' for k in self._keys]
        self._current = 0
        self._set_base(self.endpoints[0])

    def _set_base(self, base: str) -> None:
        self.base = base
        self._write = URL(base + "/write")
        self._read = URL(base + "/read")
        self._cas = URL(base + "/kv/cas")

    async def start(self) -> None:
        self._open()
        for _ in range(50):
            for base in self.endpoints:
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    status, raw = await self._get(base + "/leader")
                    http = _decode(raw).get("http") if status == 200 else None
                    if isinstance(http, str):
                        self._set_base(_base(http))
                        return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"no Aspen leader found at {', '.join(self.endpoints)}")

    def _follow(self, raw: bytes) -> bool:
        """Move to the leader a 421 names; False when it names none."""
        with contextlib.suppress(msgspec.DecodeError, TypeError, AttributeError):
            leader = _decode(raw).get("leader") or {}
            http = leader.get("http")
            if isinstance(http, str) and _base(http) != self.base:
                self._set_base(_base(http))
                return True
        return False

    def _next_endpoint(self) -> None:
        self._current += 1
        self._set_base(self.endpoints[self._current % len(self.endpoints)])

    async def _send(self, which: str, body: bytes) -> tuple[str | None, bytes]:
        for _ in range(_REDIRECTS):
            url = self._write if which == "w" else self._read if which == "r" else self._cas
            try:
                status, raw = await self._post(url, body)
            except (TimeoutError, aiohttp.ClientError) as e:
                kind = error_kind(e)
                if kind == "connect":
                    self._next_endpoint()
                return kind, b""
            if status == 200:
                return None, raw
            if status == 421 and self._follow(raw):
                continue
            if status in (421, 503):
                self._next_endpoint()
            return _status_kind(status, raw), raw
        return "redirects", b""

    async def put(self, key: int, value: int) -> str | None:
        return (await self._send("w", self._put_prefix[key] + self._values[value] + b'"}'))[0]

    async def get(self, key: int) -> tuple[str | None, Any]:
        err, raw = await self._send("r", self._read_body[key])
        if err is not None:
            return err, None
        return None, raw

    async def cas(self, key: int, expected: Any, value: int) -> str | None:
        current = _decode(expected).get("value") if expected else None
        body = _encode(
            {"key": self._keys[key].decode(), "expected": current, "new": self._value_str[value]}
        )
        err, raw = await self._send("c", body)
        if err is not None:
            return err
        return None if _decode(raw).get("ok") else CONFLICT


def _b64(b: bytes) -> bytes:
    return base64.b64encode(b)


class EtcdTarget(_Http):
    """etcd 3.4's JSON gateway: ``/v3/kv/put``, ``/v3/kv/range`` (linearizable unless
    ``serializable``), ``/v3/kv/txn`` for CAS; keys and values base64, pre-encoded."""

    name = "etcd"

    def __init__(
        self,
        endpoints: Sequence[str],
        keys: Sequence[bytes],
        values: Sequence[bytes],
        *,
        timeout: float = 5.0,
        connections: int = 64,
    ) -> None:
        super().__init__(endpoints, timeout=timeout, connections=connections)
        self._key64 = [_b64(k) for k in keys]
        self._val64 = [_b64(v) for v in values]
        self._put_prefix = [b'{"key":"' + k + b'","value":"' for k in self._key64]
        self._range_body = [b'{"key":"' + k + b'"}' for k in self._key64]
        self._set_base(self.endpoints[0])

    def _set_base(self, base: str) -> None:
        self.base = base
        self._put = URL(base + "/v3/kv/put")
        self._range = URL(base + "/v3/kv/range")
        self._txn = URL(base + "/v3/kv/txn")

    async def start(self) -> None:
        session = self._open()
        for _ in range(50):
            members: dict[str, str] = {}
            leader = None
            for base in self.endpoints:
                with contextlib.suppress(aiohttp.ClientError, TimeoutError, ValueError):
                    async with session.post(base + "/v3/maintenance/status", data=b"{}") as r:
                        body = _decode(await r.read())
                    if r.status == 200:
                        members[str(body["header"]["member_id"])] = base
                        leader = str(body.get("leader", "")) or leader
            if leader is not None and leader in members:
                self._set_base(members[leader])
                return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"no etcd leader found at {', '.join(self.endpoints)}")

    async def _send(self, url: URL, body: bytes) -> tuple[str | None, bytes]:
        try:
            status, raw = await self._post(url, body)
        except (TimeoutError, aiohttp.ClientError) as e:
            return error_kind(e), b""
        if status == 200:
            return None, raw
        return _status_kind(status, raw), raw

    async def put(self, key: int, value: int) -> str | None:
        return (await self._send(self._put, self._put_prefix[key] + self._val64[value] + b'"}'))[0]

    async def get(self, key: int) -> tuple[str | None, Any]:
        err, raw = await self._send(self._range, self._range_body[key])
        return (err, None) if err is not None else (None, raw)

    async def cas(self, key: int, expected: Any, value: int) -> str | None:
        kvs = _decode(expected).get("kvs") if expected else None
        k = self._key64[key].decode()
        if kvs:
            compare = {"key": k, "target": "VALUE", "result": "EQUAL", "value": kvs[0]["value"]}
        else:
            compare = {"key": k, "target": "CREATE", "result": "EQUAL", "create_revision": 0}
        body = _encode(
            {
                "compare": [compare],
                "success": [{"request_put": {"key": k, "value": self._val64[value].decode()}}],
            }
        )
        err, raw = await self._send(self._txn, body)
        if err is not None:
            return err
        return None if _decode(raw).get("succeeded") else CONFLICT
