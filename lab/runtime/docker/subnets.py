"""The run's bridge network on a /24 nobody else uses (no Docker network, preferably no route).

Subnets are taken from ``10.213.0.0/16`` upwards (``SUBNET_POOLS_TRIED`` /16s); a host with a
route over the whole range (a 10.0.0.0/8 VPN, say) still gets one Docker does not use.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import docker.errors
import docker.types

log = logging.getLogger("lab.runtime.docker")

SUBNET_POOL = ipaddress.IPv4Network("10.213.0.0/16")
SUBNET_POOLS_TRIED = 11  # 10.213.0.0/16 .. 10.223.0.0/16


def create_network(
    client: Any, name: str, labels: Mapping[str, str]
) -> tuple[ipaddress.IPv4Network, str]:
    """Create the bridge network ``name`` on the first free /24; (its subnet, its id).

    Retries on the next /24 when another run took the chosen one meanwhile.
    """
    taken = docker_subnets(client)
    routes = host_routes()
    candidates = [s for s in candidate_subnets() if not any(s.overlaps(r) for r in routes)]
    candidates = candidates or list(candidate_subnets())
    for subnet in candidates:
        if any(subnet.overlaps(t) for t in taken):
            continue
        ipam = docker.types.IPAMConfig(
            pool_configs=[
                docker.types.IPAMPool(subnet=str(subnet), gateway=str(subnet.network_address + 1))
            ]
        )
        try:
            created = client.api.create_network(
                name, driver="bridge", ipam=ipam, labels=dict(labels), check_duplicate=True
            )
        except docker.errors.APIError as e:
            if "overlap" in str(e.explanation or e).lower():
                taken.append(subnet)  # another run took it since we looked
                continue
            raise
        log.info("network %s on %s", name, subnet)
        return subnet, str(created["Id"])
    raise RuntimeError("no free /24 for the run's network in 10.213.0.0-10.223.255.255")


def candidate_subnets() -> Iterable[ipaddress.IPv4Network]:
    for pool in range(SUBNET_POOLS_TRIED):
        base = ipaddress.IPv4Network((int(SUBNET_POOL.network_address) + (pool << 16), 16))
        yield from base.subnets(new_prefix=24)


def docker_subnets(client: Any) -> list[ipaddress.IPv4Network]:
    found = []
    for net in client.api.networks():
        for config in (net.get("IPAM") or {}).get("Config") or []:
            with contextlib.suppress(KeyError, ValueError, TypeError):
                found.append(ipaddress.IPv4Network(config["Subnet"], strict=False))
    return found


def host_routes() -> list[ipaddress.IPv4Network]:
    """The host's IPv4 routes (default route excluded), where ``/proc/net/route`` exists."""
    routes = []
    try:
        lines = Path("/proc/net/route").read_text().splitlines()[1:]
    except OSError:
        return []
    for line in lines:
        fields = line.split()
        if len(fields) < 8:
            continue
        with contextlib.suppress(ValueError):
            dest = int.from_bytes(bytes.fromhex(fields[1]), "little")
            mask = int.from_bytes(bytes.fromhex(fields[7]), "little")
            if mask:
                prefix = bin(mask).count("1")
                routes.append(ipaddress.IPv4Network((dest, prefix), strict=False))
    return routes
