"""One Aspen node process: storage, Raft core, transport, driver and HTTP API, wired and run.

``run_node(config)`` returns the process exit code: 0 after a clean stop (SIGTERM/SIGINT), 1
when the node hit a fatal error (a failed disk write stops the Raft loop: the node must not
keep acknowledging anything). It never hangs on a fatal error.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import random
import signal
from typing import Any

from aspen.client import AsyncClient, Outcome
from aspen.config import NodeConfig
from aspen.http.app import build_app, serve
from aspen.http.limits import HttpLimits
from aspen.node.assembly import core_factory, make_driver, make_service
from aspen.node.peers import PEER_KEY_PREFIX, AddressBook, split_host_port
from aspen.node.service import PeerAddress
from aspen.node.storage import NodeStorage, open_storage
from aspen.raft import Entry, EntryKind, RawNode
from aspen.ticket import Ticket
from aspen.tls import client_context, peer_contexts, server_context
from aspen.transport.tcp import PeerTransport
from aspen.wire.codec import Hello

log = logging.getLogger("aspen.node")

VERSION = "0.1.0"
_PEER_MARKER = PEER_KEY_PREFIX.encode()
MAX_HELLO_LEARNED = 16
"""Addresses a node that is in no configuration yet learns from Hellos (a bound, not a need:
only the node that bootstraps or adds it ever contacts a fresh node)."""


def _touches_peers(entries: list[Entry]) -> bool:
    """Cheap test for entries that may write peer records (their keys appear verbatim)."""
    return any(e.kind is EntryKind.NORMAL and _PEER_MARKER in e.data for e in entries)


class _TransportStats:
    """Adapts PeerTransport to the driver's ``send``/``stats`` needs."""

    def __init__(self, transport: PeerTransport) -> None:
        self._t = transport

    def send(self, msg: Any) -> None:
        self._t.send(msg)

    def stats(self) -> dict[str, Any]:
        return dataclasses.asdict(self._t.stats)


class Node:
    """Everything a running node holds; ``start`` and ``close`` bracket its life."""

    def __init__(self, config: NodeConfig) -> None:
        self.ticket = Ticket.decode(config.ticket) if config.ticket else None
        if self.ticket is not None and not config.cluster_id:
            config = dataclasses.replace(config, cluster_id=self.ticket.cluster_id)
        if self.ticket is not None and self.ticket.secret and not config.cluster_secret:
            config = dataclasses.replace(config, cluster_secret=self.ticket.secret)
        self.config = config
        ssl_server = ssl_client = None
        if config.tls_cert and config.tls_key and config.tls_ca:
            ssl_server, ssl_client = peer_contexts(config.tls_cert, config.tls_key, config.tls_ca)
        self._hello_learned: set[int] = set()
        self.storage: NodeStorage = open_storage(config)
        rng = random.Random(int.from_bytes(os.urandom(8), "big"))
        build_core = core_factory(config, self.storage, rng)
        raft_host, raft_port = split_host_port(config.raft_addr)
        self.transport = PeerTransport(
            config.node_id,
            config.cluster_id,
            raft_host,
            raft_port,
            on_message=self._on_message,
            report_unreachable=self._on_unreachable,
            advertise=config.raft_advertised,
            on_hello=self._on_hello,
            secret=config.secret_bytes,
            max_inbound=config.peer_max_connections,
            hello_timeout=config.peer_handshake_ms / 1000,
            idle_timeout=config.peer_idle_ms / 1000,
            ssl_server=ssl_server,
            ssl_client=ssl_client,
        )
        self.peers = AddressBook(
            config.node_id,
            {p.id: PeerAddress(p.raft, p.http) for p in config.peers},
            on_change=self._on_peer_change,
        )
        self.driver = make_driver(
            config,
            build_core,
            self.storage,
            _TransportStats(self.transport),
            leader_address=self._leader_address,
            on_applied=self._on_applied,
        )
        self.service = make_service(config, self.driver, self.storage, self.peers, VERSION)
        self._http: Any = None
        self._join_task: asyncio.Task[None] | None = None

    @property
    def raw(self) -> RawNode:
        """The core the driver runs now (it builds a new one after a full map)."""
        return self.driver.node

    # --- callbacks ----------------------------------------------------------------------------

    def _on_message(self, msg: Any) -> None:
        self.driver.step(msg)

    def _on_hello(self, hello: Hello) -> bool:
        """Learn the address an authenticated peer advertises, if this node may dial it.

        A node in a configuration dials only its members (and ids it already has an address
        for); a node in none yet (fresh, waiting to be bootstrapped or added) learns at most
        :data:`MAX_HELLO_LEARNED` addresses. Returns False for a Hello it ignored.
        """
        node_id = hello.node_id
        if not hello.address:
            return True
        cs = self.raw.conf_state
        members = cs.voters | cs.learners | cs.voters_outgoing
        known = self.peers.raft(node_id) is not None
        if members:
            if node_id not in members and not known:
                return False
        elif not known and node_id not in self._hello_learned:
            if len(self._hello_learned) >= MAX_HELLO_LEARNED:
                return False
            self._hello_learned.add(node_id)
        self.peers.learn(node_id, hello.address)
        return True

    def _on_unreachable(self, node_id: int) -> None:
        self.driver.report_unreachable(node_id)

    def _on_peer_change(self, node_id: int, raft: str | None) -> None:
        if raft is None:
            self.transport.remove_peer(node_id)
            return
        host, port = split_host_port(raft)
        self.transport.set_peer(node_id, host, port)

    def _leader_address(self, node_id: int) -> PeerAddress | None:
        return self.peers.address(node_id)

    def _on_applied(self, entries: Any) -> None:
        if _touches_peers(list(entries)):
            self._reload_peers()

    def _reload_peers(self) -> None:
        records, _ = self.storage.scan(PEER_KEY_PREFIX, 10_000)
        self.peers.load_replicated(records)

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        if not self.config.cluster_secret:
            log.warning(
                "no cluster secret: any process that reaches %s can speak Raft as any node",
                self.config.raft_addr,
            )
        for p in self.config.peers:
            if p.id != self.config.node_id:
                self._on_peer_change(p.id, p.raft)
        self._reload_peers()
        await self.transport.start()
        self.driver.start()
        c = self.config
        limits = HttpLimits(
            header_timeout=c.http_header_timeout_ms / 1000,
            body_timeout=c.http_body_timeout_ms / 1000,
            idle_timeout=c.http_idle_timeout_ms / 1000,
            max_connections=c.http_max_connections,
        )
        app = build_app(
            self.service,
            admin_token=c.admin_token or None,
            peer_stats=lambda: self.transport.stats,
            cluster_secret=c.cluster_secret or None,
            limits=limits,
        )
        host, port = split_host_port(self.config.http_addr)
        ssl_context = None
        if self.config.tls_cert and self.config.tls_key:
            ssl_context = server_context(self.config.tls_cert, self.config.tls_key)
        self._http = await serve(app, host, port, ssl_context=ssl_context)
        if self.ticket is not None:
            for peer in self.ticket.peers:
                self.peers.learn(peer.id, peer.raft)
            self._join_task = asyncio.create_task(self._join(self.ticket), name="join")
        log.info(
            "node %d serving: raft %s, http %s, data %s, fsync %s",
            self.config.node_id,
            self.config.raft_addr,
            self.config.http_addr,
            self.config.data_dir,
            self.config.fsync,
        )

    async def _join(self, ticket: Ticket, backoff: float = 0.2) -> None:
        """Ask the cluster, through the ticket's peers, to take this node in as a learner.

        Retries (with capped backoff) until the leader accepts; an operator then promotes it.
        """
        me = self.config.node_id
        if self.raw.conf_state.learners | self.raw.conf_state.voters:
            return  # restarted after joining: the log already knows us
        scheme = "https" if self.config.tls else "http"
        async with AsyncClient(
            [f"{scheme}://{p.http}" for p in ticket.peers],
            timeout=5.0,
            token=self.config.admin_token or None,
            ssl=client_context(self.config.tls_ca) if self.config.tls else None,
        ) as c:
            while True:
                r = await c.add_learner(
                    me, self.config.raft_advertised, self.config.http_advertised
                )
                if r.outcome is Outcome.OK or r.status == 409:
                    log.info("joined cluster %s as a learner", ticket.cluster_id)
                    return
                log.warning("join through ticket failed (%s); retrying", r.error)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def close(self) -> None:
        if self._join_task is not None:
            self._join_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._join_task
        if self._http is not None:
            await self._http.close()
        await self.driver.close()
        await self.transport.close()
        self.storage.close()


async def _serve(config: NodeConfig) -> int:
    node = Node(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await node.start()
        stopped = asyncio.create_task(stop.wait())
        fatal = asyncio.create_task(node.driver.wait_closed_or_fatal())
        await asyncio.wait({stopped, fatal}, return_when=asyncio.FIRST_COMPLETED)
        for t in (stopped, fatal):
            t.cancel()
        if node.driver.fatal is not None:
            log.critical("stopping after a fatal error: %r", node.driver.fatal)
            return 1
        log.info("stopping on signal")
        return 0
    finally:
        with contextlib.suppress(Exception):
            await node.close()


def run_node(config: NodeConfig) -> int:
    import uvloop

    return uvloop.run(_serve(config))
