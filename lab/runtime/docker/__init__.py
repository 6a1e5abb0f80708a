"""The Docker runtime (`lab.runtime.docker.runtime.DockerRuntime`) and the names the lab and
its tests use from it. Its parts, one job each: ``subnets`` (the run's network), ``runtime``
(container lifecycle), ``sampling`` (resource use), ``toxiproxy`` (the proxy container),
``engine`` (calls on the engine: inspect, logs), ``node`` and ``layout`` (records, ports and
labels)."""

from lab.runtime.docker.layout import (
    DATA_DIR,
    NODE_IMAGE_ENV,
    NODE_LABEL,
    PORTS,
    TOXIPROXY_IMAGE_ENV,
    proxy_port,
)
from lab.runtime.docker.node import container_env
from lab.runtime.docker.runtime import DockerRuntime

__all__ = [
    "DATA_DIR",
    "NODE_IMAGE_ENV",
    "NODE_LABEL",
    "PORTS",
    "TOXIPROXY_IMAGE_ENV",
    "DockerRuntime",
    "container_env",
    "proxy_port",
]
