"""The node image on every host a run places nodes on: pushed to a registry, or copied.

Images are built locally (`lab.runtime.images`) and there is no registry by default, so a swarm
of one host uses the built image as it is. For more hosts, two ways:

- ``registry`` (``--swarm-registry HOST:PORT[/PATH]``, a registry every host can pull from): the
  image is tagged ``<registry>/aspen-node:<hash>``, pushed, and the services name that reference,
  so each engine pulls it when a task lands there;
- otherwise ``docker save | docker load`` over the engine API: the image is streamed from the
  client's engine into each host's engine (`lab.runtime.swarm_hosts`) that lacks it; the
  content-hashed tag means an unchanged image is never copied twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import docker.errors

from lab.runtime.swarm_hosts import SwarmHost

log = logging.getLogger("lab.runtime.swarm")

CHUNK = 1 << 20


def distribute_image(
    client: Any, image: str, hosts: Iterable[SwarmHost], registry: str | None = None
) -> str:
    """Make ``image`` (local to the client's engine) runnable on every host; returns the
    reference the services must use."""
    if registry:
        return push_image(client, image, registry)
    for host in {h.node_id: h for h in hosts}.values():
        engine = host.engine(client)
        if engine is client:
            continue
        copy_image(client, engine, image)
    return image


def push_image(client: Any, image: str, registry: str) -> str:
    """Tag ``image`` into ``registry`` and push it; returns the pushed reference."""
    repo, _, tag = image.rpartition(":")
    target = f"{registry.rstrip('/')}/{repo.rpartition('/')[2]}"
    client.api.tag(image, target, tag)
    for event in client.api.push(target, tag=tag, stream=True, decode=True):
        if "error" in event:
            raise RuntimeError(f"pushing {target}:{tag} failed: {event['error']}")
    log.info("pushed %s:%s", target, tag)
    return f"{target}:{tag}"


def copy_image(source: Any, target: Any, image: str) -> bool:
    """``docker save | docker load`` from engine ``source`` into ``target`` unless ``target``
    already has ``image``; True if it was copied."""
    try:
        target.api.inspect_image(image)
        return False
    except docker.errors.ImageNotFound:
        pass
    stream = source.api.get_image(image, chunk_size=CHUNK)
    for event in target.api.load_image(stream, quiet=True):  # requests streams it, chunked
        if "error" in event:
            raise RuntimeError(f"loading {image} failed: {event['error']}")
    log.info("copied %s to %s", image, target.api.base_url)
    return True
