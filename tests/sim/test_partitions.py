"""Partition shapes: pure functions of their inputs, blocking exactly what they say."""

from __future__ import annotations

import random

import pytest

from aspen.sim import partitions

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
