"""Everything one run's parts share: where it lives, what runs it, and what records it."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lab.recorder import Recorder
from lab.runtime.base import Runtime

if TYPE_CHECKING:
    from lab.db.base import DB
    from lab.net import Links


@dataclass(frozen=True, slots=True)
class NodeOptions:
    """How the nodes under test are configured (the unsafe modes are for proving the lab)."""

    fsync: str = "always"
    """``always`` (safe) or ``never`` (acknowledges writes that a crash can lose)."""
    stale_reads: bool = False
    """Clients read with ``consistency=stale``: fast, and not linearizable."""
    extra_args: tuple[str, ...] = ()


@dataclass(slots=True)
class RunContext:
    run_dir: Path
    run_id: str
    seed: int
    nodes: list[int]
    runtime: Runtime
    recorder: Recorder
    node_options: NodeOptions = NodeOptions()
    db: DB | None = None
    net: Links | None = None
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("lab"))
    notes: dict[str, Any] = field(default_factory=dict)
    """Things parts learn during a run that end up in results.json (recovery time, ...)."""

    @property
    def the_db(self) -> DB:
        if self.db is None:
            raise RuntimeError("the run has no database")
        return self.db
