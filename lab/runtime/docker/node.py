"""What the runtime remembers about one node's container, and the environment it runs with."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import psutil

from lab.runtime.base import NodeCommand
from lab.runtime.images import FAKETIME_LIB


@dataclass(slots=True)
class Readings:
    """What `lab.runtime.docker.sampling` carries from one sample of a container to the next;
    a new container starts with fresh ones."""

    cpu: tuple[int, int] | None = None
    """(container CPU ns, system CPU ns) at the previous sample, for the CPU percentage."""
    ps: psutil.Process | None = None
    """The current container's PID 1 seen from this host, when it can be."""
    ps_container: str | None = None
    """The container ``ps`` was looked up for."""
    stats: dict[str, Any] | None = None
    stats_at: float | None = None
    probed: tuple[int, int, int] = (0, 0, 0)
    """(open fds, RSS, data bytes) from the last ``exec`` probe, repeated until the next one."""
    probed_at: float | None = None


@dataclass(slots=True)
class DockerNode:
    id: int
    ip: str
    container_name: str
    volume: str
    lock: threading.RLock = field(default_factory=threading.RLock)
    command: NodeCommand | None = None
    container: str | None = None
    """The id of the node's current container (running or not), None before the first start."""
    started: bool = False
    logs_collected: bool = False
    """Whether the current container's output is already in the node's log."""
    last_exit: int | None = None
    """Exit code of the last container removed (the current one's is in Docker)."""
    readings: Readings = field(default_factory=Readings)
    mountpoint: str | None = None
    """The volume's directory on the engine's host ("" once found unknown)."""


def container_env(env: Mapping[str, str]) -> dict[str, str]:
    """The node's environment inside the container.

    A host path of libfaketime in ``LD_PRELOAD`` (``lab.chaos.nemesis.faketime_env`` computes
    one from the lab's own install) means nothing in the image: it becomes the image's copy.
    """
    out = dict(env)
    preload = out.get("LD_PRELOAD", "")
    if "libfaketime" in preload:
        out["LD_PRELOAD"] = " ".join(
            FAKETIME_LIB if "libfaketime" in part else part for part in preload.split()
        )
    return out
