"""Nemeses: faults with a start, a stop, and a heal that undoes whatever is still in effect.

``start(ctx, seed)`` opens a fault window and returns a JSON-able description of what it did
(recorded in the history as ``start-<name>``); ``stop(ctx)`` closes it. ``heal(ctx)`` is
called once at the end of every run, whatever state the schedule was cut off in, and returns
a description if it had anything to undo (None otherwise). Choices (which node) come from the
window's seed, so a rerun with the same seed makes the same choices where the cluster allows.
"""

from __future__ import annotations

import asyncio
import os
import random
from dataclasses import dataclass, field
from typing import Any, Protocol

from lab.context import RunContext
from lab.runtime.base import NodeState


class Nemesis(Protocol):
    name: str

    async def start(self, ctx: RunContext, seed: int) -> Any: ...

    async def stop(self, ctx: RunContext) -> Any: ...

    async def heal(self, ctx: RunContext) -> Any: ...


async def _target(ctx: RunContext, rng: random.Random, target: str) -> int:
    """``leader`` (falling back to a random node when none is known) or ``random``."""
    if target == "leader":
        leader = await ctx.the_db.leader(ctx)
        if leader is not None:
            return leader
    return rng.choice(ctx.nodes)


def _restart_if_down(ctx: RunContext, node: int) -> bool:
    if ctx.runtime.state(node) in (NodeState.STOPPED, NodeState.NEW):
        ctx.the_db.start_node(ctx, node)
        return True
    if ctx.runtime.state(node) is NodeState.PAUSED:
        ctx.runtime.resume(node)
        return True
    return False


@dataclass
class KillNemesis:
    """SIGKILL one node (``target`` random or the current leader); restart it on stop."""

    target: str = "random"
    name: str = "kill"
    _killed: list[int] = field(default_factory=list)

    async def start(self, ctx: RunContext, seed: int) -> Any:
        node = await _target(ctx, random.Random(seed), self.target)
        await asyncio.to_thread(ctx.runtime.kill, node)
        self._killed.append(node)
        return {"killed": node, "target": self.target}

    async def stop(self, ctx: RunContext) -> Any:
        restarted = [n for n in self._killed if _restart_if_down(ctx, n)]
        self._killed.clear()
        return {"restarted": restarted}

    async def heal(self, ctx: RunContext) -> Any:
        return await self.stop(ctx) if self._killed else None


@dataclass
class KillAllNemesis:
    """SIGKILL every node at once, then restart them all: what survives is what was durable."""

    name: str = "kill-all"
    _active: bool = False

    async def start(self, ctx: RunContext, seed: int) -> Any:
        await asyncio.gather(*(asyncio.to_thread(ctx.runtime.kill, n) for n in ctx.nodes))
        self._active = True
        return {"killed": list(ctx.nodes)}

    async def stop(self, ctx: RunContext) -> Any:
        restarted = [n for n in ctx.nodes if _restart_if_down(ctx, n)]
        self._active = False
        return {"restarted": restarted}

    async def heal(self, ctx: RunContext) -> Any:
        return await self.stop(ctx) if self._active else None


@dataclass
class PauseNemesis:
    """SIGSTOP one node (it hangs: sockets open, nothing answers); SIGCONT on stop."""

    target: str = "random"
    name: str = "pause"
    _paused: list[int] = field(default_factory=list)

    async def start(self, ctx: RunContext, seed: int) -> Any:
        node = await _target(ctx, random.Random(seed), self.target)
        ctx.runtime.pause(node)
        self._paused.append(node)
        return {"paused": node, "target": self.target}

    async def stop(self, ctx: RunContext) -> Any:
        resumed = list(self._paused)
        for n in resumed:
            ctx.runtime.resume(n)
        self._paused.clear()
        return {"resumed": resumed}

    async def heal(self, ctx: RunContext) -> Any:
        return await self.stop(ctx) if self._paused else None


@dataclass
class ClockSkewNemesis:
    """Restart one node with its wall clock shifted by libfaketime (monotonic time untouched).

    Aspen keeps time with the monotonic clock, so this must not affect safety; the nemesis is
    here to prove that (and to catch a system that trusts wall clocks).
    """

    offsets: tuple[str, ...] = ("+120s", "-120s", "+3600s", "-30s")
    name: str = "clock-skew"
    _skewed: list[int] = field(default_factory=list)

    async def start(self, ctx: RunContext, seed: int) -> Any:
        rng = random.Random(seed)
        node = rng.choice(ctx.nodes)
        offset = rng.choice(self.offsets)
        await asyncio.to_thread(ctx.runtime.kill, node)
        ctx.the_db.start_node(ctx, node, env=faketime_env(offset))
        self._skewed.append(node)
        return {"node": node, "offset": offset}

    async def stop(self, ctx: RunContext) -> Any:
        fixed = list(self._skewed)
        for n in fixed:
            await asyncio.to_thread(ctx.runtime.kill, n)
            ctx.the_db.start_node(ctx, n)
        self._skewed.clear()
        return {"restored": fixed}

    async def heal(self, ctx: RunContext) -> Any:
        return await self.stop(ctx) if self._skewed else None


def faketime_env(offset: str) -> dict[str, str]:
    """Environment that makes a process see its wall clock shifted by ``offset``."""
    import libfaketime

    _, extra = libfaketime.get_reload_information()
    library = os.path.join(extra["LD_LIBRARY_PATH"], extra["LD_PRELOAD"])
    return {
        "LD_PRELOAD": library,
        "FAKETIME": offset,
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        "DONT_FAKE_MONOTONIC": "1",
        "FAKETIME_NO_CACHE": "1",
    }


@dataclass
class MembershipNemesis:
    """Remove a voter under load, then add it back as a learner and promote it."""

    name: str = "membership"
    _removed: list[int] = field(default_factory=list)

    async def start(self, ctx: RunContext, seed: int) -> Any:
        node = random.Random(seed).choice(ctx.nodes)
        await ctx.the_db.remove_member(ctx, node)
        self._removed.append(node)
        return {"removed": node}

    async def stop(self, ctx: RunContext) -> Any:
        back = list(self._removed)
        for n in back:
            _restart_if_down(ctx, n)
            await ctx.the_db.add_learner(ctx, n)
        if back:
            await ctx.the_db.promote(ctx, back)
        self._removed.clear()
        return {"re-added": back}

    async def heal(self, ctx: RunContext) -> Any:
        return await self.stop(ctx) if self._removed else None
