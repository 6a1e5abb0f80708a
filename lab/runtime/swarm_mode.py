"""Which swarm a run uses, and when the lab may leave one: never one it did not create.

The lab joins no swarm by itself: it uses the swarm the Docker client points at (``DOCKER_HOST``)
and needs that engine to be a manager. With ``--swarm-init`` and an engine in no swarm, it
creates a single-node swarm (advertised and listening on 127.0.0.1 only) and marks the node with
the label ``aspen.lab.swarm-init=<owner>``; a swarm without that mark is the user's and is never
left. A marked swarm is left by the ``--swarm-init`` run that finds, at its end, nothing of any
other run on it (so two runs sharing it do not pull it from under each other), or by
``aspen-lab gc`` once its creator is gone and no run's object remains. The ``docker_gwbridge``
network that ``swarm init`` creates goes with it.

Joining and leaving are serialised machine-wide by a lock file, held from the check to the
creation of the run's first object (its network), so a run cannot see an empty swarm that
another is about to use.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import docker.errors

from lab.runtime.base import RUN_LABEL
from lab.runtime.machine_lock import machine_lock
from lab.runtime.owner import owner_alive

log = logging.getLogger("lab.runtime.swarm")

INIT_LABEL = "aspen.lab.swarm-init"
"""Node label on the manager of a swarm the lab created: the owner of the run that created it."""
LOCK_NAME = "aspen-lab-swarm.lock"
GWBRIDGE = "docker_gwbridge"

Counts = Callable[[Mapping[str, str]], bool]
"""Whether an object with these labels keeps the swarm in use."""


class SwarmUnavailableError(RuntimeError):
    """The engine is in no swarm (and ``--swarm-init`` was not given) or is not a manager."""


@dataclass(frozen=True, slots=True)
class SwarmLease:
    """The swarm one run uses: the manager node the client talks to, and whether this run
    created the swarm (and so may leave it)."""

    node_id: str
    created: bool
    init_asked: bool


def swarm_lock() -> contextlib.AbstractContextManager[None]:
    """The machine-wide lock around joining, first use and leaving."""
    return machine_lock(LOCK_NAME)


def use_swarm(client: Any, *, init: bool, owner: str) -> SwarmLease:
    """The swarm the client's engine is in, or (``init``) a new single-node one. Call under
    ``swarm_lock``; raises SwarmUnavailableError."""
    swarm = client.info().get("Swarm") or {}
    state = swarm.get("LocalNodeState")
    if state == "active":
        if not swarm.get("ControlAvailable"):
            raise SwarmUnavailableError(
                "the Docker engine is a swarm worker; point DOCKER_HOST at a manager"
            )
        return SwarmLease(str(swarm["NodeID"]), created=False, init_asked=init)
    if not init:
        raise SwarmUnavailableError(
            f"the Docker engine is in no swarm (state {state!r}): join one (`docker swarm init` "
            "or `docker swarm join`), or give --swarm-init for a single-node swarm for the run"
        )
    gwbridge_existed = _has_network(client, GWBRIDGE)
    client.api.init_swarm(advertise_addr="127.0.0.1", listen_addr="127.0.0.1:2377")
    node_id = str(client.info()["Swarm"]["NodeID"])
    node = client.api.inspect_node(node_id)
    spec = node["Spec"]
    mark = owner + ("" if gwbridge_existed else ";gwbridge")
    spec["Labels"] = {**(spec.get("Labels") or {}), INIT_LABEL: mark}
    client.api.update_node(node_id, node["Version"]["Index"], spec)
    log.info("created a single-node swarm (node %s) for the run", node_id[:12])
    return SwarmLease(node_id, created=True, init_asked=True)


def release_swarm(client: Any, lease: SwarmLease, run_id: str) -> bool:
    """Leave the swarm if the lab created it, this run asked for ``--swarm-init`` and no other
    run has anything on it; True if it was left."""
    if not lease.init_asked:
        return False
    with swarm_lock():
        return _leave_if_unused(client, lambda labels: labels.get(RUN_LABEL) != run_id)


def gc_swarm(client: Any, *, dry_run: bool = False) -> bool:
    """``aspen-lab gc``: leave a swarm the lab created whose creator is gone and on which no
    run has anything left; True if it was (or, dry, would be) left."""
    with swarm_lock():
        mark = _init_mark(client)
        if mark is None or owner_alive(mark.split(";")[0]):
            return False
        if dry_run:
            return not _lab_objects(client, lambda _labels: True)
        return _leave_if_unused(client, lambda _labels: True)


def _leave_if_unused(client: Any, counts: Counts) -> bool:
    mark = _init_mark(client)
    if mark is None:
        return False  # the user's swarm (or none): never ours to leave
    if _lab_objects(client, counts):
        return False
    client.api.leave_swarm(force=True)
    if mark.endswith(";gwbridge"):
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            client.api.remove_network(GWBRIDGE)
    log.info("left the single-node swarm the lab had created")
    return True


def _init_mark(client: Any) -> str | None:
    """The INIT_LABEL of the manager node the client talks to, if it is in a swarm."""
    swarm = client.info().get("Swarm") or {}
    if swarm.get("LocalNodeState") != "active" or not swarm.get("ControlAvailable"):
        return None
    labels = client.api.inspect_node(swarm["NodeID"])["Spec"].get("Labels") or {}
    mark = labels.get(INIT_LABEL)
    return str(mark) if mark else None


def _lab_objects(client: Any, counts: Counts) -> bool:
    """Whether any service or network of a lab run (that ``counts``) is on the swarm."""
    services = client.api.services(filters={"label": RUN_LABEL})
    networks = client.api.networks(filters={"label": RUN_LABEL, "scope": "swarm"})
    return any(counts(s["Spec"].get("Labels") or {}) for s in services) or any(
        counts(n.get("Labels") or {}) for n in networks
    )


def _has_network(client: Any, name: str) -> bool:
    return any(n["Name"] == name for n in client.api.networks(names=[name]))


def remove_when_free(remove: Callable[[], object], timeout: float = 30.0) -> bool:
    """Retry a network's or volume's removal while Swarm still detaches the containers of the
    services just removed (it does so asynchronously); True once removed (or already gone)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            remove()
            return True
        except docker.errors.NotFound:
            return True
        except docker.errors.APIError as e:
            if time.monotonic() > deadline:
                log.warning("removal failed: %s", e)
                return False
            time.sleep(0.2)
