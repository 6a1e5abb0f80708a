"""The production driver and service, deterministic: replayable, linearizable, bugs caught.

Also the virtual loop under them (``aspen.sim.vloop``): virtual time, ordered timers, no threads.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import threading
import time
from collections.abc import Sequence

import pytest

from aspen.kv.commands import CommandResult, Put, decode, encode
from aspen.node.memstore import MemoryNodeStorage
from aspen.raft import ConfState, Entry, EntryKind, HardState, Snapshot
from aspen.sim import vloop
from aspen.sim.world import WorldConfig, WorldResult, run_world
from lab.checker import KVModel, Verdict, check
from lab.history.jsonl import parse_jsonl

SECONDS = 30.0  # faults in the first 18 s, then 12 s healed
SEEDS = range(5)


def verdict(r: WorldResult) -> Verdict:
    return check(KVModel(), parse_jsonl(r.history_jsonl), timeout=60).verdict


def summary(r: WorldResult) -> str:
    fields = {f.name: getattr(r, f.name) for f in dataclasses.fields(r)}
    fields.pop("history_jsonl")
    return f"replay: run_world({r.seed}, {r.seconds}) -> {fields}"


# --- the virtual loop -----------------------------------------------------------------------


def test_an_hour_of_sleep_takes_no_wall_time() -> None:
    async def main() -> float:
        await asyncio.sleep(3600)
        return asyncio.get_running_loop().time()

    started = time.perf_counter()
    assert vloop.run(main()) == 3600.0
    assert time.perf_counter() - started < 1.0


def test_timers_fire_in_time_order_then_in_scheduling_order() -> None:
    async def main() -> list[int]:
        loop = asyncio.get_running_loop()
        fired: list[int] = []
        for i, delay in enumerate((0.3, 0.1, 0.2, 0.1, 0.0)):
            loop.call_later(delay, fired.append, i)
        await asyncio.sleep(1)
        return fired

    assert vloop.run(main()) == [4, 1, 3, 2, 0]


def test_timeouts_expire_on_virtual_time_and_executors_run_inline() -> None:
    async def main() -> tuple[float, int]:
        loop = asyncio.get_running_loop()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.sleep(10), 2.5)
        answer = await loop.run_in_executor(vloop.InlineExecutor(), threading.get_ident)
        return loop.time(), answer

    assert vloop.run(main()) == (2.5, threading.get_ident())


def test_a_run_that_can_never_progress_raises_instead_of_hanging() -> None:
    async def main() -> None:
        await asyncio.get_running_loop().create_future()

    with pytest.raises(vloop.DeadlockError):
        vloop.run(main())


def test_threads_and_the_default_executor_are_refused() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        with pytest.raises(RuntimeError, match="default executor"):
            await loop.run_in_executor(None, lambda: None)
        errors: list[BaseException] = []

        def other_thread() -> None:
            try:
                loop.call_soon_threadsafe(lambda: None)
            except RuntimeError as e:
                errors.append(e)

        t = threading.Thread(target=other_thread)
        t.start()
        t.join()
        assert len(errors) == 1

    vloop.run(main())


# --- the world ------------------------------------------------------------------------------


def test_a_seed_replays_byte_for_byte() -> None:
    a = run_world(7, 10.0)
    b = run_world(7, 10.0)
    assert a == b
    assert run_world(8, 10.0).trace_digest != a.trace_digest


@functools.cache
def faulty_run(seed: int) -> WorldResult:
    """Shared by the tests below: each seed runs once per session."""
    return run_world(seed, SECONDS)


@pytest.mark.parametrize("seed", SEEDS)
def test_faults_leave_the_history_linearizable_and_the_cluster_live(seed: int) -> None:
    r = faulty_run(seed)
    assert r.fatal is None, summary(r)
    assert r.faults > 0 and r.messages_dropped > 0, summary(r)
    assert r.ok_after_heal > 0, f"nothing succeeded after the heal\n{summary(r)}"
    assert r.fail > 0, summary(r)
    assert verdict(r) is Verdict.VALID, summary(r)


def test_the_faults_reach_every_kind_of_outcome() -> None:
    """Unknown outcomes, and proposals another leader's entry replaced: the paths that only
    faults take are taken (else the check above proves little)."""
    runs = [faulty_run(seed) for seed in SEEDS]
    assert sum(r.info for r in runs) > 0
    assert any("was replaced by another leader" in r.history_jsonl for r in runs)


def test_history_is_in_the_lab_format() -> None:
    r = run_world(1, 5.0)
    history = parse_jsonl(r.history_jsonl)
    clients = [e for e in history.events if e.process != "nemesis"]
    assert len(clients) == 2 * (r.ok + r.fail + r.info)  # an invoke and a completion each
    assert {e.f for e in clients} <= {"read", "write", "cas"}
    assert len(history.operations()) == r.ok + r.info  # what definitely failed never happened


# --- planted bugs ---------------------------------------------------------------------------


class LossyStateMachine(MemoryNodeStorage):
    """Applies every third Put to another key: writes acknowledged ok, then never readable."""

    def __init__(self) -> None:
        super().__init__()
        self._puts = 0

    def write_ready(
        self,
        hard_state: HardState | None,
        entries: Sequence[Entry],
        snapshot: Snapshot | None,
        committed: Sequence[Entry],
        conf_state: ConfState | None,
    ) -> list[CommandResult | None]:
        return list(
            super().write_ready(
                hard_state, entries, snapshot, [self._lose(e) for e in committed], conf_state
            )
        )

    def _lose(self, e: Entry) -> Entry:
        if e.kind is not EntryKind.NORMAL or not e.data:
            return e
        cmd = decode(e.data)
        if not isinstance(cmd, Put):
            return e
        self._puts += 1
        if self._puts % 3:
            return e
        return dataclasses.replace(e, data=encode(Put(cmd.key + "-lost", cmd.value)))


class AcksWhatItDrops(MemoryNodeStorage):
    """Says it stored entries it did not (a disk that lies about fsync), on one node."""

    def write_ready(
        self,
        hard_state: HardState | None,
        entries: Sequence[Entry],
        snapshot: Snapshot | None,
        committed: Sequence[Entry],
        conf_state: ConfState | None,
    ) -> list[CommandResult | None]:
        kept = entries[:1] if len(entries) > 1 else entries
        return list(super().write_ready(hard_state, kept, snapshot, committed, conf_state))


def test_a_state_machine_that_loses_writes_fails_the_check() -> None:
    r = run_world(3, 10.0, WorldConfig(faults=False), storage=lambda _id: LossyStateMachine())
    assert r.fatal is None and r.ok > 0
    assert verdict(r) is Verdict.INVALID, summary(r)


def test_a_node_that_acknowledges_entries_it_dropped_is_caught() -> None:
    r = run_world(
        3,
        SECONDS,
        storage=lambda node_id: AcksWhatItDrops() if node_id == 1 else MemoryNodeStorage(),
    )
    # The node stops on its own broken invariant before the lie can reach a client.
    assert r.fatal is not None and "InvariantViolation" in r.fatal, summary(r)
