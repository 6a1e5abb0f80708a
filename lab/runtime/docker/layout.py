"""Where a run's containers listen, what they are labelled with, and which images they run.

Shared by the runtime and its parts (`lab.runtime.docker.toxiproxy`, ``sampling``), so a port or
a label is written down once.
"""

from __future__ import annotations

from collections.abc import Mapping

NODE_IMAGE_ENV = "ASPEN_NODE_IMAGE"
"""Use this image for the nodes instead of building/finding ``aspen-node:<hash>``."""
TOXIPROXY_IMAGE_ENV = "ASPEN_TOXIPROXY_IMAGE"
"""Run this image as the Toxiproxy (with its own command) instead of our server."""

PORTS: Mapping[str, int] = {"raft": 7000, "http": 8000}
DATA_DIR = "/data"
TOXIPROXY_API_PORT = 8474
PROXY_BASE_PORT = 20000
NODE_LABEL = "aspen.lab.node"
START_TIMEOUT = 30.0


def proxy_port(src: int, dst: int) -> int:
    """The port the proxy for link (src, dst) listens on inside the Toxiproxy container."""
    return PROXY_BASE_PORT + 100 * src + dst
