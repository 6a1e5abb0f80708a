"""Partition shapes as pure functions: node ids in, blocked directed links out.

Each returns ``(links, description)``. ``nodes`` must be given in a deterministic order (the
cluster passes them sorted); any choice comes from the ``rng`` argument, so a shape is a pure
function of its inputs. Jepsen calls the same idea a *grudge*.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from aspen.sim.network import Link

Shape = tuple[frozenset[Link], str]
ShapeFn = Callable[[Sequence[int], random.Random], Shape]


def cut_between(a: Sequence[int], b: Sequence[int]) -> frozenset[Link]:
    """Both directions between every node of ``a`` and every node of ``b``."""
    return frozenset((x, y) for x in a for y in b) | frozenset((y, x) for x in a for y in b)


def components(groups: Sequence[Sequence[int]]) -> frozenset[Link]:
    """Nodes talk only inside their own group."""
    links: frozenset[Link] = frozenset()
    for i, g in enumerate(groups):
        for h in groups[i + 1 :]:
            links |= cut_between(g, h)
    return links


def isolate(node: int, nodes: Sequence[int]) -> Shape:
    others = [n for n in nodes if n != node]
    return cut_between([node], others), f"isolate {node}"


def bisect(nodes: Sequence[int], rng: random.Random) -> Shape:
    """A random split into a majority and a minority."""
    shuffled = list(nodes)
    rng.shuffle(shuffled)
    k = len(shuffled) // 2
    small, big = sorted(shuffled[:k]), sorted(shuffled[k:])
    return components([small, big]), f"bisect {small} | {big}"


def bridge(nodes: Sequence[int], rng: random.Random) -> Shape:
    """Two halves that cannot talk, and one node that talks to both (needs 3+ nodes)."""
    shuffled = list(nodes)
    rng.shuffle(shuffled)
    mid = shuffled[0]
    rest = shuffled[1:]
    k = len(rest) // 2
    a, b = sorted(rest[:k]), sorted(rest[k:])
    return cut_between(a, b), f"bridge {a} <-{mid}-> {b}"


def ring(nodes: Sequence[int], rng: random.Random) -> Shape:
    """Jepsen's majorities ring, as the lab's ``majorities_ring``: nodes shuffled onto a ring,
    each hears only the majority-size window of ring nodes around itself (one more on the right
    when the majority is even, so the cut is then one-way on some links). Every node sees a
    majority, but no two see the same one."""
    order = list(nodes)
    rng.shuffle(order)
    n = len(order)
    majority = n // 2 + 1
    heard = {
        (order[(i + d) % n], order[i])
        for i in range(n)
        for d in range(-((majority - 1) // 2), majority // 2 + 1)
    }
    links = frozenset((x, y) for x in order for y in order if x != y and (x, y) not in heard)
    return links, f"ring {order}"


def one_way(frm: Sequence[int], to: Sequence[int]) -> Shape:
    """``frm`` nodes can no longer reach ``to`` nodes; the other direction still works."""
    links = frozenset((x, y) for x in frm for y in to if x != y)
    return links, f"one-way {list(frm)} -/-> {list(to)}"


def random_links(nodes: Sequence[int], rng: random.Random, p: float = 0.3) -> Shape:
    """Each directed link blocked with probability ``p``."""
    links = frozenset((x, y) for x in nodes for y in nodes if x != y and rng.random() < p)
    return links, f"random links {sorted(links)}"


def describe(links: frozenset[Link]) -> str:
    return " ".join(f"{a}->{b}" for a, b in sorted(links))
