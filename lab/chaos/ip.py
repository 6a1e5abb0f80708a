"""IP-level partitions for the Docker runtime: the kernel drops the packets, not Toxiproxy.

Two nemeses, both isolating one node (``target`` the leader or a random node):

- ``DisconnectNemesis``: ``docker network disconnect`` takes the node's container off the run's
  network (the lab's clients lose it too: requests to it fail to connect); ``connect`` puts it
  back at the same address.
- ``FirewallNemesis``: nftables rules inside the node's container (table ``inet aspen``). Peer
  traffic flows node -> Toxiproxy container -> node, so the node's peers are, at the IP level,
  the Toxiproxy container (every raft link) plus the other nodes (direct HTTP between nodes);
  the gateway, where the lab's own requests come from, is never cut, so clients keep reaching
  the cut-off node and see what a minority does. ``direction``:

  - ``both``: every packet between the node and its peers, in and out;
  - ``out``: the node's messages are lost (its packets to the proxies of its outgoing links and
    to the other nodes), what others send it still arrives;
  - ``in``: the node hears nothing (packets from peers to its raft port and from the other
    nodes), its own messages still go out.

  The one-way rules match the proxy ports of the node's links rather than ``ct state new``, so
  connections already established are cut as well, not only new ones.

Both need ``--runtime docker`` and say so when given another runtime. ``runtime_problem``
tells the CLI before a run starts.

``LossNemesis`` is real packet loss, for the ``flaky-network`` scenario: nftables in every
node's container drop a share of its packets to and from its peers at random (``numgen random
mod 100 < N``), so TCP sees lost segments and retransmits, which Toxiproxy (a byte stream)
cannot show. It has its own table, so it can overlap a firewall partition. On a runtime without
containers it does nothing and says so in the history, so the scenario still runs there.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lab.chaos.nemesis import _target
from lab.context import RunContext

if TYPE_CHECKING:
    from lab.chaos.scenarios import Scenario
    from lab.runtime.docker import DockerRuntime

TABLE = "aspen"
DIRECTIONS = ("both", "in", "out")


class NeedsDockerError(RuntimeError):
    """An IP-level fault was asked of a runtime without containers."""


def docker_runtime(ctx: RunContext, fault: str) -> DockerRuntime:
    """The run's DockerRuntime, or a NeedsDockerError naming ``fault``."""
    from lab.runtime.docker import DockerRuntime

    if not isinstance(ctx.runtime, DockerRuntime):
        raise NeedsDockerError(
            f"{fault} cuts IP traffic between containers and needs --runtime docker; "
            f"the {ctx.runtime.name} runtime has no per-node network to cut"
        )
    return ctx.runtime


def runtime_problem(scenario: Scenario, runtime: str) -> str | None:
    """Why ``scenario`` cannot run on ``runtime`` (None when it can)."""
    docker_only = [n.name for n in scenario.nemeses() if isinstance(n, IpNemesis)]
    if docker_only and runtime != "docker":
        return (
            f"scenario {scenario.name!r} needs --runtime docker: its faults "
            f"({', '.join(docker_only)}) cut IP traffic between containers"
        )
    return None


@dataclass
class IpNemesis:
    """Base: isolates one node, remembers whom, undoes it on stop."""

    name: str
    target: str = "leader"
    _cut: list[int] = field(default_factory=list)

    async def start(self, ctx: RunContext, seed: int) -> Any:
        raise NotImplementedError

    async def stop(self, ctx: RunContext) -> Any:
        raise NotImplementedError

    async def heal(self, ctx: RunContext) -> Any:
        return await self.stop(ctx) if self._cut else None


@dataclass
class DisconnectNemesis(IpNemesis):
    """``docker network disconnect`` one node; ``connect`` it again (same address) on stop."""

    async def start(self, ctx: RunContext, seed: int) -> Any:
        runtime = docker_runtime(ctx, self.name)
        node = await _target(ctx, random.Random(seed), self.target)
        done = await asyncio.to_thread(runtime.disconnect, node)
        self._cut.append(node)
        return {"isolated": node, "target": self.target, "disconnected": done}

    async def stop(self, ctx: RunContext) -> Any:
        runtime = docker_runtime(ctx, self.name)
        nodes, self._cut = self._cut, []
        for node in nodes:
            await asyncio.to_thread(runtime.connect, node)
        return {"reconnected": nodes}


@dataclass
class FirewallNemesis(IpNemesis):
    """nftables in the node's container cut its peer traffic (``direction`` both/in/out)."""

    direction: str = "both"

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, not {self.direction!r}")

    async def start(self, ctx: RunContext, seed: int) -> Any:
        runtime = docker_runtime(ctx, self.name)
        node = await _target(ctx, random.Random(seed), self.target)
        rules = ruleset(ctx, runtime, node, self.direction)
        await asyncio.to_thread(apply_rules, runtime, node, rules)
        self._cut.append(node)
        return {"isolated": node, "target": self.target, "direction": self.direction}

    async def stop(self, ctx: RunContext) -> Any:
        runtime = docker_runtime(ctx, self.name)
        nodes, self._cut = self._cut, []
        for node in nodes:
            await asyncio.to_thread(remove_rules, runtime, node)
        return {"healed": nodes}


def _peers(ctx: RunContext, runtime: DockerRuntime, node: int) -> tuple[list[str], list[str]]:
    """The other nodes' IPs, and where ``node``'s outgoing raft links go (``host:port``)."""
    others = [n for n in ctx.nodes if n != node]
    node_ips = sorted({runtime.ip(n) for n in others})
    # Where the node's outgoing raft links go: the proxies (or the peers, with no proxies).
    links_out = sorted(
        {
            ctx.net.peer_address(node, n)
            if ctx.net is not None
            else runtime.endpoint(n, "raft").address
            for n in others
        }
    )
    return node_ips, links_out


def ruleset(ctx: RunContext, runtime: DockerRuntime, node: int, direction: str) -> str:
    """The nft script (one table) that cuts ``node`` off its peers in ``direction``."""
    node_ips, links_out = _peers(ctx, runtime, node)
    peers = sorted({*node_ips, *(a.rpartition(":")[0] for a in links_out)})
    raft_port = runtime.endpoint(node, "raft").port
    input_rules: list[str] = []
    output_rules: list[str] = []
    if direction == "both":
        input_rules.append(f"ip saddr {_set(peers)} drop")
        output_rules.append(f"ip daddr {_set(peers)} drop")
    elif direction == "out":
        output_rules.append(f"ip daddr {_set(node_ips)} drop")
        for address in links_out:
            host, _, port = address.rpartition(":")
            output_rules.append(f"ip daddr {host} tcp dport {port} drop")
    else:  # in
        input_rules.append(f"ip saddr {_set(node_ips)} drop")
        input_rules.append(f"ip saddr {_set(peers)} tcp dport {raft_port} drop")
    return _table(TABLE, input_rules, output_rules)


def _table(name: str, input_rules: list[str], output_rules: list[str]) -> str:
    return "\n".join(
        [
            f"table inet {name} {{",
            "  chain input {",
            "    type filter hook input priority 0; policy accept;",
            *(f"    {r}" for r in input_rules),
            "  }",
            "  chain output {",
            "    type filter hook output priority 0; policy accept;",
            *(f"    {r}" for r in output_rules),
            "  }",
            "}",
            "",
        ]
    )


def _set(addresses: list[str]) -> str:
    return "{ " + ", ".join(addresses) + " }"


def apply_rules(runtime: DockerRuntime, node: int, rules: str, table: str = TABLE) -> None:
    """Replace the node's ``inet <table>`` with ``rules`` (one atomic ``nft -f``)."""
    script = (
        f"nft delete table inet {table} 2>/dev/null; "
        'printf "%s" "$RULES" | nft -f - && echo applied'
    )
    code, out = runtime.exec_node(node, ["sh", "-c", script], env={"RULES": rules})
    if code != 0 or "applied" not in out:
        raise RuntimeError(f"nft on node {node} failed ({code}): {out.strip()}\n{rules}")


def remove_rules(runtime: DockerRuntime, node: int, table: str = TABLE) -> None:
    """Drop the node's ``inet <table>``; nothing to do if the node (or table) is gone."""
    with contextlib.suppress(RuntimeError):  # not running: its next container has no rules
        runtime.exec_node(node, ["sh", "-c", f"nft delete table inet {table} 2>/dev/null; true"])


LOSS_TABLE = "aspen_loss"


def loss_ruleset(peers: list[str], percent: int) -> str:
    """The nft script that drops ``percent``% of the packets to and from ``peers`` at random,
    each packet on its own (so a message crossing two lossy hosts meets the odds twice)."""
    if not 0 < percent <= 100:
        raise ValueError(f"loss percent must be in 1..100, not {percent}")
    lossy = f"numgen random mod 100 < {percent} drop"
    return _table(
        LOSS_TABLE, [f"ip saddr {_set(peers)} {lossy}"], [f"ip daddr {_set(peers)} {lossy}"]
    )


@dataclass
class LossNemesis:
    """IP-level packet loss on every node (``percent`` of its peer packets, each way)."""

    name: str
    percent: int = 5
    _lossy: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        loss_ruleset(["127.0.0.1"], self.percent)  # validates percent

    async def start(self, ctx: RunContext, seed: int) -> Any:
        from lab.runtime.docker import DockerRuntime

        runtime = ctx.runtime
        if not isinstance(runtime, DockerRuntime):
            return {"skipped": f"IP-level loss needs --runtime docker, not {runtime.name}"}
        for node in ctx.nodes:
            node_ips, links_out = _peers(ctx, runtime, node)
            peers = sorted({*node_ips, *(a.rpartition(":")[0] for a in links_out)})
            rules = loss_ruleset(peers, self.percent)
            await asyncio.to_thread(apply_rules, runtime, node, rules, LOSS_TABLE)
            self._lossy.append(node)
        return {"loss_percent": self.percent, "nodes": list(self._lossy)}

    async def stop(self, ctx: RunContext) -> Any:
        nodes, self._lossy = self._lossy, []
        if not nodes:
            return None
        runtime = docker_runtime(ctx, self.name)
        for node in nodes:
            await asyncio.to_thread(remove_rules, runtime, node, LOSS_TABLE)
        return {"healed": nodes}

    async def heal(self, ctx: RunContext) -> Any:
        return await self.stop(ctx) if self._lossy else None
