"""Where each peer can be reached, from the three sources that may know it.

Precedence, strongest first: addresses given in this node's configuration (the lab points them at
Toxiproxy proxies, so they must win), addresses replicated through the Raft log (what the cluster
agreed on; used for tickets and leader redirects), and raft addresses learned from a peer's Hello
(how a fresh node can answer a leader it was never told about).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping

from aspen.node.service import PeerAddress

PEER_KEY_PREFIX = "\x00peer/"
"""Replicated peer records live in the KV state machine under this reserved prefix."""

RESERVED_PREFIX = "\x00"
"""User keys may not start with this: the namespace belongs to Aspen's own records."""
RESERVED_END = "\x00\U0010ffff"
"""Sorts after every reserved key and before every user key (a scan starts past it)."""


def peer_key(node_id: int) -> str:
    return f"{PEER_KEY_PREFIX}{node_id}"


def encode_peer(address: PeerAddress) -> str:
    return json.dumps({"raft": address.raft, "http": address.http}, sort_keys=True)


def decode_peer_record(key: str, value: str) -> tuple[int, PeerAddress] | None:
    """The (id, address) a replicated record holds, or None if it is not a valid record."""
    try:
        node_id = int(key[len(PEER_KEY_PREFIX) :])
        body = json.loads(value)
        return node_id, PeerAddress(raft=str(body["raft"]), http=str(body["http"]))
    except (ValueError, KeyError, TypeError):
        return None


def split_host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


class AddressBook:
    """Resolves peer ids to addresses; calls ``on_change(id, raft_address)`` when one changes."""

    def __init__(
        self,
        self_id: int,
        static: Mapping[int, PeerAddress],
        on_change: Callable[[int, str | None], None] = lambda _id, _addr: None,
    ) -> None:
        self.self_id = self_id
        self._static = dict(static)
        self._replicated: dict[int, PeerAddress] = {}
        self._learned: dict[int, str] = {}
        self._on_change = on_change

    def raft(self, node_id: int) -> str | None:
        if node_id in self._static:
            return self._static[node_id].raft
        if node_id in self._replicated:
            return self._replicated[node_id].raft
        return self._learned.get(node_id)

    def http(self, node_id: int) -> str | None:
        for source in (self._replicated, self._static):
            if node_id in source and source[node_id].http:
                return source[node_id].http
        return None

    def address(self, node_id: int) -> PeerAddress | None:
        raft, http = self.raft(node_id), self.http(node_id)
        if raft is None and http is None:
            return None
        return PeerAddress(raft=raft or "", http=http or "")

    def replicated(self) -> dict[int, PeerAddress]:
        return dict(self._replicated)

    def known_ids(self) -> set[int]:
        return (set(self._static) | set(self._replicated) | set(self._learned)) - {self.self_id}

    def set_static(self, node_id: int, address: PeerAddress) -> None:
        self._update(lambda: self._static.__setitem__(node_id, address), [node_id])

    def load_replicated(self, records: Iterable[tuple[str, str]]) -> None:
        """Replace the replicated view with the records read from the state machine."""
        fresh = dict(r for r in (decode_peer_record(k, v) for k, v in records) if r is not None)
        ids = set(fresh) | set(self._replicated)

        def swap() -> None:
            self._replicated = fresh

        self._update(swap, ids)

    def learn(self, node_id: int, raft_address: str) -> None:
        if node_id != self.self_id and raft_address:
            self._update(lambda: self._learned.__setitem__(node_id, raft_address), [node_id])

    def _update(self, change: Callable[[], None], ids: Iterable[int]) -> None:
        ids = list(ids)
        before = {i: self.raft(i) for i in ids}
        change()
        for i in ids:
            after = self.raft(i)
            if after != before[i] and i != self.self_id:
                self._on_change(i, after)
