"""Network nemeses: partitions of any shape, slow, flaky and narrow links, through Toxiproxy.

Partitions come in two styles, because systems fail differently under each: ``blackhole``
(a ``timeout`` toxic with timeout 0: bytes vanish, connections stay up, like a dropped route)
and ``reset`` (``reset_peer``: every connection is reset, like a firewall REJECT).
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

from lab.chaos import partition as part
from lab.chaos.ip import LossNemesis
from lab.chaos.partition import Grudge, Link
from lab.context import RunContext
from lab.net import Links

PARTITION_KINDS = (
    "halves",
    "isolate-one",
    "isolate-leader",
    "majorities-ring",
    "bridge",
    "one-way",
)


def _net(ctx: RunContext) -> Links:
    if ctx.net is None:
        raise RuntimeError("this nemesis needs the run's peer links under the lab's control")
    return ctx.net


async def grudge_for(ctx: RunContext, kind: str, rng: random.Random) -> Grudge:
    nodes = ctx.nodes
    if kind == "halves":
        shuffled = list(nodes)
        rng.shuffle(shuffled)
        return part.halves(shuffled)
    if kind == "isolate-one":
        return part.split_one(nodes, rng.choice(nodes))
    if kind == "isolate-leader":
        leader = await ctx.the_db.leader(ctx)
        return part.split_one(nodes, leader if leader is not None else rng.choice(nodes))
    if kind == "majorities-ring":
        return part.majorities_ring(nodes, rng)
    if kind == "bridge":
        shuffled = list(nodes)
        rng.shuffle(shuffled)
        return part.bridge(shuffled)
    if kind == "one-way":
        leader = await ctx.the_db.leader(ctx)
        src = leader if leader is not None else rng.choice(nodes)
        return part.one_way([src], [n for n in nodes if n != src])
    raise ValueError(f"unknown partition kind {kind!r}; known: {', '.join(PARTITION_KINDS)}")


@dataclass
class ToxicNemesis:
    """Base for nemeses that put one named toxic on a set of links and take it off again."""

    name: str
    _links: list[Link] = field(default_factory=list)

    async def _apply(
        self, ctx: RunContext, links: list[Link], type: str, attributes: dict[str, int], **kw: Any
    ) -> None:
        await asyncio.to_thread(_net(ctx).add_toxic, links, self.name, type, attributes, **kw)
        self._links = links

    async def stop(self, ctx: RunContext) -> Any:
        links, self._links = self._links, []
        await asyncio.to_thread(_net(ctx).remove_toxic, links, self.name)
        return {"healed": len(links)}

    async def heal(self, ctx: RunContext) -> Any:
        return await self.stop(ctx) if self._links else None


@dataclass
class PartitionNemesis(ToxicNemesis):
    kind: str = "halves"
    style: str = "blackhole"

    async def start(self, ctx: RunContext, seed: int) -> Any:
        grudge = await grudge_for(ctx, self.kind, random.Random(seed))
        links = part.links(grudge)
        if self.style == "blackhole":
            await self._apply(ctx, links, "timeout", {"timeout": 0})
        elif self.style == "reset":
            await self._apply(ctx, links, "reset_peer", {"timeout": 0})
        else:
            raise ValueError(f"unknown partition style {self.style!r}")
        return {
            "kind": self.kind,
            "style": self.style,
            "partition": part.describe(grudge, ctx.nodes),
            "links": [list(link) for link in links],
        }


def _scope_links(ctx: RunContext, scope: str, rng: random.Random) -> tuple[list[Link], str]:
    links = _net(ctx).links()
    if scope == "all":
        return links, "all links"
    node = rng.choice(ctx.nodes)
    return [link for link in links if node in link], f"links of node {node}"


@dataclass
class SlowNetworkNemesis(ToxicNemesis):
    latency_ms: int = 100
    jitter_ms: int = 50
    scope: str = "all"

    async def start(self, ctx: RunContext, seed: int) -> Any:
        links, where = _scope_links(ctx, self.scope, random.Random(seed))
        attrs = {"latency": self.latency_ms, "jitter": self.jitter_ms}
        await self._apply(ctx, links, "latency", attrs)
        return {"latency_ms": self.latency_ms, "jitter_ms": self.jitter_ms, "where": where}


@dataclass
class FlakyNetworkNemesis(ToxicNemesis):
    """Links that keep dropping: a share of connections is reset shortly after it opens
    (Toxiproxy decides toxicity per connection), so messages are lost in bursts. With
    ``--runtime docker`` every node also loses ``ip_loss_percent`` of its peer packets each way
    at the IP level (``ip.LossNemesis``), so TCP retransmits too; 0 turns that off."""

    reset_after_ms: int = 300
    toxicity: float = 0.5
    scope: str = "all"
    ip_loss_percent: int = 5
    _ip_loss: LossNemesis | None = None

    async def start(self, ctx: RunContext, seed: int) -> Any:
        links, where = _scope_links(ctx, self.scope, random.Random(seed))
        await self._apply(
            ctx, links, "reset_peer", {"timeout": self.reset_after_ms}, toxicity=self.toxicity
        )
        value = {"reset_after_ms": self.reset_after_ms, "toxicity": self.toxicity, "where": where}
        if self.ip_loss_percent > 0:
            self._ip_loss = LossNemesis(f"{self.name}-ip-loss", self.ip_loss_percent)
            value["ip_loss"] = await self._ip_loss.start(ctx, seed)
        return value

    async def stop(self, ctx: RunContext) -> Any:
        healed = await super().stop(ctx)
        loss, self._ip_loss = self._ip_loss, None
        if loss is not None:
            healed["ip_loss"] = await loss.stop(ctx)
        return healed

    async def heal(self, ctx: RunContext) -> Any:
        return await self.stop(ctx) if self._links or self._ip_loss is not None else None


@dataclass
class BandwidthNemesis(ToxicNemesis):
    rate_kb: int = 16
    scope: str = "all"

    async def start(self, ctx: RunContext, seed: int) -> Any:
        links, where = _scope_links(ctx, self.scope, random.Random(seed))
        await self._apply(ctx, links, "bandwidth", {"rate": self.rate_kb})
        return {"rate_kb_per_s": self.rate_kb, "where": where}
