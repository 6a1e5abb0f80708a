"""The interface the lab uses to run nodes, whatever runs them.

A runtime knows how to start, stop, kill, pause and resume one node's process and where the node
can be reached; it knows nothing about which database the node is (that is a ``DB``'s job) so
the same runtime runs Aspen today and etcd later. Methods are synchronous and quick: the runner
calls them from a thread when it must not block its event loop.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from lab.net import ToxiproxyPlacement


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a node listens (``bind``) and where others reach it (``host``) for one service."""

    host: str
    port: int
    bind: str = "127.0.0.1"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def bind_address(self) -> str:
        return f"{self.bind}:{self.port}"


@dataclass(frozen=True, slots=True)
class NodeCommand:
    """What to run for a node, in terms the node itself sees (its own paths and ports)."""

    argv: Sequence[str]
    env: Mapping[str, str]


class NodeState(enum.Enum):
    NEW = "new"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class ResourceSample:
    """One reading of a node's resource use (psutil locally, ``docker stats`` in containers)."""

    cpu_percent: float
    rss_bytes: int
    open_fds: int
    threads: int
    data_bytes: int


class Runtime(Protocol):
    """Runs the nodes of one lab run. ``close()`` must leave nothing running."""

    name: str

    def endpoint(self, node_id: int, service: str) -> Endpoint:
        """The endpoint of ``service`` (e.g. "raft", "http") on a node; stable for the run."""
        ...

    def data_dir(self, node_id: int) -> str:
        """The node's data directory as the node sees it."""
        ...

    def log_path(self, node_id: int) -> Path:
        """Where the node's stdout/stderr are collected on the lab's side."""
        ...

    def start(self, node_id: int, command: NodeCommand) -> None: ...

    def stop(self, node_id: int, grace: float = 5.0) -> None:
        """Graceful stop (SIGTERM), then SIGKILL after ``grace`` seconds."""
        ...

    def kill(self, node_id: int) -> None:
        """SIGKILL: the node gets no chance to flush anything."""
        ...

    def pause(self, node_id: int) -> None: ...

    def resume(self, node_id: int) -> None: ...

    def restart(self, node_id: int) -> None:
        """Start the node again with the command it was last started with."""
        ...

    def wipe(self, node_id: int) -> None:
        """Delete a stopped node's data directory."""
        ...

    def state(self, node_id: int) -> NodeState: ...

    def exit_code(self, node_id: int) -> int | None: ...

    def sample(self, node_id: int) -> ResourceSample | None:
        """Current resource use, or None when the node is not running."""
        ...

    def provide_toxiproxy(self, stack: contextlib.ExitStack) -> ToxiproxyPlacement:
        """Start (or find) the run's Toxiproxy; whatever it started is undone by ``stack``."""
        ...

    def close(self) -> None: ...


RUN_LABEL = "aspen.lab.run"
"""Docker label on everything a run creates (containers, networks, volumes): its run id."""
