"""``aspen-lab load``'s argument checks, and Ctrl-C: first stops the run, second aborts it."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from lab.cli import main
from lab.load.cli import interruptible, parse_ramp


@pytest.mark.parametrize(
    "args",
    [
        ["--workloads", "A,Q"],
        ["--mode", "ramp", "--ramp", "100:50"],
        ["--records", "0"],
        ["--baseline", "/nonexistent/baseline.json"],
    ],
)
def test_bad_arguments_exit_2_before_starting_anything(args: list[str], tmp_path: Path) -> None:
    assert main(["load", "--store", str(tmp_path), *args]) == 2
    assert not (tmp_path / "load").exists()


def test_a_baseline_of_the_wrong_shape_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": 1, "workloads": {}}')
    assert main(["load", "--store", str(tmp_path), "--baseline", str(bad)]) == 2


def test_ramp_parsing() -> None:
    ramp = parse_ramp("100:100:400", 2.0, 25.0)
    assert ramp.rates() == [100, 200, 300, 400] and ramp.p99_ms == 25.0


async def test_first_ctrl_c_sets_stop_and_the_second_cancels() -> None:
    stop = asyncio.Event()

    async def body() -> str:
        main_task = asyncio.current_task()
        assert main_task is not None
        with interruptible(stop, main_task):
            if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
                pytest.skip("no loop signal handler here (not the main thread)")
            os.kill(os.getpid(), signal.SIGINT)
            await asyncio.wait_for(stop.wait(), 5.0)
            os.kill(os.getpid(), signal.SIGINT)
            try:
                await asyncio.sleep(5.0)
            except asyncio.CancelledError:
                return "cancelled"
        return "not cancelled"

    assert await body() == "cancelled"
    assert stop.is_set()


async def test_sigterm_stops_a_load_run_as_ctrl_c_does() -> None:
    stop = asyncio.Event()
    main_task = asyncio.current_task()
    assert main_task is not None
    with interruptible(stop, main_task):
        if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
            pytest.skip("no loop signal handler here (not the main thread)")
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(stop.wait(), 5.0)
    assert stop.is_set()
