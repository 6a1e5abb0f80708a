"""A fake store for the engine's tests: one server, a fixed service time, optional stalls."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from lab.load.targets import CONFLICT


class FakeTarget:
    """Serves one operation at a time (a lock), each taking ``service`` seconds; from
    ``stall_at`` seconds after the first operation it stalls for ``stall_for`` seconds.
    Every ``fail_every``-th operation fails with ``boom``; every CAS conflicts if asked."""

    name = "fake"

    def __init__(
        self,
        service: float = 0.0,
        *,
        stall_at: float | None = None,
        stall_for: float = 0.0,
        fail_every: int = 0,
        conflicts: bool = False,
    ) -> None:
        self.service = service
        self.stall_at = stall_at
        self.stall_for = stall_for
        self.fail_every = fail_every
        self.conflicts = conflicts
        self.calls: dict[str, int] = {"put": 0, "get": 0, "cas": 0}
        self._lock = asyncio.Lock()
        self._t0: float | None = None
        self._n = 0

    async def start(self) -> None:
        pass

    async def _serve(self) -> str | None:
        async with self._lock:
            now = time.monotonic()
            if self._t0 is None:
                self._t0 = now
            if self.stall_at is not None:
                begin = self._t0 + self.stall_at
                if begin <= now < begin + self.stall_for:
                    await asyncio.sleep(begin + self.stall_for - now)
            if self.service:
                await asyncio.sleep(self.service)
            self._n += 1
            if self.fail_every and self._n % self.fail_every == 0:
                return "boom"
            return None

    async def put(self, key: int, value: int) -> str | None:
        self.calls["put"] += 1
        return await self._serve()

    async def get(self, key: int) -> tuple[str | None, Any]:
        self.calls["get"] += 1
        err = await self._serve()
        return err, (None if err else b"v")

    async def cas(self, key: int, expected: Any, value: int) -> str | None:
        self.calls["cas"] += 1
        err = await self._serve()
        return err or (CONFLICT if self.conflicts else None)

    async def close(self) -> None:
        pass
