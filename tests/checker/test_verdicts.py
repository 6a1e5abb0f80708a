"""Verdicts on recorded histories must match Porcupine's: its kv histories (``*-ok``
linearizable, ``*-bad`` not) and the Jepsen etcd corpus (expected verdicts from Porcupine's
``porcupine_test.go``, in ``tests/data/jepsen-etcd/verdicts.json``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.checker import KVModel, Verdict, check, model_for
from lab.history import read_history
from tests.checker.conftest import ETCD, PORCUPINE_KV, etcd_expected

KV_FILES = ["c01-ok", "c01-bad", "c10-ok", "c10-bad", "c50-ok", "c50-bad"]
ETCD_FILES = sorted(p.name for p in ETCD.glob("etcd_*.log"))


@pytest.mark.parametrize("name", KV_FILES)
def test_porcupine_kv_verdicts(name: str, porcupine_kv: Path) -> None:
    history = read_history(porcupine_kv / f"{name}.txt")
    assert history.format == "porcupine"
    model = model_for(None, history)
    assert model == KVModel(absent="")
    result = check(model, history, timeout=30, explain=False)
    expected = Verdict.VALID if name.endswith("-ok") else Verdict.INVALID
    assert result.verdict is expected, result.summary()


def test_porcupine_kv_bad_explained(porcupine_kv: Path) -> None:
    result = check(KVModel(absent=""), read_history(porcupine_kv / "c10-bad.txt"), timeout=30)
    [bad] = result.invalid
    cx = bad.counterexample
    assert cx is not None and cx.window_minimal and cx.culprit in cx.window
    # The window fails on its own, and is small next to the partition.
    assert len(cx.window) < bad.ops


@pytest.mark.parametrize("name", ETCD_FILES)
def test_jepsen_etcd_verdicts(name: str) -> None:
    expected = etcd_expected()[name]
    history = read_history(ETCD / name)
    assert history.format == "jepsen-log"
    result = check(model_for(None, history), history, timeout=30, explain=False)
    assert result.verdict is (Verdict.VALID if expected else Verdict.INVALID)


def test_the_corpus_is_the_porcupine_one() -> None:
    names = set(etcd_expected())
    assert len(names) == 102 and "etcd_095.log" not in names
    assert ETCD_FILES, "no etcd histories stored"
    assert set(ETCD_FILES) <= names
    assert (ETCD / "LICENSE.md").exists()


def test_porcupine_kv_dir_reference() -> None:
    assert PORCUPINE_KV.name == "porcupine-kv"
