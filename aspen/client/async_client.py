"""The asyncio client: one keep-alive connection pool, leader following, and safe retries.

::

    async with AsyncClient(["127.0.0.1:8081", "127.0.0.1:8082"]) as client:
        r = await client.put("k", "v")          # Result[None]
        if r.outcome is Outcome.UNKNOWN: ...    # may or may not have been applied
        value = (await client.get("k")).unwrap()

Routing: writes, linearizable reads and membership changes go to the leader (learned from
``GET /leader`` on first use, then from each 421's ``location``); stale reads and per-node
queries go to the current endpoint (or the ``endpoint=`` given), which changes only when it
cannot be reached.

Retries (at most ``max_attempts`` sends per call) happen only when the previous attempt
definitely had no effect: it was never sent (connection refused, connect timeout), or the node
answered 421 (followed to the leader at once) or 503 (after a backoff). A write whose request
may have arrived (timeout or connection lost after sending, 504, 5xx) is never resent: its
outcome is UNKNOWN. Reads have no effect, so they are retried in those cases too.

Every request goes out as POST or GET: aiohttp itself silently resends PUT and DELETE once when
a pooled connection drops, which would be a hidden second send of a write.
"""

from __future__ import annotations

import asyncio
import io
import random
import ssl as _ssl
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any, TypeVar

import aiohttp
import msgspec
from yarl import URL

from aspen.client.outcome import (
    TRANSPORT_ERRORS,
    Outcome,
    Result,
    SendWatch,
    outcome_of_exception,
    outcome_of_status,
    send_tracing,
)
from aspen.node.service import Consistency, PeerAddress

T = TypeVar("T")

_LARGE_BODY = 1 << 20
"""aiohttp warns about raw bodies over 1 MiB; bigger ones are streamed from a BytesIO."""
_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


@dataclass(frozen=True, slots=True)
class CasReply:
    ok: bool
    """False when the expectation did not hold (nothing was written)."""
    current: str | None
    """The value the key had when the CAS was applied."""


@dataclass(frozen=True, slots=True)
class ScanReply:
    items: list[tuple[str, str]]
    truncated: bool


@dataclass(frozen=True, slots=True)
class LeaderInfo:
    id: int
    http: str | None
    raft: str | None


def normalize_endpoint(endpoint: str, scheme: str = "http") -> str:
    """``host:port`` or ``http://host:port[/]`` -> ``http://host:port``."""
    text = endpoint.strip().rstrip("/")
    if "://" not in text:
        text = f"{scheme}://{text}"
    url = URL(text)
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"bad endpoint {endpoint!r}: expected host:port or http://host:port")
    return str(url.origin())


class AsyncClient:
    """A client for one cluster. Create it in the event loop that will use it; close it."""

    def __init__(
        self,
        endpoints: Sequence[str] | str,
        *,
        timeout: float = 5.0,
        connect_timeout: float = 1.0,
        max_attempts: int = 4,
        backoff: float = 0.05,
        max_backoff: float = 1.0,
        pool_size: int = 100,
        follow_leader: bool = True,
        token: str | None = None,
        ssl: _ssl.SSLContext | None = None,
    ) -> None:
        """``timeout`` bounds each attempt (connect included); ``connect_timeout`` bounds the
        connection phase, within which a timeout still means "not sent" (it is capped at
        ``timeout``). ``follow_leader=False`` reports a 421 as FAIL instead of following it.
        ``token`` is sent as ``Authorization: Bearer`` (the admin endpoints may need it);
        ``ssl`` verifies HTTPS servers, and makes ``host:port`` endpoints and leader hints
        HTTPS."""
        if isinstance(endpoints, str):
            endpoints = [e for e in endpoints.split(",") if e.strip()]
        if not endpoints:
            raise ValueError("at least one endpoint is needed")
        if max_attempts < 1 or timeout <= 0 or connect_timeout <= 0:
            raise ValueError("max_attempts must be >= 1 and timeouts positive")
        self._scheme = "https" if ssl is not None else "http"
        self._ssl = ssl
        self._headers = dict(_HEADERS)
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self.endpoints = [normalize_endpoint(e, self._scheme) for e in endpoints]
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.follow_leader = follow_leader
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._client_timeout = aiohttp.ClientTimeout(
            total=timeout, connect=min(connect_timeout, timeout)
        )
        self._pool_size = pool_size
        self._session: aiohttp.ClientSession | None = None
        self._current = 0
        self.leader_url: str | None = None
        """The leader's base URL as last learned, or None."""

    @classmethod
    def from_ticket(cls, ticket: str, **kwargs: Any) -> AsyncClient:
        """A client for the cluster a ticket names (its peers' HTTP addresses)."""
        from aspen.ticket import Ticket

        return cls([p.http for p in Ticket.decode(ticket).peers], **kwargs)

    # --- lifecycle -------------------------------------------------------------------------------

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._pool_size,
                keepalive_timeout=15,
                ssl=self._ssl if self._ssl is not None else True,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._client_timeout,
                raise_for_status=False,
                trace_configs=[send_tracing()],
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # --- the request loop ------------------------------------------------------------------------

    def _node_url(self) -> str:
        return self.endpoints[self._current % len(self.endpoints)]

    def _unreachable(self, base: str) -> None:
        """``base`` could not be reached: forget it as leader, move to the next endpoint."""
        if self.leader_url == base:
            self.leader_url = None
        if self._node_url() == base:
            self._current += 1

    async def _pause(self, retry: int) -> None:
        delay = min(self._max_backoff, self._backoff * 2**retry)
        await asyncio.sleep(delay * (0.5 + random.random() / 2))

    async def _send(
        self,
        method: str,
        url: str,
        payload: bytes | None,
        timeout: aiohttp.ClientTimeout | None = None,
        watch: SendWatch | None = None,
    ) -> tuple[int, Any]:
        data: Any = payload
        if payload is not None and len(payload) > _LARGE_BODY:
            data = io.BytesIO(payload)
        session = self._get_session()
        async with session.request(
            method,
            url,
            data=data,
            headers=self._headers,
            timeout=timeout or self._client_timeout,
            trace_request_ctx=watch,
        ) as resp:
            raw = await resp.read()
            status = resp.status
        return status, _body(raw)

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        to_leader: bool = True,
        idempotent: bool = False,
        endpoint: str | None = None,
    ) -> Result[Any]:
        """Send one API request with the routing and retry rules above.

        ``to_leader``: send to the leader (else to the current endpoint); ``idempotent``: the
        request has no effect (a read) and may be resent after an unknown outcome;
        ``endpoint``: send only there (no failover; 421s are still followed if enabled).
        The Result's value is the decoded JSON body when OK.
        """
        payload = None if body is None else _encode(body)
        pinned = normalize_endpoint(endpoint, self._scheme) if endpoint else None
        if to_leader and pinned is None and self.leader_url is None and self.follow_leader:
            await self.discover_leader()
        result: Result[Any] = Result(Outcome.FAIL, error="no attempt made")
        redirect: str | None = None
        retries = 0
        for attempt in range(1, self.max_attempts + 1):
            if redirect is not None:
                base = redirect
            elif pinned is not None:
                base = pinned
            elif to_leader and self.leader_url is not None:
                base = self.leader_url
            else:
                base = self._node_url()
            redirect = None
            watch = SendWatch()
            try:
                status, reply = await self._send(method, base + path, payload, watch=watch)
            except TRANSPORT_ERRORS as e:
                outcome = outcome_of_exception(e, watch)
                error = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
                result = Result(outcome, error=error, endpoint=base, attempts=attempt)
                self._unreachable(base)
                if outcome is Outcome.UNKNOWN and not idempotent:
                    break
                if pinned is not None or attempt % len(self.endpoints) == 0:
                    await self._pause(retries)
                    retries += 1
                continue
            result = _result(status, reply, base, attempt)
            if result.outcome is Outcome.OK:
                if to_leader and pinned is None:
                    self.leader_url = base
                return result
            if status == 421 and self.follow_leader:
                redirect = _leader_hint(reply, self._scheme)
                if redirect is not None and redirect != base:
                    self.leader_url = redirect
                    continue
                self._unreachable(base)  # a follower that knows no leader: ask another node
                await self._pause(retries)
                retries += 1
            elif status == 503:
                self._unreachable(base)  # it may have lost leadership: try elsewhere
                await self._pause(retries)
                retries += 1
            elif result.outcome is Outcome.UNKNOWN and idempotent:
                await self._pause(retries)
                retries += 1
            else:
                break
        return result

    async def discover_leader(self) -> str | None:
        """Ask every endpoint ``GET /leader`` at once; remember the first leader named.

        Each ask is bounded by ``connect_timeout`` (a partitioned node must not stall every
        call while the leader is unknown); the asks still running are cancelled.
        """
        timeout = aiohttp.ClientTimeout(total=self._client_timeout.connect)

        async def ask(base: str) -> str | None:
            try:
                status, reply = await self._send("GET", base + "/leader", None, timeout)
            except TRANSPORT_ERRORS:
                return None
            if status == 200 and isinstance(reply, dict) and isinstance(reply.get("http"), str):
                try:
                    return normalize_endpoint(reply["http"], self._scheme)
                except ValueError:
                    return None
            return None

        tasks = [asyncio.ensure_future(ask(base)) for base in self.endpoints]
        try:
            for next_done in asyncio.as_completed(tasks):
                leader = await next_done
                if leader is not None:
                    self.leader_url = leader
                    return leader
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return None

    # --- key-value -------------------------------------------------------------------------------

    async def put(self, key: str, value: str) -> Result[None]:
        r = await self.request("POST", "/write", {"op": "put", "key": key, "value": value})
        return _map(r, lambda b: None)

    async def delete(self, key: str) -> Result[bool]:
        """Value: whether the key existed."""
        r = await self.request("POST", "/write", {"op": "delete", "key": key})
        return _map(r, lambda b: bool(b["existed"]))

    async def cas(self, key: str, expected: str | None, new: str) -> Result[CasReply]:
        """Set ``key`` to ``new`` if it is ``expected`` (None: absent). A mismatch is OK with
        ``value.ok == False``: it definitely did not write."""
        body = {"op": "cas", "key": key, "expected": expected, "new": new}
        r = await self.request("POST", "/write", body)
        return _map(r, lambda b: CasReply(bool(b["ok"]), b.get("current")))

    async def set_multi(self, items: Mapping[str, str]) -> Result[None]:
        r = await self.request("POST", "/write", {"op": "set-multi", "items": dict(items)})
        return _map(r, lambda b: None)

    async def get(
        self,
        key: str,
        *,
        consistency: Consistency | str = Consistency.LINEARIZABLE,
        endpoint: str | None = None,
    ) -> Result[str | None]:
        """Value: the key's value, None when absent. Stale reads go to the current endpoint
        (or ``endpoint``) rather than the leader: that is the node whose state they show."""
        level = Consistency(consistency)
        r = await self.request(
            "POST",
            "/read",
            {"key": key, "consistency": level.value},
            to_leader=level is Consistency.LINEARIZABLE,
            idempotent=True,
            endpoint=endpoint,
        )
        return _map(r, lambda b: b.get("value"))

    async def scan(
        self,
        prefix: str = "",
        *,
        limit: int = 100,
        consistency: Consistency | str = Consistency.LINEARIZABLE,
        endpoint: str | None = None,
        start_after: str = "",
    ) -> Result[ScanReply]:
        level = Consistency(consistency)
        params = {"prefix": prefix, "limit": str(limit), "consistency": level.value}
        if start_after:
            params["start_after"] = start_after
        query = str(URL.build(path="/kv", query=params))
        r = await self.request(
            "GET",
            query,
            to_leader=level is Consistency.LINEARIZABLE,
            idempotent=True,
            endpoint=endpoint,
        )
        return _map(
            r,
            lambda b: ScanReply([(i["key"], i["value"]) for i in b["items"]], bool(b["truncated"])),
        )

    # --- cluster ---------------------------------------------------------------------------------

    async def init(
        self,
        members: Mapping[int, PeerAddress | tuple[str, str]],
        *,
        endpoint: str | None = None,
    ) -> Result[None]:
        """Bootstrap the cluster on ``endpoint`` (default: the first endpoint)."""
        body = {"members": {str(i): _address(a) for i, a in members.items()}}
        r = await self.request(
            "POST", "/init", body, to_leader=False, endpoint=endpoint or self.endpoints[0]
        )
        return _map(r, lambda b: None)

    async def add_learner(self, node_id: int, raft: str, http: str) -> Result[None]:
        r = await self.request(
            "POST", "/add-learner", {"node_id": node_id, "raft": raft, "http": http}
        )
        return _map(r, lambda b: None)

    async def add_peer(self, node_id: int, raft: str, http: str) -> Result[None]:
        r = await self.request(
            "POST", "/add-peer", {"node_id": node_id, "raft": raft, "http": http}
        )
        return _map(r, lambda b: None)

    async def remove_peer(self, node_id: int) -> Result[None]:
        """Delete a node's address record (undo an add-peer); FAIL (404) if there is none."""
        r = await self.request("DELETE", f"/peers/{int(node_id)}")
        return _map(r, lambda b: None)

    async def transfer_leadership(self, to: int | None = None) -> Result[int]:
        """Hand leadership to ``to`` (None: the leader picks the most caught-up voter). Value:
        the new leader's id, once known. FAIL (409) if the transfer did not happen."""
        r = await self.request("POST", "/transfer-leadership", {"to": to})
        return _map(r, lambda b: int(b["leader_id"]))

    async def change_membership(self, voters: Iterable[int]) -> Result[None]:
        r = await self.request("POST", "/change-membership", {"voters": sorted(set(voters))})
        return _map(r, lambda b: None)

    async def trigger_snapshot(self, *, endpoint: str | None = None) -> Result[int]:
        """Value: the snapshot index. Goes to ``endpoint`` (default: the current endpoint)."""
        r = await self.request("POST", "/trigger-snapshot", {}, to_leader=False, endpoint=endpoint)
        return _map(r, lambda b: int(b["index"]))

    async def snapshot_file(
        self, *, endpoint: str | None = None, timeout: float = 60.0
    ) -> Result[bytes]:
        """``GET /snapshot`` from ``endpoint`` (default: the current endpoint): the raw snapshot
        file, with the client's token and TLS like every admin call. No failover: a backup
        names the node it came from. A read, so any failure is FAIL."""
        base = normalize_endpoint(endpoint, self._scheme) if endpoint else self._node_url()
        url = base + "/snapshot"
        headers = {**self._headers, "Accept": "application/octet-stream"}
        try:
            async with self._get_session().get(
                url, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout)
            ) as resp:
                raw, status = await resp.read(), resp.status
        except TRANSPORT_ERRORS as e:
            return Result(Outcome.FAIL, error=f"{url}: {e!r}", endpoint=base)
        if status == 200:
            return Result(Outcome.OK, raw, None, status, None, base)
        # Any refusal of a read is FAIL (a 5xx too: nothing was changed).
        return replace(_result(status, _body(raw), base, 1), outcome=Outcome.FAIL, index=None)

    async def leader(self, *, endpoint: str | None = None) -> Result[LeaderInfo]:
        r = await self._get("/leader", endpoint)
        return _map(r, lambda b: LeaderInfo(int(b["leader_id"]), b.get("http"), b.get("raft")))

    async def membership(self, *, endpoint: str | None = None) -> Result[dict[str, Any]]:
        """As the leader knows it (or ``endpoint``)."""
        r = await self.request(
            "GET", "/membership", to_leader=True, idempotent=True, endpoint=endpoint
        )
        return _map(r, dict)

    async def raft_metrics(self, *, endpoint: str | None = None) -> Result[dict[str, Any]]:
        return _map(await self._get("/raft-metrics", endpoint), dict)

    async def node_info(self, *, endpoint: str | None = None) -> Result[dict[str, Any]]:
        return _map(await self._get("/node-info", endpoint), dict)

    async def health(self, *, endpoint: str | None = None) -> Result[dict[str, Any]]:
        """OK with the report when healthy or degraded; FAIL (with ``body``) when unhealthy."""
        return _map(await self._get("/health", endpoint), dict)

    async def cluster_ticket(self, *, endpoint: str | None = None) -> Result[str]:
        return _map(await self._get("/cluster-ticket", endpoint), lambda b: str(b["ticket"]))

    async def _get(self, path: str, endpoint: str | None) -> Result[Any]:
        return await self.request("GET", path, to_leader=False, idempotent=True, endpoint=endpoint)


# --- helpers ---------------------------------------------------------------------------------


def _address(a: PeerAddress | tuple[str, str]) -> dict[str, str]:
    if isinstance(a, PeerAddress):
        return {"raft": a.raft, "http": a.http}
    raft, http = a
    return {"raft": raft, "http": http}


def _leader_hint(reply: Any, scheme: str = "http") -> str | None:
    if not isinstance(reply, dict):
        return None
    location = reply.get("location")
    if isinstance(location, str) and location:
        try:
            return normalize_endpoint(str(URL(location).origin()), scheme)
        except ValueError:
            return None
    leader = reply.get("leader")
    if isinstance(leader, dict) and isinstance(leader.get("http"), str):
        try:
            return normalize_endpoint(leader["http"], scheme)
        except ValueError:
            return None
    return None


def _body(raw: bytes) -> Any:
    """A reply's JSON body; a body that is not JSON (a proxy's error page) as its first bytes."""
    try:
        return _decode(raw) if raw else None
    except msgspec.DecodeError:
        return {"error": raw[:500].decode("utf-8", "replace")}


def _result(status: int, reply: Any, base: str, attempt: int) -> Result[Any]:
    outcome = outcome_of_status(status)
    index = reply.get("index") if isinstance(reply, dict) else None
    index = index if isinstance(index, int) and not isinstance(index, bool) else None
    if outcome is Outcome.OK:
        return Result(outcome, reply, None, status, index, base, attempt, reply)
    error = reply.get("error") if isinstance(reply, dict) else None
    return Result(
        outcome, None, str(error or f"HTTP {status}"), status, index, base, attempt, reply
    )


def _map(r: Result[Any], fn: Any) -> Result[Any]:
    """Replace an OK result's value (the JSON body) with ``fn(body)``. A body that does not
    have the expected shape makes the outcome UNKNOWN: the request did reach the node."""
    if r.outcome is not Outcome.OK:
        return r
    try:
        value = fn(r.body)
    except (KeyError, TypeError, ValueError) as e:
        return Result(
            Outcome.UNKNOWN,
            None,
            f"unexpected response body: {e!r}",
            r.status,
            r.index,
            r.endpoint,
            r.attempts,
            r.body,
        )
    return Result(Outcome.OK, value, None, r.status, r.index, r.endpoint, r.attempts, r.body)
