"""Shared paths and helpers for the checker's tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]
PORCUPINE_KV = REPO.parent / "shared/data/histories/porcupine-kv"
ETCD = REPO / "tests/data/jepsen-etcd"


def etcd_expected() -> dict[str, bool]:
    """Porcupine's expected verdicts for the etcd corpus (true = linearizable)."""
    path = ETCD / "verdicts.json"
    return json.loads(path.read_text()) if path.exists() else {}


@pytest.fixture
def porcupine_kv() -> Path:
    if not PORCUPINE_KV.is_dir():
        pytest.skip(f"Porcupine's kv histories are not at {PORCUPINE_KV} (shared/ not present)")
    return PORCUPINE_KV
