"""Network partitions as pure functions over node ids, in Jepsen's vocabulary.

A *grudge* maps each node to the set of nodes it drops messages FROM. The directed links it
cuts are then ``(src, dst)`` for every ``src`` in ``grudge[dst]``; a symmetric partition cuts both
directions, a one-way partition only one. Nothing here touches the network: nemeses turn grudges
into Toxiproxy toxics or firewall rules.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

Grudge = dict[int, frozenset[int]]
Link = tuple[int, int]
"""A directed link ``(src, dst)``: messages from src to dst."""


def complete_grudge(components: Iterable[Iterable[int]]) -> Grudge:
    """Every node drops messages from every node outside its own component."""
    comps = [frozenset(c) for c in components]
    everyone = frozenset().union(*comps)
    return {n: everyone - c for c in comps for n in sorted(c)}


def bisect(nodes: Sequence[int]) -> tuple[list[int], list[int]]:
    """Split in two, the first half the smaller: [1 2] [3 4 5]."""
    half = len(nodes) // 2
    return list(nodes[:half]), list(nodes[half:])


def halves(nodes: Sequence[int]) -> Grudge:
    """A minority and a majority that cannot talk to each other."""
    return complete_grudge(bisect(nodes))


def split_one(nodes: Sequence[int], loner: int) -> Grudge:
    """Isolate ``loner`` from everyone else."""
    if loner not in nodes:
        raise ValueError(f"node {loner} is not in {list(nodes)}")
    return complete_grudge([[loner], [n for n in nodes if n != loner]])


def bridge(nodes: Sequence[int]) -> Grudge:
    """Two halves that only one node in the middle can talk to: [1 2] 3 [4 5]."""
    if len(nodes) < 3:
        raise ValueError("a bridge needs at least 3 nodes")
    mid = len(nodes) // 2
    left, middle, right = set(nodes[:mid]), nodes[mid], set(nodes[mid + 1 :])
    grudge: Grudge = {n: frozenset(right) for n in left}
    grudge.update({n: frozenset(left) for n in right})
    grudge[middle] = frozenset()
    return grudge


def majorities_ring(nodes: Sequence[int], rng: random.Random) -> Grudge:
    """Every node sees a majority, but no two nodes see the same one (Jepsen's ring).

    Nodes are shuffled onto a ring; each sees the ``m`` consecutive ring nodes around itself,
    where ``m`` is the majority size (one more on the right when ``m`` is even, so the grudge is
    then asymmetric, as Jepsen's is).
    """
    n = len(nodes)
    if n < 3:
        raise ValueError("a majorities ring needs at least 3 nodes")
    ring = list(nodes)
    rng.shuffle(ring)
    majority = n // 2 + 1
    grudge: Grudge = {}
    for i, node in enumerate(ring):
        seen = {ring[(i + d) % n] for d in range(-((majority - 1) // 2), majority // 2 + 1)}
        grudge[node] = frozenset(set(ring) - seen)
    return grudge


def one_way(sources: Iterable[int], targets: Iterable[int]) -> Grudge:
    """``targets`` drop everything from ``sources``; the other direction still flows."""
    src = frozenset(sources)
    return {t: src - {t} for t in sorted(set(targets))}


def links(grudge: Grudge) -> list[Link]:
    """The directed links a grudge cuts, sorted."""
    return sorted((src, dst) for dst, froms in grudge.items() for src in froms if src != dst)


def components_of(grudge: Grudge, nodes: Sequence[int]) -> list[list[int]]:
    """Groups of nodes that can all talk to each other both ways (for labels and reports)."""
    cut = set(links(grudge))
    groups: list[list[int]] = []
    for n in nodes:
        for g in groups:
            if all((n, m) not in cut and (m, n) not in cut for m in g):
                g.append(n)
                break
        else:
            groups.append([n])
    return groups


def describe(grudge: Grudge, nodes: Sequence[int]) -> str:
    """A short human label, e.g. ``[1 2] | [3 4 5]`` or ``1->2 cut``."""
    cut = set(links(grudge))
    if not cut:
        return "no partition"
    if all((d, s) in cut for s, d in cut):
        return " | ".join("[" + " ".join(map(str, g)) + "]" for g in components_of(grudge, nodes))
    return ", ".join(f"{s}->{d}" for s, d in sorted(cut)) + " cut"
