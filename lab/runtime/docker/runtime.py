"""The Docker runtime: every node in its own container, on the run's own bridge network.

One run owns, all labelled ``aspen.lab.run=<run id>`` (so ``aspen-lab gc`` finds what a killed
run left behind):

- a bridge network ``aspen-<id>`` with an explicit /24 (`lab.runtime.docker.subnets`); the
  gateway is ``.1``, the Toxiproxy container ``.2``, node ``i`` ``.(10+i)``;
- per node a named volume ``aspen-<id>-n<i>-data`` at ``/data`` (so data outlives the
  container) and a container ``aspen-<id>-n<i>`` (hostname ``n<i>``, ``NET_ADMIN`` for the
  nftables faults), recreated by every ``start`` so a changed environment (a clock skew) takes
  effect; raft listens on ``0.0.0.0:7000``, HTTP on ``0.0.0.0:8000``, reached by IP from the
  host and from the other containers;
- the Toxiproxy container (``provide_toxiproxy``, `lab.runtime.docker.toxiproxy`).

For a db whose peers talk directly (etcd), ``use_nftables_links`` makes link faults nftables
rules in the node containers instead (`lab.runtime.nftlinks`, loaded by
`lab.runtime.docker.firewall`); no Toxiproxy container is needed then.

The node image is ``ensure_image(project_root)`` unless ``image`` or ``$ASPEN_NODE_IMAGE`` names
one. A node's stdout and stderr are appended to ``nodes/n<i>.log`` whenever its container has
stopped (stop, kill, exit, replacement, close), so the log covers all of the node's lives.

``close()`` removes the node containers and volumes; the Toxiproxy container and the network go
when the stack given to ``provide_toxiproxy`` unwinds (the lab deletes its proxies then, so the
server must still answer), or at ``close()`` if that stack already unwound.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

# `docker.client`, not `docker`: run from the project root, mypy takes the repository's docker/
# folder for a namespace package named `docker` (see lab/runtime/images.py).
import docker.client
import docker.errors
import docker.types

from lab.net import ToxiproxyPlacement
from lab.runtime.base import RUN_LABEL, Endpoint, NodeCommand, NodeState, ResourceSample
from lab.runtime.docker.engine import inspect, quiet, save_logs
from lab.runtime.docker.firewall import load_by_exec, load_by_helper, with_rules
from lab.runtime.docker.layout import (
    DATA_DIR,
    NODE_IMAGE_ENV,
    NODE_LABEL,
    PORTS,
    TOXIPROXY_IMAGE_ENV,
)
from lab.runtime.docker.node import DockerNode, Readings, container_env
from lab.runtime.docker.sampling import Sampler
from lab.runtime.docker.subnets import create_network
from lab.runtime.docker.toxiproxy import ToxiproxyContainer
from lab.runtime.images import ensure_image
from lab.runtime.nftlinks import NftLinks
from lab.runtime.owner import OWNER_LABEL, RUN_DIR_LABEL, this_owner

log = logging.getLogger("lab.runtime.docker")


class DockerRuntime:
    """Nodes as containers on a private bridge network. ``close()`` leaves nothing behind."""

    name = "docker"

    def __init__(
        self,
        run_dir: Path,
        node_ids: Iterable[int],
        run_id: str,
        *,
        project_root: Path | None = None,
        toxiproxy_image: str | None = None,
        image: str | None = None,
    ) -> None:
        self.run_dir = run_dir
        self.run_id = run_id
        self.labels = {
            RUN_LABEL: run_id,
            OWNER_LABEL: this_owner(),
            RUN_DIR_LABEL: str(Path(run_dir).resolve()),
        }
        self.prefix = f"aspen-{hashlib.sha256(run_id.encode()).hexdigest()[:10]}"
        self.network_name = self.prefix
        self.toxiproxy_image = toxiproxy_image or os.environ.get(TOXIPROXY_IMAGE_ENV) or None
        self._nodes: dict[int, DockerNode] = {}
        self._network_id: str | None = None
        self._toxiproxy: ToxiproxyContainer | None = None
        self._toxiproxy_pending = False
        self._closed = False
        self.network: NftLinks | None = None
        """Set by `use_nftables_links`: link faults as nftables rules in the containers."""
        (run_dir / "nodes").mkdir(parents=True, exist_ok=True)
        ids = sorted(node_ids)
        if any(not 1 <= n <= 200 for n in ids):
            raise ValueError("the Docker runtime numbers nodes 1..200")
        self.image = image or os.environ.get(NODE_IMAGE_ENV) or ""
        if not self.image:
            started = time.monotonic()
            self.image = ensure_image(project_root or Path.cwd(), log=log.info)
            log.info("node image %s ready in %.1f s", self.image, time.monotonic() - started)
        self.client: Any = docker.client.from_env(timeout=120)
        self._sampler = Sampler(self.client, self._nodes, self.exec)
        try:
            self.subnet, self._network_id = create_network(
                self.client, self.network_name, self.labels
            )
            hosts = self.subnet.network_address
            self.gateway_ip = str(hosts + 1)
            self.toxiproxy_ip = str(hosts + 2)
            for n in ids:
                node = DockerNode(
                    id=n,
                    ip=str(hosts + 10 + n),
                    container_name=f"{self.prefix}-n{n}",
                    volume=f"{self.prefix}-n{n}-data",
                )
                self.client.api.create_volume(node.volume, labels=self.labels)
                self._nodes[n] = node
        except BaseException:
            self.close()
            raise

    # --- where nodes are ----------------------------------------------------------------------

    @property
    def node_ids(self) -> list[int]:
        return sorted(self._nodes)

    def ip(self, node_id: int) -> str:
        """The node's address on the run's network."""
        return self._nodes[node_id].ip

    def container_name(self, node_id: int) -> str:
        return self._nodes[node_id].container_name

    def endpoint(self, node_id: int, service: str) -> Endpoint:
        return Endpoint(self._nodes[node_id].ip, PORTS[service], bind="0.0.0.0")

    def data_dir(self, node_id: int) -> str:
        return DATA_DIR

    def log_path(self, node_id: int) -> Path:
        return self.run_dir / "nodes" / f"n{node_id}.log"

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self, node_id: int, command: NodeCommand) -> None:
        """A fresh container with ``command``; the volume (the node's data) is kept."""
        node = self._nodes[node_id]
        with node.lock:
            if self._closed:
                raise RuntimeError("the runtime is closed")
            if self.state(node_id) in (NodeState.RUNNING, NodeState.PAUSED):
                raise RuntimeError(f"node {node_id} is already running")
            self._remove_container(node)
            host_config = self.client.api.create_host_config(
                mounts=[docker.types.Mount(DATA_DIR, node.volume, type="volume")],
                cap_add=["NET_ADMIN"],
            )
            networking = self.client.api.create_networking_config(
                {
                    self.network_name: self.client.api.create_endpoint_config(
                        ipv4_address=node.ip, aliases=[f"n{node_id}"]
                    )
                }
            )
            script = self.network.script(node_id) if self.network is not None else None
            inside = with_rules(command, script)
            created = self.client.api.create_container(
                self.image,
                command=list(inside.argv),
                hostname=f"n{node_id}",
                name=node.container_name,
                environment=container_env(inside.env),
                labels={**self.labels, NODE_LABEL: f"n{node_id}"},
                host_config=host_config,
                networking_config=networking,
            )
            node.container = str(created["Id"])
            node.logs_collected = False
            node.command = command
            node.started = True
            node.readings = Readings()
            self.client.api.start(node.container)

    def stop(self, node_id: int, grace: float = 5.0) -> None:
        """``docker stop``: SIGTERM, SIGKILL after ``grace`` seconds (a paused node is resumed
        first so it can handle the SIGTERM)."""
        node = self._nodes[node_id]
        with node.lock:
            state = self.state(node_id)
            if state is NodeState.PAUSED:
                quiet(self.client.api.unpause, node.container)
            if state in (NodeState.RUNNING, NodeState.PAUSED):
                quiet(self.client.api.stop, node.container, timeout=math.ceil(grace))
                quiet(self.client.api.wait, node.container, timeout=grace + 30)
            self._collect_logs(node)

    def kill(self, node_id: int) -> None:
        """``docker kill`` (SIGKILL), paused or not; returns once the container has exited."""
        node = self._nodes[node_id]
        with node.lock:
            if self.state(node_id) in (NodeState.RUNNING, NodeState.PAUSED):
                quiet(self.client.api.kill, node.container)
                quiet(self.client.api.wait, node.container, timeout=30)
            self._collect_logs(node)

    def pause(self, node_id: int) -> None:
        node = self._nodes[node_id]
        with node.lock:
            if self.state(node_id) is NodeState.RUNNING:
                self.client.api.pause(node.container)

    def resume(self, node_id: int) -> None:
        node = self._nodes[node_id]
        with node.lock:
            if self.state(node_id) is NodeState.PAUSED:
                self.client.api.unpause(node.container)

    def restart(self, node_id: int) -> None:
        node = self._nodes[node_id]
        with node.lock:
            if node.command is None:
                raise RuntimeError(f"node {node_id} was never started")
            self.kill(node_id)
            self.start(node_id, node.command)

    def wipe(self, node_id: int) -> None:
        """Remove the stopped node's container and volume; an empty volume replaces it."""
        node = self._nodes[node_id]
        with node.lock:
            if self.state(node_id) in (NodeState.RUNNING, NodeState.PAUSED):
                raise RuntimeError(f"node {node_id} must be stopped before its data is wiped")
            self._remove_container(node)
            with contextlib.suppress(docker.errors.NotFound):
                self.client.api.remove_volume(node.volume, force=True)
            self.client.api.create_volume(node.volume, labels=self.labels)

    def state(self, node_id: int) -> NodeState:
        node = self._nodes[node_id]
        info = self._inspect(node)
        if info is None:
            return NodeState.STOPPED if node.started else NodeState.NEW
        status = info["State"]["Status"]
        if status in ("running", "restarting"):
            return NodeState.RUNNING
        if status == "paused":
            return NodeState.PAUSED
        return NodeState.STOPPED  # created (start failed), exited, dead, removing

    def exit_code(self, node_id: int) -> int | None:
        node = self._nodes[node_id]
        info = self._inspect(node)
        if info is None:
            return node.last_exit
        if info["State"]["Status"] not in ("exited", "dead"):
            return None
        with node.lock:
            self._collect_logs(node)
        return int(info["State"]["ExitCode"])

    # --- observation ---------------------------------------------------------------------------

    def sample(self, node_id: int) -> ResourceSample | None:
        """The node's resource use, as cheaply as the lab's position allows (see
        `lab.runtime.docker.sampling`)."""
        return self._sampler.sample(self._nodes[node_id])

    def exec(
        self, container: str, argv: Sequence[str], env: Mapping[str, str] | None = None
    ) -> tuple[int, str]:
        """Run ``argv`` in a running container (a node's id or name, or any of the run's);
        returns its exit code and output (stdout and stderr)."""
        created = self.client.api.exec_create(
            container, list(argv), environment=dict(env or {}), stdout=True, stderr=True
        )
        out = self.client.api.exec_start(created["Id"])
        code = self.client.api.exec_inspect(created["Id"])["ExitCode"]
        return int(code if code is not None else -1), out.decode(errors="replace")

    def exec_node(
        self, node_id: int, argv: Sequence[str], env: Mapping[str, str] | None = None
    ) -> tuple[int, str]:
        """``exec`` in the node's current container; RuntimeError if it is not running."""
        node = self._nodes[node_id]
        if node.container is None or self.state(node_id) is not NodeState.RUNNING:
            raise RuntimeError(f"node {node_id} is not running")
        return self.exec(node.container, argv, env)

    # --- link faults for a db whose peers talk directly (lab.runtime.nftlinks) ----------------

    def use_nftables_links(self) -> NftLinks:
        """Fault peer links with nftables in the nodes' containers instead of through proxies
        (for a db whose peers talk directly, as etcd's do); returns the run's `Links`."""
        if self.network is None:
            self.network = NftLinks(self, self.node_ids)
        return self.network

    def nft(self, node_id: int, script: str) -> None:
        """Load an nft script into the node's container (see `lab.runtime.docker.firewall`)."""
        node = self._nodes[node_id]
        with node.lock:
            state = self.state(node_id)
            if node.container is None or state not in (NodeState.RUNNING, NodeState.PAUSED):
                return  # its next container loads the rules in force before the node starts
            if state is NodeState.RUNNING:
                load_by_exec(self, node.container, script)
            else:
                load_by_helper(self.client, self.image, node.container, script, self.labels)

    # --- IP-level faults (lab.chaos.ip) -------------------------------------------------------

    def disconnect(self, node_id: int) -> bool:
        """Take the node's container off the run's network; False if it was not on it."""
        node = self._nodes[node_id]
        with node.lock:
            if node.container is None or not self._on_network(node):
                return False
            self.client.api.disconnect_container_from_network(
                node.container, self.network_name, force=True
            )
            return True

    def connect(self, node_id: int) -> bool:
        """Put the node's container back on the network at its address; False if it was on."""
        node = self._nodes[node_id]
        with node.lock:
            if node.container is None or self._on_network(node):
                return False
            self.client.api.connect_container_to_network(
                node.container, self.network_name, ipv4_address=node.ip, aliases=[f"n{node_id}"]
            )
            return True

    def _on_network(self, node: DockerNode) -> bool:
        info = self._inspect(node)
        return info is not None and self.network_name in info["NetworkSettings"]["Networks"]

    # --- Toxiproxy ----------------------------------------------------------------------------

    def provide_toxiproxy(self, stack: contextlib.ExitStack) -> ToxiproxyPlacement:
        """A Toxiproxy container at ``.2``, its API answering, removed when ``stack`` unwinds."""
        if self._toxiproxy is not None:
            raise RuntimeError("this run's Toxiproxy is already running")
        self._toxiproxy = ToxiproxyContainer(
            self.client, f"{self.prefix}-toxiproxy", self.network_name, self.toxiproxy_ip
        )
        self._toxiproxy_pending = True
        stack.callback(self._remove_toxiproxy)
        return self._toxiproxy.start(self.image, self.toxiproxy_image, self.labels)

    def _remove_toxiproxy(self) -> None:
        toxiproxy, self._toxiproxy = self._toxiproxy, None
        self._toxiproxy_pending = False
        if toxiproxy is not None:
            toxiproxy.remove(self.run_dir / "toxiproxy.log")
        if self._closed:
            self._remove_network()
            self.client.close()

    # --- teardown -----------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the nodes, keep their logs, remove their containers and volumes (and, unless a
        Toxiproxy stack is still to unwind, the Toxiproxy and the network). Idempotent."""
        if self._closed:
            return
        self._closed = True
        for node in self._nodes.values():
            with node.lock:
                try:
                    info = self._inspect(node)
                    if info is not None and info["State"]["Status"] in ("running", "paused"):
                        self.stop(node.id, grace=3.0)
                except Exception:  # teardown goes on; gc (by label) is the backstop
                    log.exception("stopping node %d failed", node.id)
                self._remove_container(node)
                quiet(self.client.api.remove_volume, node.volume, force=True)
        if not self._toxiproxy_pending:
            if self._toxiproxy is not None:
                self._remove_toxiproxy()
            self._remove_network()
            self.client.close()

    def _remove_network(self) -> None:
        if self._network_id is not None:
            quiet(self.client.api.remove_network, self._network_id)
            self._network_id = None

    def _remove_container(self, node: DockerNode) -> None:
        """Collect the current container's logs and exit code, then remove it."""
        if node.container is None:
            return
        info = self._inspect(node)
        if info is not None:
            self._collect_logs(node)
            if info["State"]["Status"] in ("exited", "dead"):
                node.last_exit = int(info["State"]["ExitCode"])
        quiet(self.client.api.remove_container, node.container, force=True)
        node.container = None

    def _collect_logs(self, node: DockerNode) -> None:
        """Append the stopped current container's output to the node's log, once."""
        if node.container is None or node.logs_collected:
            return
        info = self._inspect(node)
        if info is None or info["State"]["Status"] in ("running", "paused", "restarting"):
            return
        save_logs(self.client, node.container, self.log_path(node.id))
        node.logs_collected = True

    def _inspect(self, node: DockerNode) -> dict[str, Any] | None:
        return inspect(self.client, node.container)
