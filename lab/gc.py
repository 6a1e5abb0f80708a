"""``aspen-lab gc``: remove what crashed runs left behind, and nothing of anyone's live run.

A run cleans up after itself, also on Ctrl-C, SIGTERM and errors; this is for the runs that
could not (the lab process itself was killed). Local node processes are found by the
``ASPEN_LAB_RUN`` variable in their environment, Docker services, containers, networks and
volumes by their ``aspen.lab.run`` label; a single-node swarm the lab created (``--swarm-init``)
is left once its creator is gone and no run has anything on it. Without ``--run-id`` only runs
whose owner (the lab process that started them, see `lab.runtime.owner`) is gone are touched;
``--run-id`` names one run, live or not. ``--dry-run`` lists and removes nothing. A container's
or service's logs are saved before it goes: into its run directory when that still exists, else
``./gc-logs/<run id>/``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.runtime.base import RUN_LABEL
from lab.runtime.local import gc_processes
from lab.runtime.owner import OWNER_LABEL, RUN_DIR_LABEL, owner_alive

ORPHAN_LOGS = Path("gc-logs")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__.split("\n\n")[0] if __doc__ else None
    parser.add_argument(
        "--run-id", help="only this run, even if its owner still runs (default: orphaned runs)"
    )
    parser.add_argument("--no-docker", action="store_true", help="leave Docker alone")
    parser.add_argument("--dry-run", action="store_true", help="list what would go; remove none")


@dataclass
class DockerGarbage:
    """What ``gc_docker`` removed (or, in a dry run, would remove), by kind."""

    services: list[str] = field(default_factory=list)
    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    swarm_left: bool = False
    """Whether a single-node swarm the lab created (`lab.runtime.swarm_mode`) was left."""


def _orphaned(labels: dict[str, str] | None, run_id: str | None) -> bool:
    labels = labels or {}
    if run_id is not None:
        return labels.get(RUN_LABEL) == run_id
    return not owner_alive(labels.get(OWNER_LABEL))


def _save_logs(container: Any, labels: dict[str, str]) -> Path | None:
    try:
        data = container.logs(stdout=True, stderr=True)
    except Exception:  # a container that never started has none
        return None
    return _write_logs(data, container.name, labels)


def _write_logs(data: bytes, name: str, labels: dict[str, str]) -> Path:
    """Into the run's directory when it still exists, else ``./gc-logs/<run id>/``."""
    run_dir = Path(labels.get(RUN_DIR_LABEL) or "")
    if labels.get(RUN_DIR_LABEL) and run_dir.is_dir():
        out = run_dir / "gc-logs" / f"{name}.log"
    else:
        out = ORPHAN_LOGS / labels.get(RUN_LABEL, "unknown") / f"{name}.log"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return out


def _gc_services(
    client: Any, filters: dict[str, Any], run_id: str | None, gone: DockerGarbage, dry_run: bool
) -> None:
    """Remove the swarm runtime's labelled services of orphaned runs (their logs saved first);
    Swarm then removes their task containers. Nothing on an engine in no swarm or a worker."""
    import docker.errors

    swarm = client.info().get("Swarm") or {}
    if swarm.get("LocalNodeState") != "active" or not swarm.get("ControlAvailable"):
        return
    for service in client.api.services(filters=filters):
        labels = service["Spec"].get("Labels") or {}
        if not _orphaned(labels, run_id):
            continue
        name = service["Spec"]["Name"]
        gone.services.append(name)
        if dry_run:
            continue
        with contextlib.suppress(docker.errors.APIError):
            data = b"".join(client.api.service_logs(service["ID"], stdout=True, stderr=True))
            gone.logs.append(str(_write_logs(data, name, labels)))
        with contextlib.suppress(docker.errors.NotFound):
            client.api.remove_service(service["ID"])


def gc_docker(run_id: str | None = None, *, dry_run: bool = False) -> DockerGarbage:
    """Remove the labelled services, containers, then networks, then volumes, of orphaned runs
    (or of ``run_id``), and then a swarm the lab created that nothing uses any more; a network or
    volume goes only with its run, never while a live run uses it."""
    import docker.client
    import docker.errors

    from lab.runtime.swarm_mode import gc_swarm, remove_when_free

    gone = DockerGarbage()
    label = RUN_LABEL if run_id is None else f"{RUN_LABEL}={run_id}"
    filters: dict[str, Any] = {"label": label}
    client = docker.client.from_env()
    try:
        _gc_services(client, filters, run_id, gone, dry_run)
        containers = client.containers.list(all=True, filters=filters)
        live_runs = {c.labels.get(RUN_LABEL) for c in containers if not _orphaned(c.labels, run_id)}
        for c in containers:
            if not _orphaned(c.labels, run_id):
                continue
            gone.containers.append(c.name)
            if dry_run:
                continue
            if (saved := _save_logs(c, c.labels)) is not None:
                gone.logs.append(str(saved))
            with contextlib.suppress(docker.errors.NotFound):
                c.remove(force=True, v=True)
        for kind, objects in (
            ("networks", client.networks.list(filters=filters)),
            ("volumes", client.volumes.list(filters=filters)),
        ):
            for obj in objects:
                labels = obj.attrs.get("Labels") or {}
                if labels.get(RUN_LABEL) in live_runs or not _orphaned(labels, run_id):
                    continue
                getattr(gone, kind).append(obj.name)
                if not dry_run:  # a removed service's containers may still be detaching
                    options = {"force": True} if kind == "volumes" else {}
                    remove_when_free(functools.partial(obj.remove, **options), timeout=15.0)
        if not live_runs:
            gone.swarm_left = gc_swarm(client, dry_run=dry_run)
    finally:
        client.close()
    return gone


def run(args: argparse.Namespace) -> int:
    verb = "would be " if args.dry_run else ""
    pids = gc_processes(args.run_id, dry_run=args.dry_run)
    print(f"local processes {verb}killed: {len(pids)}" + (f" ({pids})" if pids else ""))
    if args.no_docker:
        return 0
    try:
        gone = gc_docker(args.run_id, dry_run=args.dry_run)
    except Exception as e:  # no engine here is not an error for gc
        print(f"docker: skipped ({type(e).__name__}: {str(e).splitlines()[0][:120]})")
        return 0
    for kind in ("services", "containers", "networks", "volumes"):
        names = getattr(gone, kind)
        listed = f" ({', '.join(names)})" if names else ""
        print(f"docker {kind} {verb}removed: {len(names)}{listed}")
    if gone.swarm_left:
        print(f"swarm the lab had created {verb}left")
    for path in gone.logs:
        print(f"saved logs: {path}")
    return 0
