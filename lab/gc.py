"""``aspen-lab gc``: remove what crashed runs left behind.

A run cleans up after itself, also on Ctrl-C and on errors; this is for the runs that could not
(the lab process itself was killed). Local node processes are found by the ``ASPEN_LAB_RUN``
variable in their environment, Docker containers, networks and volumes by their
``aspen.lab.run`` label. Nothing else is touched.
"""

from __future__ import annotations

import argparse
import contextlib
from typing import Any

from lab.runtime.base import RUN_LABEL
from lab.runtime.local import gc_processes


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__.split("\n\n")[0] if __doc__ else None
    parser.add_argument("--run-id", help="only this run (default: every lab run)")
    parser.add_argument("--no-docker", action="store_true", help="leave Docker alone")


def gc_docker(run_id: str | None = None) -> dict[str, list[str]]:
    """Remove labelled containers, then networks, then volumes; what was removed, by kind."""
    import docker.client
    import docker.errors

    removed: dict[str, list[str]] = {"containers": [], "networks": [], "volumes": []}
    label = RUN_LABEL if run_id is None else f"{RUN_LABEL}={run_id}"
    client = docker.client.from_env()
    try:
        filters: dict[str, Any] = {"label": label}
        for c in client.containers.list(all=True, filters=filters):
            with contextlib.suppress(docker.errors.NotFound):
                c.remove(force=True, v=True)
                removed["containers"].append(c.name)
        for n in client.networks.list(filters=filters):
            with contextlib.suppress(docker.errors.NotFound):
                n.remove()
                removed["networks"].append(n.name)
        for v in client.volumes.list(filters=filters):
            with contextlib.suppress(docker.errors.NotFound):
                v.remove(force=True)
                removed["volumes"].append(v.name)
    finally:
        client.close()
    return removed


def run(args: argparse.Namespace) -> int:
    killed = gc_processes(args.run_id)
    print(f"local processes killed: {len(killed)}" + (f" ({killed})" if killed else ""))
    if args.no_docker:
        return 0
    try:
        removed = gc_docker(args.run_id)
    except Exception as e:  # no engine here is not an error for gc
        print(f"docker: skipped ({type(e).__name__}: {str(e).splitlines()[0][:120]})")
        return 0
    for kind, names in removed.items():
        print(f"docker {kind} removed: {len(names)}" + (f" ({', '.join(names)})" if names else ""))
    return 0
