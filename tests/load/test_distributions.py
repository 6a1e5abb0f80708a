"""YCSB's key choosers: in range, skewed, deterministic, and the scalar and vector forms agree."""

from __future__ import annotations

import collections

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lab.load.distributions import (
    ScrambledZipfian,
    Uniform,
    Zipfian,
    chooser,
    fnvhash64,
    fnvhash64_array,
    sample,
    uniforms,
    zeta,
)

draws = st.floats(min_value=0.0, max_value=1.0, exclude_max=True, allow_nan=False)
items = st.integers(min_value=1, max_value=100_000)


@settings(max_examples=60, deadline=None)
@given(n=items, us=st.lists(draws, min_size=1, max_size=50))
def test_every_chooser_stays_in_range(n: int, us: list[float]) -> None:
    arr = np.array(us, dtype=np.float64)
    for c in (Uniform(n), Zipfian(n), ScrambledZipfian(n), ScrambledZipfian(n, theta=0.8)):
        scalar = [c.value(u) for u in us]
        assert all(0 <= v < n for v in scalar)
        vector = c.values(arr)
        assert ((vector >= 0) & (vector < n)).all()


@settings(max_examples=40, deadline=None)
@given(n=items, us=st.lists(draws, min_size=1, max_size=50))
def test_scalar_and_vectorised_forms_agree(n: int, us: list[float]) -> None:
    arr = np.array(us, dtype=np.float64)
    for c in (Uniform(n), Zipfian(n), ScrambledZipfian(n)):
        assert c.values(arr).tolist() == [c.value(u) for u in us]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10_000_000_000), min_size=1, max_size=30))
def test_fnv_hash_scalar_and_vector_agree(values: list[int]) -> None:
    assert fnvhash64_array(np.array(values, dtype=np.int64)).tolist() == [
        fnvhash64(v) for v in values
    ]
    assert all(fnvhash64(v) >= 0 for v in values)


def test_zeta_matches_the_sum() -> None:
    assert abs(zeta(1000, 0.99) - sum(1 / i**0.99 for i in range(1, 1001))) < 1e-9
    assert zeta(1, 0.5) == 1.0


def test_zipfian_item_zero_is_the_most_popular_and_far_above_the_median() -> None:
    counts = collections.Counter(sample(Zipfian(1000), 200_000, seed=7).tolist())
    ranked = [n for _, n in counts.most_common()]
    assert counts.most_common(1)[0][0] == 0
    median = sorted(counts.get(i, 0) for i in range(1000))[500]
    assert ranked[0] > 50 * max(median, 1)


def test_scrambled_zipfian_is_skewed_but_not_on_item_zero() -> None:
    counts = collections.Counter(sample(ScrambledZipfian(1000), 200_000, seed=7).tolist())
    hottest, top = counts.most_common(1)[0]
    median = sorted(counts.get(i, 0) for i in range(1000))[500]
    assert top > 20 * max(median, 1)
    assert hottest != 0  # the hash scatters the popular items


def test_uniform_is_flat() -> None:
    counts = np.bincount(sample(Uniform(100), 100_000, seed=3), minlength=100)
    assert counts.max() < 1.3 * counts.mean()
    assert counts.min() > 0.7 * counts.mean()


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**63), name=st.sampled_from(["uniform", "zipfian"]))
def test_same_seed_same_keys_other_seed_other_keys(seed: int, name: str) -> None:
    c = chooser(name, 10_000)
    a = sample(c, 200, seed).tolist()
    assert a == sample(c, 200, seed).tolist()
    assert a != sample(c, 200, seed + 1).tolist()


def test_streams_are_independent() -> None:
    assert uniforms(5, 1, "a").tolist() != uniforms(5, 1, "b").tolist()


def test_unknown_distribution_and_bad_sizes_are_refused() -> None:
    import pytest

    with pytest.raises(ValueError, match="unknown distribution"):
        chooser("latest", 10)
    with pytest.raises(ValueError):
        Zipfian(0)
    with pytest.raises(ValueError):
        Zipfian(10, theta=1.5)
