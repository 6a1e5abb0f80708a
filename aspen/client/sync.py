"""A blocking client: the :class:`AsyncClient` driven by an event loop in its own thread.

No extra dependency, and the same routing, retries and outcome rules as the async client.
Safe to call from several threads at once (calls run concurrently on the loop). Close it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

from aspen.client.async_client import AsyncClient, CasReply, LeaderInfo, ScanReply
from aspen.client.outcome import Result
from aspen.node.service import Consistency, PeerAddress

T = TypeVar("T")


class Client:
    """Blocking twin of :class:`AsyncClient`; the keyword arguments are the same."""

    def __init__(self, endpoints: Sequence[str] | str, **kwargs: Any) -> None:
        self._async = AsyncClient(endpoints, **kwargs)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="aspen-client", daemon=True
        )
        self._thread.start()
        self._closed = False

    @property
    def endpoints(self) -> list[str]:
        return self._async.endpoints

    @property
    def leader_url(self) -> str | None:
        return self._async.leader_url

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._closed:
            coro.close()
            raise RuntimeError("client is closed")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def close(self) -> None:
        if self._closed:
            return
        self._run(self._async.close())
        self._closed = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- the API (see AsyncClient for each call's meaning) ---------------------------------------

    def request(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Result[Any]:
        return self._run(self._async.request(method, path, body, **kwargs))

    def discover_leader(self) -> str | None:
        return self._run(self._async.discover_leader())

    def put(self, key: str, value: str) -> Result[None]:
        return self._run(self._async.put(key, value))

    def delete(self, key: str) -> Result[bool]:
        return self._run(self._async.delete(key))

    def cas(self, key: str, expected: str | None, new: str) -> Result[CasReply]:
        return self._run(self._async.cas(key, expected, new))

    def set_multi(self, items: Mapping[str, str]) -> Result[None]:
        return self._run(self._async.set_multi(items))

    def get(
        self,
        key: str,
        *,
        consistency: Consistency | str = Consistency.LINEARIZABLE,
        endpoint: str | None = None,
    ) -> Result[str | None]:
        return self._run(self._async.get(key, consistency=consistency, endpoint=endpoint))

    def scan(
        self,
        prefix: str = "",
        *,
        limit: int = 100,
        consistency: Consistency | str = Consistency.LINEARIZABLE,
        endpoint: str | None = None,
    ) -> Result[ScanReply]:
        return self._run(
            self._async.scan(prefix, limit=limit, consistency=consistency, endpoint=endpoint)
        )

    def init(
        self, members: Mapping[int, PeerAddress | tuple[str, str]], *, endpoint: str | None = None
    ) -> Result[None]:
        return self._run(self._async.init(members, endpoint=endpoint))

    def add_learner(self, node_id: int, raft: str, http: str) -> Result[None]:
        return self._run(self._async.add_learner(node_id, raft, http))

    def add_peer(self, node_id: int, raft: str, http: str) -> Result[None]:
        return self._run(self._async.add_peer(node_id, raft, http))

    def remove_peer(self, node_id: int) -> Result[None]:
        return self._run(self._async.remove_peer(node_id))

    def transfer_leadership(self, to: int | None = None) -> Result[int]:
        return self._run(self._async.transfer_leadership(to))

    def change_membership(self, voters: Iterable[int]) -> Result[None]:
        return self._run(self._async.change_membership(voters))

    def trigger_snapshot(self, *, endpoint: str | None = None) -> Result[int]:
        return self._run(self._async.trigger_snapshot(endpoint=endpoint))

    def leader(self, *, endpoint: str | None = None) -> Result[LeaderInfo]:
        return self._run(self._async.leader(endpoint=endpoint))

    def membership(self, *, endpoint: str | None = None) -> Result[dict[str, Any]]:
        return self._run(self._async.membership(endpoint=endpoint))

    def raft_metrics(self, *, endpoint: str | None = None) -> Result[dict[str, Any]]:
        return self._run(self._async.raft_metrics(endpoint=endpoint))

    def node_info(self, *, endpoint: str | None = None) -> Result[dict[str, Any]]:
        return self._run(self._async.node_info(endpoint=endpoint))

    def health(self, *, endpoint: str | None = None) -> Result[dict[str, Any]]:
        return self._run(self._async.health(endpoint=endpoint))

    def cluster_ticket(self, *, endpoint: str | None = None) -> Result[str]:
        return self._run(self._async.cluster_ticket(endpoint=endpoint))
