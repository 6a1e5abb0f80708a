"""Key choosers from YCSB: uniform, zipfian, and scrambled zipfian.

Ported from YCSB's ``ZipfianGenerator`` and ``ScrambledZipfianGenerator`` (Gray et al.,
"Quickly Generating Billion-Record Synthetic Databases", SIGMOD 1994). The zipfian generator
makes item 0 the most popular, item 1 the next, and so on; the scrambled one hashes each draw
(FNV-1a 64) over a huge item space and folds it into ``[0, items)``, so the popular items are
scattered over the key space, which is what YCSB's ``requestdistribution=zipfian`` means.

Every chooser maps uniform draws ``u`` in [0, 1) to item numbers. ``value(u)`` is the scalar
form, faithful to YCSB line by line; ``sample(n, seed)`` draws ``n`` at once with numpy (the same
formula, vectorised), so a load run pre-generates its keys and spends no time choosing them
while it measures. Same seed, same keys.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np
import numpy.typing as npt

ZIPFIAN_CONSTANT = 0.99
"""YCSB's default skew (theta)."""

SCRAMBLED_ITEM_COUNT = 10_000_000_000
"""The item space the scrambled generator draws from before hashing (YCSB's ``ITEM_COUNT``)."""

SCRAMBLED_ZETAN = 26.46902820178302
"""zeta(SCRAMBLED_ITEM_COUNT, 0.99), precomputed by YCSB (too slow to compute here)."""

FNV_OFFSET_BASIS_64 = 0xCBF29CE484222325
FNV_PRIME_64 = 1099511628211
_MASK64 = (1 << 64) - 1

Items = npt.NDArray[np.int64]


class KeyChooser(Protocol):
    items: int

    def value(self, u: float) -> int:
        """The item for one uniform draw ``u`` in [0, 1)."""
        ...

    def values(self, u: npt.NDArray[np.float64]) -> Items:
        """``value`` applied to every draw (vectorised)."""
        ...


def zeta(n: int, theta: float) -> float:
    """sum(1 / i**theta for i in 1..n), in chunks so a large ``n`` needs little memory."""
    total = 0.0
    chunk = 1 << 22
    for lo in range(1, n + 1, chunk):
        i = np.arange(lo, min(n, lo + chunk - 1) + 1, dtype=np.float64)
        total += float(np.sum(i**-theta))
    return total


def fnvhash64(value: int) -> int:
    """YCSB's ``Utils.fnvhash64``: FNV over the 8 bytes of a Java long, then ``Math.abs``."""
    h = FNV_OFFSET_BASIS_64
    for _ in range(8):
        h ^= value & 0xFF
        value >>= 8
        h = (h * FNV_PRIME_64) & _MASK64
    signed = h - (1 << 64) if h >= 1 << 63 else h
    return abs(signed) if signed != -(1 << 63) else 0


def fnvhash64_array(values: Items) -> Items:
    """``fnvhash64`` on every element (uint64 arithmetic wraps like Java's long)."""
    v = values.astype(np.uint64)
    h = np.full(v.shape, FNV_OFFSET_BASIS_64, dtype=np.uint64)
    prime = np.uint64(FNV_PRIME_64)
    byte = np.uint64(0xFF)
    shift = np.uint64(8)
    for _ in range(8):
        h ^= v & byte
        v >>= shift
        h *= prime
    signed = h.view(np.int64)
    out = np.abs(signed)
    out[out < 0] = 0  # abs(INT64_MIN) stays negative, as in Java; never seen in practice
    return out


class Uniform:
    """Every item equally likely."""

    def __init__(self, items: int) -> None:
        if items < 1:
            raise ValueError("items must be >= 1")
        self.items = items

    def value(self, u: float) -> int:
        return min(int(u * self.items), self.items - 1)

    def values(self, u: npt.NDArray[np.float64]) -> Items:
        return np.minimum((u * self.items).astype(np.int64), self.items - 1)


class Zipfian:
    """YCSB's ``ZipfianGenerator`` over ``[0, items)``: item 0 is the most popular."""

    def __init__(
        self, items: int, theta: float = ZIPFIAN_CONSTANT, zetan: float | None = None
    ) -> None:
        if items < 1:
            raise ValueError("items must be >= 1")
        if not 0 < theta < 1:
            raise ValueError("theta must be in (0, 1)")
        self.items = items
        self.theta = theta
        self.zeta2theta = zeta(2, theta)
        self.alpha = 1.0 / (1.0 - theta)
        self.zetan = zeta(items, theta) if zetan is None else zetan
        # With one or two items the first two branches of ``value`` cover every draw (and
        # YCSB's formula divides by zero): eta is never used.
        self.eta = (
            (1 - math.pow(2.0 / items, 1 - theta)) / (1 - self.zeta2theta / self.zetan)
            if items > 2
            else 0.0
        )
        self._second = 1 + math.pow(0.5, theta)

    def value(self, u: float) -> int:
        uz = u * self.zetan
        if uz < 1.0:
            return 0
        if uz < self._second:
            return min(1, self.items - 1)
        ret = int(self.items * math.pow(self.eta * u - self.eta + 1, self.alpha))
        return min(ret, self.items - 1)

    def values(self, u: npt.NDArray[np.float64]) -> Items:
        uz = u * self.zetan
        ret = (self.items * np.power(self.eta * u - self.eta + 1, self.alpha)).astype(np.int64)
        ret = np.where(uz < self._second, min(1, self.items - 1), ret)
        ret = np.where(uz < 1.0, 0, ret)
        return np.minimum(ret, self.items - 1)


class ScrambledZipfian:
    """YCSB's ``ScrambledZipfianGenerator``: zipfian popularity, popular items scattered.

    With YCSB's theta (0.99) the draw is over YCSB's 10^10 items with its precomputed zeta;
    with any other theta, over ``items`` itself (zeta of 10^10 terms is not computable here).
    """

    def __init__(self, items: int, theta: float = ZIPFIAN_CONSTANT) -> None:
        if items < 1:
            raise ValueError("items must be >= 1")
        self.items = items
        if theta == ZIPFIAN_CONSTANT:
            self._gen = Zipfian(SCRAMBLED_ITEM_COUNT + 1, theta, zetan=SCRAMBLED_ZETAN)
        else:
            self._gen = Zipfian(items, theta)

    def value(self, u: float) -> int:
        return fnvhash64(self._gen.value(u)) % self.items

    def values(self, u: npt.NDArray[np.float64]) -> Items:
        return fnvhash64_array(self._gen.values(u)) % self.items


DISTRIBUTIONS = ("uniform", "zipfian", "zipfian-ordered")
"""``zipfian`` is scrambled (YCSB's meaning); ``zipfian-ordered`` keeps item 0 hottest."""


def chooser(name: str, items: int, theta: float = ZIPFIAN_CONSTANT) -> KeyChooser:
    if name == "uniform":
        return Uniform(items)
    if name == "zipfian":
        return ScrambledZipfian(items, theta)
    if name == "zipfian-ordered":
        return Zipfian(items, theta)
    raise ValueError(f"unknown distribution {name!r}; known: {', '.join(DISTRIBUTIONS)}")


def uniforms(n: int, seed: int, stream: str) -> npt.NDArray[np.float64]:
    """``n`` uniform draws in [0, 1), fixed by ``seed`` and a stream name."""
    key = [seed & _MASK64, *stream.encode()]
    return np.random.Generator(np.random.PCG64(key)).random(n)


def sample(c: KeyChooser, n: int, seed: int, stream: str = "keys") -> Items:
    """``n`` items drawn by ``c``, the same for the same seed and stream."""
    return c.values(uniforms(n, seed, stream))
