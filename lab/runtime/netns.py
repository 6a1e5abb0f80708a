"""Local nodes, each in its own network namespace, so partitions cut real packets.

Why: a system whose peers talk directly (etcd) cannot put a proxy on each directed link; with
a namespace and an address (``10.213.<subnet>.<10+i>``) per node, the lab's toxics become
nftables rules in each destination's namespace (`lab.runtime.nftlinks`, which also says what
they refuse). The namespaces hang off a bridge that lives in a switch namespace of its own (so
the host's firewall never sees the forwarded traffic); the lab, in the root namespace, reaches
every node over a veth to that bridge, and is never cut.

Needs root (``ip netns``); every namespace is deleted by ``close``.
"""

from __future__ import annotations

import contextlib
import random
import subprocess
from collections.abc import Iterable
from pathlib import Path

from lab.runtime.base import Endpoint, NodeCommand
from lab.runtime.local import LocalRuntime
from lab.runtime.nftlinks import NftLinks


def _ip(*args: str, ns: str | None = None) -> None:
    argv = ["ip", *args] if ns is None else ["ip", "netns", "exec", ns, "ip", *args]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip()}")


def _free_subnet() -> int:
    """A third octet for 10.213.x.0/24 that no interface on the host uses yet."""
    used = subprocess.run(["ip", "-4", "addr"], capture_output=True, text=True).stdout
    choices = [x for x in range(1, 255) if f"10.213.{x}." not in used]
    if not choices:
        raise RuntimeError("no free 10.213.x.0/24 subnet for the run's namespaces")
    return random.choice(choices)


class NetnsRuntime(LocalRuntime):
    """`LocalRuntime` whose nodes live in per-node namespaces (see the module docstring)."""

    name = "local"

    def __init__(
        self,
        run_dir: Path,
        node_ids: Iterable[int],
        run_id: str,
        services: Iterable[str] = ("raft", "http"),
    ) -> None:
        super().__init__(run_dir, node_ids, run_id, services)
        self._tag = run_id[-6:]
        self._subnet = _free_subnet()
        self._made: list[str] = []
        try:
            self._build()
        except Exception:
            self._teardown()
            raise
        self.network = NftLinks(self, self.node_ids)

    def namespace(self, node_id: int) -> str:
        return f"lab{self._tag}n{node_id}"

    def ip(self, node_id: int) -> str:
        return f"10.213.{self._subnet}.{10 + node_id}"

    @property
    def host_ip(self) -> str:
        return f"10.213.{self._subnet}.1"

    def _build(self) -> None:
        switch = f"lab{self._tag}sw"
        _ip("netns", "add", switch)
        self._made.append(switch)
        _ip("link", "add", "br0", "type", "bridge", ns=switch)
        _ip("link", "set", "br0", "up", ns=switch)
        host = f"l{self._tag}h"
        _ip("link", "add", host, "type", "veth", "peer", "name", f"{host}b")
        _ip("link", "set", f"{host}b", "netns", switch)
        _ip("link", "set", f"{host}b", "master", "br0", "up", ns=switch)
        _ip("addr", "add", f"{self.host_ip}/24", "dev", host)
        _ip("link", "set", host, "up")
        for node in self.node_ids:
            ns = self.namespace(node)
            _ip("netns", "add", ns)
            self._made.append(ns)
            a, b = f"l{self._tag}n{node}a", f"l{self._tag}n{node}b"
            _ip("link", "add", a, "type", "veth", "peer", "name", b)
            _ip("link", "set", a, "netns", ns)
            _ip("link", "set", b, "netns", switch)
            _ip("link", "set", b, "master", "br0", "up", ns=switch)
            _ip("link", "set", "lo", "up", ns=ns)
            _ip("addr", "add", f"{self.ip(node)}/24", "dev", a, ns=ns)
            _ip("link", "set", a, "up", ns=ns)

    def endpoint(self, node_id: int, service: str) -> Endpoint:
        port = super().endpoint(node_id, service).port
        return Endpoint(self.ip(node_id), port, bind=self.ip(node_id))

    def start(self, node_id: int, command: NodeCommand) -> None:
        inside = NodeCommand(
            ["ip", "netns", "exec", self.namespace(node_id), *command.argv], command.env
        )
        super().start(node_id, inside)
        self._nodes[node_id].command = command  # restart() wraps it again

    def nft(self, node_id: int, script: str) -> None:
        """Load an nft script into the node's namespace."""
        argv = ["ip", "netns", "exec", self.namespace(node_id), "nft", "-f", "-"]
        done = subprocess.run(argv, input=script, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"nft in node {node_id}'s namespace failed: {done.stderr}")

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._teardown()

    def _teardown(self) -> None:
        for ns in reversed(self._made):  # deleting a namespace deletes its veths (and peers)
            with contextlib.suppress(RuntimeError):
                _ip("netns", "del", ns)
        self._made.clear()
