"""Who used the CPU while a workload ran: the machine, the load generator, each node.

On a small machine the generator and the nodes share the cores, and other work may too. A
throughput number means little without knowing whether the nodes were CPU-bound, idle (waiting
on disk or on each other), or starved by something else; ``Monitor`` samples once a second and
summarises the means.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import psutil

from lab.runtime.base import Runtime


class Monitor:
    def __init__(self, runtime: Runtime | None, nodes: Sequence[int], interval: float = 1.0):
        self.runtime = runtime
        self.nodes = list(nodes)
        self.interval = interval
        self._me = psutil.Process()
        self.machine: list[float] = []
        self.generator: list[float] = []
        self.node_cpu: dict[int, list[float]] = {n: [] for n in self.nodes}
        self.node_rss: dict[int, int] = {n: 0 for n in self.nodes}

    def _sample(self) -> None:
        self.machine.append(psutil.cpu_percent(None))
        self.generator.append(self._me.cpu_percent(None))
        if self.runtime is None:
            return
        for n in self.nodes:
            s = self.runtime.sample(n)
            if s is not None:
                self.node_cpu[n].append(s.cpu_percent)
                self.node_rss[n] = max(self.node_rss[n], s.rss_bytes)

    async def _run(self) -> None:
        psutil.cpu_percent(None)
        self._me.cpu_percent(None)
        if self.runtime is not None:
            for n in self.nodes:
                self.runtime.sample(n)  # primes each node's cpu_percent
        while True:
            await asyncio.sleep(self.interval)
            self._sample()

    @contextlib.asynccontextmanager
    async def watching(self) -> AsyncIterator[Monitor]:
        task = asyncio.ensure_future(self._run())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def summary(self) -> dict[str, Any]:
        """Mean CPU percent (100 = one core) of the machine's cores together, the generator,
        and each node; the nodes' peak RSS in MiB. Empty when nothing was sampled."""
        if not self.machine:
            return {}

        def mean(xs: list[float]) -> float | None:
            return round(sum(xs) / len(xs), 1) if xs else None

        cores = psutil.cpu_count() or 1
        nodes = {f"n{n}": mean(v) for n, v in self.node_cpu.items()}
        known = [v for v in nodes.values() if v is not None]
        return {
            "samples": len(self.machine),
            "machine_cpu_percent": round((mean(self.machine) or 0.0) * cores, 1),
            "cores": cores,
            "generator_cpu_percent": mean(self.generator),
            "nodes_cpu_percent": nodes,
            "nodes_cpu_percent_total": round(sum(known), 1) if known else None,
            "nodes_rss_mib": {f"n{n}": round(r / 2**20, 1) for n, r in self.node_rss.items()},
        }
