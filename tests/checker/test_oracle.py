"""Differential tests: `check` and the real Porcupine (the oracle) agree wherever Porcupine
decides.

Hypothesis draws batches of small histories, linearizable by construction (`simulate`) or
broken on purpose by one mutation (stale read, lost write, never-written value, wrong cas),
with unknown and failed outcomes, half of them with revisions; each batch is written as JSONL
and checked by both, one oracle process per batch. ``ORACLE_HISTORIES`` sets how many
histories in all (the default suite runs a few dozen; ``nox -s checker-oracle`` runs 10,000).
Without a Go toolchain or an oracle binary the tests skip and say why.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lab.checker import Verdict, check, model_for
from lab.checker.oracle import OracleUnavailable, find_oracle, observing_copy, run_oracle
from lab.history.formats import read_history
from lab.history.jsonl import op_to_dict
from lab.history.op import Op
from lab.history.simulate import simulate
from tests.checker.strategies import MUTATIONS, candidates, mutate, plans

TOTAL = int(os.environ.get("ORACLE_HISTORIES", "48"))
BATCH = 24
EXAMPLES = max(1, -(-TOTAL // BATCH))  # rounded up: at least TOTAL histories


@pytest.fixture(scope="module")
def oracle() -> Path:
    try:
        return find_oracle()
    except OracleUnavailable as exc:
        pytest.skip(f"no Porcupine oracle: {exc}")


_shapes = st.sampled_from(
    [
        dict(fs=("read", "write", "cas"), keys=(None,)),
        dict(fs=("read", "write"), keys=(None,), max_slots=6),
        dict(fs=("read", "write", "cas"), keys=("a", "b", "c")),
        dict(fs=("read", "write", "delete"), keys=("a", "b")),
        dict(fs=("read", "append", "delete"), keys=("a", "b"), string_values=True),
    ]
)


@st.composite
def histories(draw: st.DrawFn) -> tuple[str, list[Op]]:
    """(what it is, events): valid by construction, or after one surely-breaking mutation."""
    plan = draw(plans(**draw(_shapes), max_ops=draw(st.integers(4, 30))))
    events = simulate(plan, revisions=draw(st.booleans()))  # Porcupine gets none
    kind = draw(st.sampled_from(("valid", *MUTATIONS)))
    if kind == "valid":
        return kind, events
    targets = candidates(kind, events)
    if not targets:
        return "valid", events
    return kind, mutate(kind, events, draw(st.sampled_from(targets)))


def _write(path: Path, events: list[Op]) -> None:
    path.write_text("".join(json.dumps(op_to_dict(op)) + "\n" for op in events))


@pytest.mark.timeout(300 + TOTAL // 5)  # 10,000 histories take a few minutes on 2 cores
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(batch=st.lists(histories(), min_size=BATCH, max_size=BATCH))
def test_verdicts_agree_with_porcupine(
    oracle: Path, tmp_path_factory: pytest.TempPathFactory, batch: list[tuple[str, Any]]
) -> None:
    where = tmp_path_factory.mktemp("oracle")
    files = []
    for n, (_, events) in enumerate(batch):
        files.append(where / f"h{n:03d}.jsonl")
        _write(files[-1], events)
    answers = run_oracle(oracle, files, timeout_s=10)
    decided = 0
    for (kind, _), path, answer in zip(batch, files, answers, strict=True):
        history = read_history(path)
        ours = check(model_for(None, history), history, timeout=30, workers=1, explain=False)
        if kind != "valid":
            assert ours.verdict is not Verdict.VALID, f"{path} ({kind}) passed"
        theirs = {"Ok": Verdict.VALID, "Illegal": Verdict.INVALID}.get(answer.verdict)
        assert answer.verdict != "Error", f"the oracle could not read {path}"
        if theirs is None or ours.verdict is Verdict.UNKNOWN:
            continue
        decided += 1
        assert ours.verdict is theirs, (
            f"{path} ({kind}): ours {ours.verdict}, Porcupine {answer.verdict}\n" + path.read_text()
        )
    assert decided >= len(batch) // 2  # small histories: both decide nearly all


def test_oracle_agrees_on_the_reference_runs(oracle: Path) -> None:
    runs = sorted((Path(__file__).parents[1] / "data/runs").glob("*/history.jsonl"))
    answers = run_oracle(oracle, runs)
    for path, answer in zip(runs, answers, strict=True):
        want = "Illegal" if path.parent.name.endswith("-invalid") else "Ok"
        assert answer.verdict == want, path
        history = read_history(path)
        ours = check(model_for(None, history), history, workers=1, explain=False)
        assert ours.verdict is (Verdict.INVALID if want == "Illegal" else Verdict.VALID)


def test_compare_failures_reach_the_oracle_as_porcupine_reads_them(tmp_path: Path) -> None:
    events = [
        Op(0, 0, "invoke", "cas", [1, 2], time=0),
        Op(1, 1, "invoke", "write", 3, time=1),
        Op(2, 0, "ok", "cas", False, time=2),
        Op(3, 1, "fail", "write", 3, time=3),
        Op(4, 2, "invoke", "read", None, time=4),
        Op(5, 2, "ok", "read", None, time=5),
    ]
    plain = tmp_path / "plain.jsonl"
    _write(plain, [e for e in events if e.f != "cas"])
    assert observing_copy(plain, tmp_path / "out.jsonl") is None
    mixed = tmp_path / "mixed.jsonl"
    _write(mixed, events)
    out = observing_copy(mixed, tmp_path / "out.jsonl")
    assert out is not None
    got = [(e.process, e.type, e.f) for e in read_history(out).events]
    # The compare failure is a fail cas (read with --cas-fail observe); the real fail is gone.
    assert got == [
        (0, "invoke", "cas"),
        (0, "fail", "cas"),
        (2, "invoke", "read"),
        (2, "ok", "read"),
    ]
