"""The Raft core must not observe the outside world (see aspen/raft/__init__.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import aspen.raft

RAFT_DIR = Path(aspen.raft.__file__).parent
FORBIDDEN_MODULES = {
    "asyncio", "socket", "threading", "time", "lmdb", "msgpack", "msgspec",
    "multiprocessing", "subprocess", "os", "selectors", "datetime", "uuid", "secrets",
}  # fmt: skip
# Module-level functions of `random` that use the hidden global generator.
GLOBAL_RANDOM_FUNCS = {
    "random", "randint", "randrange", "choice", "choices", "shuffle", "sample", "uniform",
    "seed", "getrandbits", "gauss", "triangular", "betavariate", "expovariate",
}  # fmt: skip


def violations(source: str) -> list[str]:
    """Every forbidden import or global-random use in one module's source."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
            if node.module == "random":
                names += [f"random.{a.name}" for a in node.names if a.name in GLOBAL_RANDOM_FUNCS]
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "random"
            and node.attr in GLOBAL_RANDOM_FUNCS
        ):
            names = [f"random.{node.attr}"]
        else:
            continue
        for name in names:
            if name.split(".")[0] in FORBIDDEN_MODULES or name.startswith("random."):
                found.append(f"line {node.lineno}: {name}")
    return found


@pytest.mark.parametrize("path", sorted(RAFT_DIR.rglob("*.py")), ids=lambda p: p.name)
def test_core_module_is_pure(path: Path) -> None:
    assert violations(path.read_text()) == []


@pytest.mark.parametrize(
    "source",
    [
        "import asyncio",
        "import time as t",
        "from socket import socket",
        "import os.path",
        "from random import shuffle",
        "import random\nrandom.random()",
        "import random\nx = random.choice([1])",
    ],
)
def test_scanner_catches_impurity(source: str) -> None:
    assert violations(source)


def test_scanner_allows_injected_rng() -> None:
    assert (
        violations("import random\ndef f(rng: random.Random) -> int:\n    return rng.randint(1, 2)")
        == []
    )
