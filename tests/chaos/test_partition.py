from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lab.chaos.partition import (
    bisect,
    bridge,
    complete_grudge,
    describe,
    halves,
    links,
    majorities_ring,
    one_way,
    split_one,
)

NODES = [1, 2, 3, 4, 5]


def reachable(grudge: dict[int, frozenset[int]], a: int, b: int) -> bool:
    """Both directions flow between a and b."""
    return a not in grudge.get(b, frozenset()) and b not in grudge.get(a, frozenset())


def test_bisect_puts_the_smaller_half_first() -> None:
    assert bisect(NODES) == ([1, 2], [3, 4, 5])


def test_halves_cut_every_cross_link_both_ways() -> None:
    cut = set(links(halves(NODES)))
    assert cut == {(a, b) for a in (1, 2) for b in (3, 4, 5)} | {
        (b, a) for a in (1, 2) for b in (3, 4, 5)
    }
    assert describe(halves(NODES), NODES) == "[1 2] | [3 4 5]"


def test_split_one_isolates_only_the_loner() -> None:
    g = split_one(NODES, 3)
    assert all(not reachable(g, 3, n) for n in NODES if n != 3)
    assert all(reachable(g, a, b) for a in (1, 2, 4, 5) for b in (1, 2, 4, 5))
    with pytest.raises(ValueError):
        split_one(NODES, 9)


def test_bridge_middle_sees_everyone_halves_do_not_see_each_other() -> None:
    g = bridge(NODES)
    assert all(reachable(g, 3, n) for n in NODES if n != 3)
    assert not reachable(g, 1, 4) and not reachable(g, 2, 5)
    assert reachable(g, 1, 2) and reachable(g, 4, 5)


@given(st.integers(3, 9), st.integers(0, 2**32))
def test_majorities_ring_every_node_sees_a_distinct_majority(n: int, seed: int) -> None:
    nodes = list(range(1, n + 1))
    g = majorities_ring(nodes, random.Random(seed))
    views = {node: frozenset(set(nodes) - g[node]) for node in nodes}
    assert all(len(v) > n // 2 for v in views.values())
    assert all(node in views[node] for node in nodes)
    assert all(len(v) == n // 2 + 1 for v in views.values())
    assert len(set(views.values())) == n


def test_majorities_ring_is_deterministic_for_a_seed() -> None:
    assert majorities_ring(NODES, random.Random(7)) == majorities_ring(NODES, random.Random(7))


def test_one_way_cuts_only_one_direction() -> None:
    g = one_way([1], [2, 3])
    assert links(g) == [(1, 2), (1, 3)]
    assert describe(g, NODES) == "1->2, 1->3 cut"


def test_complete_grudge_of_one_component_cuts_nothing() -> None:
    assert links(complete_grudge([NODES])) == []
    assert describe(complete_grudge([NODES]), NODES) == "no partition"
