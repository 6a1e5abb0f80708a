"""Partition shapes: pure functions of their inputs, blocking exactly what they say."""

from __future__ import annotations

import random

import pytest

from aspen.sim import partitions
from lab.chaos import partition as lab_partition

NODES = [1, 2, 3, 4, 5]


def reach(links: frozenset[tuple[int, int]], a: int, b: int) -> bool:
    return (a, b) not in links


def test_isolate_cuts_both_directions_of_one_node() -> None:
    links, text = partitions.isolate(3, NODES)
    assert text == "isolate 3"
    for n in (1, 2, 4, 5):
        assert not reach(links, 3, n) and not reach(links, n, 3)
    assert reach(links, 1, 2) and reach(links, 4, 5)
    assert len(links) == 8


def test_bisect_gives_a_majority_and_a_minority() -> None:
    links, _ = partitions.bisect(NODES, random.Random(1))
    groups: list[set[int]] = []
    for n in NODES:
        for g in groups:
            if reach(links, n, next(iter(g))):
                g.add(n)
                break
        else:
            groups.append({n})
    assert sorted(len(g) for g in groups) == [2, 3]


def test_bridge_node_talks_to_both_halves() -> None:
    links, text = partitions.bridge(NODES, random.Random(4))
    talkers = [n for n in NODES if all(reach(links, n, m) for m in NODES if m != n)]
    assert len(talkers) == 1
    assert f"<-{talkers[0]}->" in text


def test_ring_every_node_sees_exactly_its_neighbours() -> None:
    links, _ = partitions.ring(NODES, random.Random(2))
    for n in NODES:
        assert sum(reach(links, n, m) for m in NODES if m != n) == 2


def test_one_way_blocks_only_one_direction() -> None:
    links, _ = partitions.one_way([1], [2, 3])
    assert links == {(1, 2), (1, 3)}
    assert reach(links, 2, 1)


@pytest.mark.parametrize("shape", [partitions.bisect, partitions.bridge, partitions.ring])
def test_shapes_are_pure_functions_of_the_seed(shape: partitions.ShapeFn) -> None:
    assert shape(NODES, random.Random(9)) == shape(NODES, random.Random(9))


def test_describe_is_sorted() -> None:
    assert partitions.describe(frozenset({(2, 1), (1, 3)})) == "1->3 2->1"


# One meaning of each shape in the simulator and the lab: the simulator draws its choices from
# its rng, the lab takes the nodes in the order given; for the same choices the cuts are equal.


@pytest.mark.parametrize("n", [3, 4, 5, 6, 7])
@pytest.mark.parametrize("seed", range(8))
def test_the_ring_cuts_what_the_labs_majorities_ring_cuts(n: int, seed: int) -> None:
    nodes = list(range(1, n + 1))
    links, _ = partitions.ring(nodes, random.Random(seed))
    grudge = lab_partition.majorities_ring(nodes, random.Random(seed))
    assert links == frozenset(lab_partition.links(grudge))


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6, 7])
@pytest.mark.parametrize("seed", range(8))
def test_bisect_cuts_what_the_labs_halves_cut(n: int, seed: int) -> None:
    nodes = list(range(1, n + 1))
    links, _ = partitions.bisect(nodes, random.Random(seed))
    order = list(nodes)
    random.Random(seed).shuffle(order)
    assert links == frozenset(lab_partition.links(lab_partition.halves(order)))


@pytest.mark.parametrize("n", [3, 4, 5, 6, 7])
@pytest.mark.parametrize("seed", range(8))
def test_bridge_cuts_what_the_labs_bridge_cuts(n: int, seed: int) -> None:
    nodes = list(range(1, n + 1))
    links, _ = partitions.bridge(nodes, random.Random(seed))
    order = list(nodes)
    random.Random(seed).shuffle(order)
    mid, rest = order[0], order[1:]
    k = len(rest) // 2
    # The lab's bridge takes the middle of the order given as the bridge node.
    left, right = sorted(rest[:k]), sorted(rest[k:])
    if len(left) != n // 2:
        left, right = right, left
    as_lab_orders = [*left, mid, *right]
    assert links == frozenset(lab_partition.links(lab_partition.bridge(as_lab_orders)))


def test_one_way_cuts_what_the_labs_one_way_cuts() -> None:
    links, _ = partitions.one_way([1, 2], [3, 4, 5])
    assert links == frozenset(lab_partition.links(lab_partition.one_way([1, 2], [3, 4, 5])))
