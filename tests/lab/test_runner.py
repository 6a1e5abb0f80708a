"""The workload's operation call (`lab.runner._invoke`): timeouts and cancellation."""

from __future__ import annotations

import asyncio

import pytest

from lab.runner import _invoke
from lab.workloads.base import Completion, Invocation

READ = Invocation("read", "k0", None)


class Held:
    """A client whose operation completes when the test says so."""

    def __init__(self) -> None:
        self.release: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def invoke(self, inv: Invocation) -> Completion:
        await self.release
        return Completion("ok", 1)

    async def close(self) -> None:
        pass


async def test_a_worker_cancelled_as_its_operation_completes_is_cancelled() -> None:
    """A stopped run cancels its workers; one whose operation completes in the same loop
    iteration must still end (Python 3.11's ``wait_for`` returned the result instead, and the
    worker ran on to the end of the run's duration)."""
    client = Held()
    task = asyncio.create_task(_invoke(client, READ, 5.0))
    await asyncio.sleep(0)  # the operation is under way
    client.release.set_result(None)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_an_operation_that_outlives_its_timeout_is_unknown() -> None:
    comp = await _invoke(Held(), READ, 0.01)
    assert comp.type == "info" and comp.error == "timeout"


async def test_an_operation_in_time_gives_its_completion() -> None:
    client = Held()
    client.release.set_result(None)
    assert await _invoke(client, READ, 5.0) == Completion("ok", 1)
