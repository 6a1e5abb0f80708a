"""The lab's toxics on directed peer links as nftables rules at each link's destination.

Why: a system whose peers learn each other's addresses from one shared list (etcd's
``--initial-cluster``: one advertised peer URL per member) cannot put a proxy on each directed
link, so Toxiproxy cannot cut "node 1 -> node 2" alone. Where every node has a network stack of
its own (a namespace locally, `lab.runtime.netns`; a container in Docker,
`lab.runtime.docker`), the rules for link (src, dst) go into dst's input chain (table
``inet lab``) and match packets from src's address only; the lab's own traffic (from the
gateway) is never cut.

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
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from lab.chaos.partition import Link
from lab.runtime.base import Endpoint

TABLE = "lab"
SUPPORTED_TOXICS = ("timeout", "reset_peer", "bandwidth")


class UnsupportedLinkFault(RuntimeError):
    """A fault nftables cannot express honestly (see the module docstring)."""


class NftNodes(Protocol):
    """A runtime whose nodes each have a network stack of their own to load rules into."""

    def ip(self, node_id: int) -> str: ...

    def endpoint(self, node_id: int, service: str) -> Endpoint: ...

    def nft(self, node_id: int, script: str) -> None:
        """Load ``script`` (``nft -f``) into the node's network stack."""
        ...


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
        f"the {type!r} toxic cannot be enforced with nftables "
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


def table_script(rules: Iterable[str]) -> str:
    """An nft script that replaces ``inet lab`` with an input chain of ``rules`` (atomically:
    the script creates the table if missing, deletes it and defines it anew)."""
    return "\n".join(
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


@dataclass
class NftLinks:
    """The lab's `lab.net.Links` as nftables rules in each node's own network stack."""

    runtime: NftNodes
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

    def script(self, node: int) -> str | None:
        """The nft script of the rules now in force at ``node``; None when there are none (a
        runtime that gives a node a new network stack on restart loads it before the node's
        process starts)."""
        rules = [r.rule for r in self._rules if r.dst == node]
        return table_script(rules) if rules else None

    def describe(self) -> dict[str, Any]:
        return {f"n{n}": self.runtime.ip(n) for n in self.nodes}

    def close(self) -> None:
        self.heal()

    def _apply(self, nodes: Iterable[int]) -> None:
        """Replace each node's ``inet lab`` table with the rules now in force."""
        for node in nodes:
            self.runtime.nft(node, table_script(r.rule for r in self._rules if r.dst == node))
