"""The hosts of a swarm, as the lab sees them: where to place each node, how to reach it, and
which Docker engine runs its tasks.

Placement is decided by the lab, not left to the scheduler: a node's HTTP address (its host's
address and a published port) goes into every node's command line before any task exists, and
a restarted node must come back on the host that holds its volume. So each node is pinned with
a ``node.id==`` constraint: to the hosts the user lists (``--swarm-hosts``, by hostname, node id
or the value of the node label ``aspen.lab.host``), round-robin in node order, or else spread
round-robin over the swarm's ready, active nodes sorted by hostname.

A host's *engine* is what kill, pause, exec and resource sampling go through (Swarm's API has
no verb for a task's container): the client itself for the manager it points at, and for any
other host the engine URL in that node's label ``aspen.lab.engine`` (e.g. ``tcp://h2:2376``;
TLS settings come from the environment as for ``DOCKER_HOST``). A host without one still runs
nodes; the faults that need its engine say so when asked.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import docker.client

ENGINE_LABEL = "aspen.lab.engine"
HOST_LABEL = "aspen.lab.host"


@dataclass(slots=True)
class SwarmHost:
    """One swarm node: its id, name, the address clients reach its published ports at, and
    the URL of its engine (None: the client's own engine; "": unknown)."""

    node_id: str
    hostname: str
    addr: str
    engine_url: str | None
    names: frozenset[str]
    _engine: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def engine(self, client: Any) -> Any:
        """A client for this host's engine; RuntimeError when the lab cannot reach it."""
        if self.engine_url is None:
            return client
        if not self.engine_url:
            raise RuntimeError(
                f"swarm host {self.hostname} has no engine the lab can reach: label it "
                f"(docker node update --label-add {ENGINE_LABEL}=tcp://HOST:2376 "
                f"{self.hostname})"
            )
        with self._lock:
            if self._engine is None:
                self._engine = docker.client.DockerClient(
                    base_url=self.engine_url,
                    tls=client.api.base_url.startswith("https"),
                    timeout=120,
                )
            return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None


def discover(client: Any) -> list[SwarmHost]:
    """The swarm's ready, active nodes, sorted by hostname."""
    own = str(client.info()["Swarm"]["NodeID"])
    hosts = []
    for node in client.api.nodes():
        spec, status = node["Spec"], node["Status"]
        if status.get("State") != "ready" or spec.get("Availability") != "active":
            continue
        labels = spec.get("Labels") or {}
        hostname = str(node["Description"]["Hostname"])
        engine_url = None if node["ID"] == own else str(labels.get(ENGINE_LABEL) or "")
        names = {node["ID"], hostname} | ({labels[HOST_LABEL]} if HOST_LABEL in labels else set())
        hosts.append(
            SwarmHost(
                node_id=str(node["ID"]),
                hostname=hostname,
                addr=_reachable(node, client, engine_url),
                engine_url=engine_url,
                names=frozenset(names),
            )
        )
    return sorted(hosts, key=lambda h: (h.hostname, h.node_id))


def place(
    hosts: Sequence[SwarmHost], node_ids: Sequence[int], wanted: Sequence[str] = ()
) -> dict[int, SwarmHost]:
    """Node id -> the host it runs on: the ``wanted`` hosts in turn, else all ``hosts``."""
    if not hosts:
        raise RuntimeError("the swarm has no ready, active node")
    chosen = list(hosts)
    if wanted:
        chosen = []
        for name in wanted:
            match = [h for h in hosts if name in h.names]
            if not match:
                known = ", ".join(h.hostname for h in hosts)
                raise ValueError(f"no ready swarm node is called {name!r} (nodes: {known})")
            chosen.append(match[0])
    return {n: chosen[i % len(chosen)] for i, n in enumerate(sorted(node_ids))}


def _reachable(node: Any, client: Any, engine_url: str | None) -> str:
    """Where the lab reaches the node's published ports: its swarm address, unless that is
    a loopback or unspecified address of an engine the lab reaches over the network."""
    addr = str(node["Status"].get("Addr") or "")
    if addr in ("", "0.0.0.0") and node.get("ManagerStatus"):
        addr = str(node["ManagerStatus"]["Addr"]).rpartition(":")[0]
    if addr in ("", "0.0.0.0") or addr.startswith("127."):
        url = engine_url if engine_url else os.environ.get("DOCKER_HOST") or client.api.base_url
        host = urlparse(url).hostname
        if host and urlparse(url).scheme in ("tcp", "http", "https", "ssh"):
            return host
    return addr or "127.0.0.1"
