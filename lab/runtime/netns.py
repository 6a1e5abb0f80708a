"""Local nodes, each in its own network namespace, so partitions cut real packets.

Why: a system whose peers learn each other's addresses from one shared list (etcd's
``--initial-cluster``: one advertised peer URL per member) cannot put a proxy on each directed
link, so Toxiproxy cannot cut "node 1 -> node 2" alone. Here every node gets its own namespace
and address (``10.213.<subnet>.<10+i>``) on a bridge that lives in a switch namespace of its
own (so the host's firewall never sees the forwarded traffic); the lab, in the root namespace,
reaches every node over a veth to that bridge, and is never cut.

`NamespaceNetwork` turns the lab's toxics (`lab.net.Links`) into nftables rules in the
destination node's namespace, per directed link (src, dst), matching packets from src's
address only:

- ``timeout`` with timeout 0 (black hole): ``drop``;
- ``reset_peer`` with timeout 0: TCP from src is answered with a reset (``reject with tcp
  reset``), everything else dropped;
- ``reset_peer`` with a toxicity (the flaky network): that share of src's packets is dropped
  (``numgen random``): packet loss rather than Toxiproxy's per-connection resets;
- ``bandwidth``: src's packets over ``rate`` KB/s are dropped (``limit rate over``).

What it refuses, by raising `UnsupportedLinkFault` (and what `lab.chaos.support` therefore
leaves out before a run starts): ``latency`` (nftables cannot delay a packet, and this kernel
has no ``netem`` qdisc), and a cut that is not symmetric: TCP needs packets both ways, so
dropping only src -> dst breaks every connection between them in both directions, which is not
the one-way partition it claims to be.

Needs root (``ip netns``); every namespace is deleted by ``close``.
"""

from __future__ import annotations

import contextlib
import random
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.chaos.partition import Link
from lab.runtime.base import Endpoint, NodeCommand
from lab.runtime.local import LocalRuntime

TABLE = "lab"
SUPPORTED_TOXICS = ("timeout", "reset_peer", "bandwidth")


class UnsupportedLinkFault(RuntimeError):
    """A fault the namespaces cannot express honestly (see the module docstring)."""


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


@dataclass(frozen=True, slots=True)
class LinkRule:
    """One toxic on one directed link, as the nft rule that enforces it at ``dst``."""

    src: int
    dst: int
    name: str
    rule: str


def rule_for(src_ip: str, type: str, attributes: Mapping[str, int], toxicity: float) -> str:
    """The nft rule (input chain of the destination) for one toxic from ``src_ip``."""
    match = f"ip saddr {src_ip}"
    if type == "timeout" and attributes.get("timeout", 0) == 0:
        return f"{match} drop"
    if type == "reset_peer" and toxicity >= 1.0:
        return f"{match} meta l4proto tcp reject with tcp reset"
    if type == "reset_peer":
        return f"{match} numgen random mod 100 < {round(toxicity * 100)} drop"
    if type == "bandwidth":
        return f"{match} limit rate over {int(attributes['rate'])} kbytes/second drop"
    raise UnsupportedLinkFault(
        f"the {type!r} toxic cannot be enforced with nftables in namespaces "
        "(latency needs netem, which this kernel lacks)"
    )


def check_symmetric(links: Iterable[Link], type: str) -> None:
    """Cuts must come in pairs: dropping one direction of TCP breaks both."""
    cut = set(links)
    if type in ("timeout", "reset_peer") and any((d, s) not in cut for s, d in cut):
        raise UnsupportedLinkFault(
            "a one-way cut cannot be enforced on TCP peers with packet filters: dropping "
            "src -> dst also kills the replies, so every connection between them breaks"
        )


@dataclass
class NamespaceNetwork:
    """The lab's `lab.net.Links` over per-node namespaces: toxics as nftables rules."""

    runtime: NetnsRuntime
    nodes: list[int]
    _rules: list[LinkRule] = field(default_factory=list)

    def links(self) -> list[Link]:
        return [(i, j) for i in self.nodes for j in self.nodes if i != j]

    def setup(self, upstream: Callable[[int], str]) -> None:
        """Nothing to create: nodes reach each other directly."""

    def peer_address(self, src: int, dst: int) -> str:
        return self.runtime.endpoint(dst, "raft").address

    def add_toxic(
        self,
        links: Iterable[Link],
        name: str,
        type: str,
        attributes: Mapping[str, int],
        *,
        toxicity: float = 1.0,
    ) -> None:
        links = list(links)
        check_symmetric(links, type)
        new = [
            LinkRule(s, d, name, rule_for(self.runtime.ip(s), type, attributes, toxicity))
            for s, d in links
        ]
        self._rules.extend(new)
        self._apply({r.dst for r in new})

    def remove_toxic(self, links: Iterable[Link], name: str) -> None:
        gone = set(links)
        touched = {r.dst for r in self._rules if r.name == name and (r.src, r.dst) in gone}
        self._rules = [r for r in self._rules if r.name != name or (r.src, r.dst) not in gone]
        self._apply(touched)

    def heal(self) -> None:
        touched = {r.dst for r in self._rules}
        self._rules.clear()
        self._apply(touched)

    def describe(self) -> dict[str, Any]:
        return {f"n{n}": self.runtime.ip(n) for n in self.nodes}

    def close(self) -> None:
        self.heal()

    def _apply(self, nodes: Iterable[int]) -> None:
        """Replace each node's ``inet lab`` table with the rules now in force (atomically)."""
        for node in nodes:
            rules = [r.rule for r in self._rules if r.dst == node]
            script = "\n".join(
                [
                    f"table inet {TABLE} {{}}",
                    f"delete table inet {TABLE}",
                    f"table inet {TABLE} {{",
                    "  chain input {",
                    "    type filter hook input priority 0; policy accept;",
                    *(f"    {r}" for r in rules),
                    "  }",
                    "}",
                    "",
                ]
            )
            argv = ["ip", "netns", "exec", self.runtime.namespace(node), "nft", "-f", "-"]
            done = subprocess.run(argv, input=script, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"nft in node {node}'s namespace failed: {done.stderr}")


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
        self.network = NamespaceNetwork(self, self.node_ids)

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
