"""Many seeds across processes: the same outcomes as one process, and a summary that replays."""

from __future__ import annotations

import dataclasses

import pytest

from aspen.sim.__main__ import main
from aspen.sim.explore import Exploration, SeedOutcome, outcomes, parse_seeds


def without_cpu(o: SeedOutcome) -> SeedOutcome:
    return dataclasses.replace(o, cpu_seconds=0.0)


def test_worker_processes_give_what_one_process_gives() -> None:
    alone = [without_cpu(o) for o in outcomes(range(3), 200, 3, "all", jobs=1)]
    pooled = [without_cpu(o) for o in outcomes(range(3), 200, 3, "all", jobs=2)]
    assert pooled == alone
    assert [o.seed for o in alone] == [0, 1, 2]
    assert all(o.simulated_ns == 2_000_000_000 and o.checks > 0 for o in alone)


def test_the_summary_adds_up_and_lists_failures_with_their_replay() -> None:
    total = Exploration(wall_seconds=2.0)
    ok = SeedOutcome(1, 10**10, 3, 100, 0.5, None, "nox -s sim -- --seed 1")
    bad = SeedOutcome(2, 10**10, 4, 50, 1.5, "durability: lost", "nox -s sim -- --seed 2")
    total.add(bad)
    total.add(ok)
    text = total.summary()
    assert "2 seeds, 20 s simulated, 7 faults injected, 150 invariant checks" in text
    assert "1.00 seeds per CPU-second, 10.0 simulated s per wall s" in text
    assert "seed 2: durability: lost\n    replay: nox -s sim -- --seed 2" in text
    assert "seed 1:" not in text


def test_parse_seeds() -> None:
    assert parse_seeds("3-5") == range(3, 6)
    assert parse_seeds("7") == range(7, 8)


def test_the_cli_runs_seeds_and_prints_the_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--seeds", "0-1", "--steps", "200", "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert "2 seeds, 4 s simulated" in out and "0 failing seed(s)" in out
