"""Who started a run, so ``aspen-lab gc`` can tell a crashed run from someone's live one.

Everything a run starts carries its owner: the lab process that started it, as
``host:pid:start-time`` (a pid alone is reused; with its start time it is not). Local processes
carry it in ``ASPEN_LAB_OWNER``, Docker objects in the ``aspen.lab.owner`` label, beside the run
id and the run directory (where ``gc`` saves a container's logs before removing it).
"""

from __future__ import annotations

import os
import socket
from functools import cache

import psutil

OWNER_ENV = "ASPEN_LAB_OWNER"
OWNER_LABEL = "aspen.lab.owner"
RUN_DIR_LABEL = "aspen.lab.run-dir"


@cache
def this_owner() -> str:
    """This process, as ``host:pid:start-time``."""
    started = psutil.Process(os.getpid()).create_time()
    return f"{socket.gethostname()}:{os.getpid()}:{started:.2f}"


def owner_alive(token: str | None) -> bool:
    """Whether the process named by ``token`` still runs. Unknown (no token, unreadable) and
    another host's owners count as alive: ``gc`` leaves what it cannot judge to ``--run-id``."""
    if not token:
        return True
    try:
        host, pid_text, started_text = token.rsplit(":", 2)
        pid, started = int(pid_text), float(started_text)
    except ValueError:
        return True
    if host != socket.gethostname():
        return True
    try:
        return bool(abs(psutil.Process(pid).create_time() - started) < 0.05)
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:
        return True
