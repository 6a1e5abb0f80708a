"""The run's Toxiproxy container: our server from the node image, or any Toxiproxy image.

It sits at ``.2`` on the run's network with the alias ``toxiproxy``; the proxy for link
(s, d) listens on port ``proxy_port(s, d)``. ``toxiproxy_image`` (or
``$ASPEN_TOXIPROXY_IMAGE``) runs that image with its own command: a real
``ghcr.io/shopify/toxiproxy`` works.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import requests

from lab.net import ToxiproxyPlacement
from lab.runtime.docker.engine import quiet, save_logs
from lab.runtime.docker.layout import NODE_LABEL, START_TIMEOUT, TOXIPROXY_API_PORT, proxy_port

log = logging.getLogger("lab.runtime.docker")


class ToxiproxyContainer:
    """One Toxiproxy container: ``start`` waits for its API, ``remove`` keeps its log."""

    def __init__(self, client: Any, name: str, network: str, ip: str) -> None:
        self.client = client
        self.name = name
        self.network = network
        self.ip = ip
        self.container: str | None = None

    def start(
        self, node_image: str, toxiproxy_image: str | None, labels: Mapping[str, str]
    ) -> ToxiproxyPlacement:
        """Create and start the container; returns once its API answers."""
        if toxiproxy_image:
            image, command = toxiproxy_image, None  # its own entry point and arguments
        else:
            image = node_image
            command = ["aspen-lab", "toxiproxy", "--host", "0.0.0.0", "--port", "8474"]
        networking = self.client.api.create_networking_config(
            {
                self.network: self.client.api.create_endpoint_config(
                    ipv4_address=self.ip, aliases=["toxiproxy"]
                )
            }
        )
        created = self.client.api.create_container(
            image,
            command=command,
            hostname="toxiproxy",
            name=self.name,
            labels={**labels, NODE_LABEL: "toxiproxy"},
            host_config=self.client.api.create_host_config(cap_add=["NET_ADMIN"]),
            networking_config=networking,
        )
        self.container = str(created["Id"])
        self.client.api.start(self.container)
        url = f"http://{self.ip}:{TOXIPROXY_API_PORT}"
        self._wait_for_api(url)
        log.info("toxiproxy (%s) at %s", image, url)
        return ToxiproxyPlacement(
            url,
            lambda src, dst: f"0.0.0.0:{proxy_port(src, dst)}",
            advertise_host=self.ip,
        )

    def _wait_for_api(self, url: str) -> None:
        assert self.container is not None
        container = self.container

        def dead() -> str | None:
            info = self.client.api.inspect_container(container)
            if info["State"]["Status"] in ("created", "running"):
                return None
            tail = self.client.api.logs(container, tail=30).decode(errors="replace")
            return f"the Toxiproxy container exited:\n{tail}"

        wait_for_api(url, dead)

    def remove(self, log_path: Path) -> None:
        """Append its output to ``log_path`` and remove it (if it was created)."""
        container, self.container = self.container, None
        if container is not None:
            save_logs(self.client, container, log_path)
            quiet(self.client.api.remove_container, container, force=True)


def wait_for_api(
    url: str, dead: Callable[[], str | None], timeout: float = START_TIMEOUT, poll: float = 0.1
) -> None:
    """Return once the Toxiproxy API at ``url`` answers; ``RuntimeError`` as soon as ``dead()``
    says why the server can no longer come up (its container or task ended), ``TimeoutError``
    after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(f"{url}/version", timeout=1.0).ok:
                return
        except requests.RequestException:
            pass
        why = dead()
        if why is not None:
            raise RuntimeError(why)
        if time.monotonic() > deadline:
            raise TimeoutError(f"Toxiproxy's API at {url} did not answer in {timeout:.0f} s")
        time.sleep(poll)
