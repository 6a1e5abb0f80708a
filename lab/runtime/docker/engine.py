"""Small calls on the Docker engine that every part of the runtime makes the same way."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import docker.errors

log = logging.getLogger("lab.runtime.docker")


def inspect(client: Any, container: str | None) -> dict[str, Any] | None:
    """``docker inspect`` of a container, None if there is none (or no longer one)."""
    if container is None:
        return None
    try:
        info: dict[str, Any] = client.api.inspect_container(container)
    except docker.errors.NotFound:
        return None
    return info


def quiet(call: Any, *args: Any, **kwargs: Any) -> Any:
    """A call whose 'not found' / 'not running' failures mean it has nothing left to do."""
    try:
        return call(*args, **kwargs)
    except docker.errors.NotFound:
        return None
    except docker.errors.APIError as e:
        if e.status_code == 409:  # not running, already paused, removal in progress
            log.debug("%s: %s", getattr(call, "__name__", call), e)
            return None
        raise


def save_logs(client: Any, container: str, path: Path) -> None:
    """Append the container's stdout and stderr to ``path``."""
    try:
        data = client.api.logs(container, stdout=True, stderr=True)
    except docker.errors.APIError as e:
        log.warning("no logs from %s: %s", container[:12], e)
        return
    with path.open("ab") as f:
        f.write(data)
