"""Every node in its own container, on the run's own bridge network, behind Toxiproxy.

One run owns, all labelled ``aspen.lab.run=<run id>`` (so ``aspen-lab gc`` finds what a killed
run left behind):

- a bridge network ``aspen-<id>`` with an explicit /24 taken from ``10.213.0.0/16`` upwards
  (the first one no Docker network and no host route overlaps); the gateway is ``.1``, the
  Toxiproxy container ``.2``, node ``i`` ``.(10+i)``;
- per node a named volume ``aspen-<id>-n<i>-data`` at ``/data`` (so data outlives the
  container) and a container ``aspen-<id>-n<i>`` (hostname ``n<i>``, ``NET_ADMIN`` for the
  nftables faults), recreated by every ``start`` so a changed environment (a clock skew) takes
  effect; raft listens on ``0.0.0.0:7000``, HTTP on ``0.0.0.0:8000``, reached by IP from the
  host and from the other containers;
- the Toxiproxy container (``provide_toxiproxy``): our server from the node image, or the image
  given as ``toxiproxy_image`` / ``$ASPEN_TOXIPROXY_IMAGE`` (a real ``ghcr.io/shopify/toxiproxy``
  works); the proxy for link (s, d) listens on port ``20000 + 100*s + d``.

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
import ipaddress
import logging
import math
import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# `docker.client`, not `docker`: run from the project root, mypy takes the repository's docker/
# folder for a namespace package named `docker` (see lab/runtime/images.py).
import docker.client
import docker.errors
import docker.types
import psutil
import requests

from lab.net import ToxiproxyPlacement
from lab.runtime.base import RUN_LABEL, Endpoint, NodeCommand, NodeState, ResourceSample
from lab.runtime.images import FAKETIME_LIB, ensure_image
from lab.runtime.local import dir_size
from lab.runtime.owner import OWNER_LABEL, RUN_DIR_LABEL, this_owner

log = logging.getLogger("lab.runtime.docker")

NODE_IMAGE_ENV = "ASPEN_NODE_IMAGE"
"""Use this image for the nodes instead of building/finding ``aspen-node:<hash>``."""
TOXIPROXY_IMAGE_ENV = "ASPEN_TOXIPROXY_IMAGE"
"""Run this image as the Toxiproxy (with its own command) instead of our server."""

PORTS: Mapping[str, int] = {"raft": 7000, "http": 8000}
DATA_DIR = "/data"
TOXIPROXY_API_PORT = 8474
PROXY_BASE_PORT = 20000
SUBNET_POOL = ipaddress.IPv4Network("10.213.0.0/16")
SUBNET_POOLS_TRIED = 11  # 10.213.0.0/16 .. 10.223.0.0/16
NODE_LABEL = "aspen.lab.node"
START_TIMEOUT = 30.0
EXEC_SAMPLE_INTERVAL = 5.0
STATS_MAX_AGE = 0.5  # seconds; the engine collects stats once a second


def proxy_port(src: int, dst: int) -> int:
    """The port the proxy for link (src, dst) listens on inside the Toxiproxy container."""
    return PROXY_BASE_PORT + 100 * src + dst


@dataclass(slots=True)
class _Node:
    id: int
    ip: str
    container_name: str
    volume: str
    lock: threading.RLock = field(default_factory=threading.RLock)
    command: NodeCommand | None = None
    container: str | None = None
    """The id of the node's current container (running or not), None before the first start."""
    started: bool = False
    logs_collected: bool = False
    """Whether the current container's output is already in the node's log."""
    last_exit: int | None = None
    """Exit code of the last container removed (the current one's is in Docker)."""
    cpu: tuple[int, int] | None = None
    """(container CPU ns, system CPU ns) at the previous sample, for the CPU percentage."""
    ps: psutil.Process | None = None
    """The current container's PID 1 seen from this host, when it can be."""
    ps_container: str | None = None
    """The container ``ps`` was looked up for."""
    stats: dict[str, Any] | None = None
    stats_at: float | None = None
    probed: tuple[int, int, int] = (0, 0, 0)
    """(open fds, RSS, data bytes) from the last ``exec`` probe, repeated until the next one."""
    probed_at: float | None = None
    mountpoint: str | None = None
    """The volume's directory on the engine's host ("" once found unknown)."""


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
        self._nodes: dict[int, _Node] = {}
        self._network_id: str | None = None
        self._toxiproxy: str | None = None
        self._toxiproxy_pending = False
        self._closed = False
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
        try:
            self.subnet = self._create_network()
            hosts = self.subnet.network_address
            self.gateway_ip = str(hosts + 1)
            self.toxiproxy_ip = str(hosts + 2)
            for n in ids:
                node = _Node(
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

    # --- the network --------------------------------------------------------------------------

    def _create_network(self) -> ipaddress.IPv4Network:
        """Create the run's network on the first free /24; retry when another run raced us.

        Free: no Docker network overlaps it, nor (preferably) any host route; a host with a
        route over the whole range (a 10.0.0.0/8 VPN, say) still gets one Docker does not use.
        """
        taken = _docker_subnets(self.client)
        routes = _host_routes()
        candidates = [s for s in _candidate_subnets() if not any(s.overlaps(r) for r in routes)]
        candidates = candidates or list(_candidate_subnets())
        for subnet in candidates:
            if any(subnet.overlaps(t) for t in taken):
                continue
            ipam = docker.types.IPAMConfig(
                pool_configs=[
                    docker.types.IPAMPool(
                        subnet=str(subnet), gateway=str(subnet.network_address + 1)
                    )
                ]
            )
            try:
                created = self.client.api.create_network(
                    self.network_name,
                    driver="bridge",
                    ipam=ipam,
                    labels=self.labels,
                    check_duplicate=True,
                )
            except docker.errors.APIError as e:
                if "overlap" in str(e.explanation or e).lower():
                    taken.append(subnet)  # another run took it since we looked
                    continue
                raise
            self._network_id = str(created["Id"])
            log.info("network %s on %s", self.network_name, subnet)
            return subnet
        raise RuntimeError("no free /24 for the run's network in 10.213.0.0-10.223.255.255")

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
            created = self.client.api.create_container(
                self.image,
                command=list(command.argv),
                hostname=f"n{node_id}",
                name=node.container_name,
                environment=container_env(command.env),
                labels={**self.labels, NODE_LABEL: f"n{node_id}"},
                host_config=host_config,
                networking_config=networking,
            )
            node.container = str(created["Id"])
            node.logs_collected = False
            node.command = command
            node.started = True
            node.cpu = None
            node.probed, node.probed_at = (0, 0, 0), None
            node.ps = node.ps_container = node.stats = node.stats_at = None
            self.client.api.start(node.container)

    def stop(self, node_id: int, grace: float = 5.0) -> None:
        """``docker stop``: SIGTERM, SIGKILL after ``grace`` seconds (a paused node is resumed
        first so it can handle the SIGTERM)."""
        node = self._nodes[node_id]
        with node.lock:
            state = self.state(node_id)
            if state is NodeState.PAUSED:
                self._quiet(self.client.api.unpause, node.container)
            if state in (NodeState.RUNNING, NodeState.PAUSED):
                self._quiet(self.client.api.stop, node.container, timeout=math.ceil(grace))
                self._quiet(self.client.api.wait, node.container, timeout=grace + 30)
            self._collect_logs(node)

    def kill(self, node_id: int) -> None:
        """``docker kill`` (SIGKILL), paused or not; returns once the container has exited."""
        node = self._nodes[node_id]
        with node.lock:
            if self.state(node_id) in (NodeState.RUNNING, NodeState.PAUSED):
                self._quiet(self.client.api.kill, node.container)
                self._quiet(self.client.api.wait, node.container, timeout=30)
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

    # --- observation --------------------------------------------------------------------------

    def sample(self, node_id: int) -> ResourceSample | None:
        """The node's resource use, as cheaply as the lab's position allows.

        Beside the engine (the container's PID 1 visible in this host's ``/proc``): psutil on
        that process, as LocalRuntime measures, and the data size from the volume's directory;
        a few ms. Otherwise: CPU, memory and threads from the cgroup (``docker stats``, which
        waits for the engine's 1 s collection tick, so one round fetches every node's frame
        at once and the others reuse it), and open fds, RSS and data size from an ``exec`` at
        most every ``EXEC_SAMPLE_INTERVAL`` seconds (0.1 s idle, most of a second under load),
        repeated in between and while the node is paused.
        """
        node = self._nodes[node_id]
        container = node.container
        if container is None:
            return None
        try:
            info = self.client.api.inspect_container(container)
        except (docker.errors.APIError, requests.RequestException):
            return None  # replaced or removed meanwhile, or the engine is slow: no reading
        if info["State"]["Status"] not in ("running", "paused"):
            return None
        proc = self._host_process(node, info)
        if proc is not None:
            try:
                with proc.oneshot():
                    return ResourceSample(
                        cpu_percent=proc.cpu_percent(None),
                        rss_bytes=proc.memory_info().rss,
                        open_fds=proc.num_fds(),
                        threads=proc.num_threads(),
                        data_bytes=self._data_bytes(node, info),
                    )
            except psutil.Error:
                node.ps = None  # gone meanwhile; the engine's view below
        return self._engine_sample(node, info)

    def _host_process(self, node: _Node, info: Mapping[str, Any]) -> psutil.Process | None:
        """The container's PID 1 as a process of this host, if this host can see it.

        The PID Docker reports is only trusted if ``/proc/<pid>/cgroup`` names the container:
        a lab in another PID namespace (or on another machine) would see some other process.
        """
        container = str(info["Id"])
        if node.ps is not None and node.ps_container == container:
            return node.ps
        node.ps, node.ps_container = None, container
        pid = int(info["State"].get("Pid") or 0)
        try:
            if pid and container in Path(f"/proc/{pid}/cgroup").read_text():
                node.ps = psutil.Process(pid)
                node.ps.cpu_percent(None)  # the first reading is 0.0 (as locally), then deltas
        except (OSError, psutil.Error):
            node.ps = None
        return node.ps

    def _data_bytes(self, node: _Node, info: Mapping[str, Any]) -> int:
        """The volume's size, from its directory on this host if readable, else by exec."""
        if node.mountpoint is None:
            try:
                node.mountpoint = str(self.client.api.inspect_volume(node.volume)["Mountpoint"])
            except (docker.errors.APIError, requests.RequestException, KeyError):
                node.mountpoint = ""
        if node.mountpoint and os.access(node.mountpoint, os.R_OK | os.X_OK):
            return dir_size(Path(node.mountpoint))
        return self._probe(node, info)[2]

    def _probe(self, node: _Node, info: Mapping[str, Any]) -> tuple[int, int, int]:
        """(open fds, RSS, data bytes) by exec, at most every ``EXEC_SAMPLE_INTERVAL`` s."""
        now = time.monotonic()
        running = info["State"]["Status"] == "running"
        if running and (node.probed_at is None or now - node.probed_at >= EXEC_SAMPLE_INTERVAL):
            node.probed_at = now
            node.probed = self._exec_probe(str(info["Id"])) or node.probed
        return node.probed

    def _engine_sample(self, node: _Node, info: Mapping[str, Any]) -> ResourceSample | None:
        stats = self._stats(node)
        if stats is None:
            return None
        cpu = stats.get("cpu_stats") or {}
        usage = cpu.get("cpu_usage") or {}
        total = int(usage.get("total_usage") or 0)
        system = int(cpu.get("system_cpu_usage") or 0)
        online = int(cpu.get("online_cpus") or len(usage.get("percpu_usage") or [1]))
        percent = 0.0
        if node.cpu is not None and system > node.cpu[1]:
            percent = (total - node.cpu[0]) / (system - node.cpu[1]) * online * 100.0
        node.cpu = (total, system)
        fds, rss, data = self._probe(node, info)
        return ResourceSample(
            cpu_percent=max(0.0, percent),
            rss_bytes=rss or _cgroup_memory(stats.get("memory_stats") or {}),
            open_fds=fds,
            threads=int((stats.get("pids_stats") or {}).get("current") or 0),
            data_bytes=data,
        )

    def _stats(self, node: _Node) -> dict[str, Any] | None:
        """The node's latest ``docker stats`` frame; a stale one refreshes every node's."""
        if node.stats_at is None or time.monotonic() - node.stats_at > STATS_MAX_AGE:
            nodes = [n for n in self._nodes.values() if n.container is not None]

            def fetch(n: _Node) -> None:
                try:
                    frame = self.client.api.stats(n.container, stream=False, one_shot=True)
                except (docker.errors.APIError, requests.RequestException):
                    frame = None
                n.stats, n.stats_at = frame, time.monotonic()

            with ThreadPoolExecutor(max_workers=len(nodes) or 1) as pool:
                list(pool.map(fetch, nodes))
        return node.stats

    def _exec_probe(self, container: str) -> tuple[int, int, int] | None:
        """(open fds, VmRSS bytes, data bytes) of the container's PID 1, by ``exec``, or None."""
        script = (
            "ls /proc/1/fd | wc -l; "
            "awk '/^VmRSS:/ {print $2 * 1024}' /proc/1/status; "
            f"du -sb {DATA_DIR} | cut -f1"
        )
        try:
            code, out = self.exec(container, ["sh", "-c", script])
        except (docker.errors.APIError, requests.RequestException):
            return None
        fields = out.split()
        if code != 0 or len(fields) != 3 or not all(f.isdigit() for f in fields):
            return None
        return int(fields[0]), int(fields[1]), int(fields[2])

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

    def _on_network(self, node: _Node) -> bool:
        info = self._inspect(node)
        return info is not None and self.network_name in info["NetworkSettings"]["Networks"]

    # --- Toxiproxy ----------------------------------------------------------------------------

    def provide_toxiproxy(self, stack: contextlib.ExitStack) -> ToxiproxyPlacement:
        """A Toxiproxy container at ``.2``, its API answering, removed when ``stack`` unwinds."""
        if self._toxiproxy is not None:
            raise RuntimeError("this run's Toxiproxy is already running")
        name = f"{self.prefix}-toxiproxy"
        if self.toxiproxy_image:
            image, command = self.toxiproxy_image, None  # its own entry point and arguments
        else:
            image = self.image
            command = ["aspen-lab", "toxiproxy", "--host", "0.0.0.0", "--port", "8474"]
        networking = self.client.api.create_networking_config(
            {
                self.network_name: self.client.api.create_endpoint_config(
                    ipv4_address=self.toxiproxy_ip, aliases=["toxiproxy"]
                )
            }
        )
        created = self.client.api.create_container(
            image,
            command=command,
            hostname="toxiproxy",
            name=name,
            labels={**self.labels, NODE_LABEL: "toxiproxy"},
            host_config=self.client.api.create_host_config(cap_add=["NET_ADMIN"]),
            networking_config=networking,
        )
        self._toxiproxy = str(created["Id"])
        self._toxiproxy_pending = True
        stack.callback(self._remove_toxiproxy)
        self.client.api.start(self._toxiproxy)
        url = f"http://{self.toxiproxy_ip}:{TOXIPROXY_API_PORT}"
        self._wait_for_api(url)
        log.info("toxiproxy (%s) at %s", image, url)
        return ToxiproxyPlacement(
            url,
            lambda src, dst: f"0.0.0.0:{proxy_port(src, dst)}",
            advertise_host=self.toxiproxy_ip,
        )

    def _wait_for_api(self, url: str, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if requests.get(f"{url}/version", timeout=1.0).ok:
                    return
            except requests.RequestException:
                pass
            info = self.client.api.inspect_container(self._toxiproxy)
            if info["State"]["Status"] not in ("created", "running"):
                tail = self.client.api.logs(self._toxiproxy, tail=30).decode(errors="replace")
                raise RuntimeError(f"the Toxiproxy container exited:\n{tail}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"Toxiproxy's API at {url} did not answer in {timeout:.0f} s")
            time.sleep(0.1)

    def _remove_toxiproxy(self) -> None:
        container, self._toxiproxy = self._toxiproxy, None
        self._toxiproxy_pending = False
        if container is not None:
            self._save_logs(container, self.run_dir / "toxiproxy.log")
            self._quiet(self.client.api.remove_container, container, force=True)
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
                self._quiet(self.client.api.remove_volume, node.volume, force=True)
        if not self._toxiproxy_pending:
            if self._toxiproxy is not None:
                self._remove_toxiproxy()
            self._remove_network()
            self.client.close()

    def _remove_network(self) -> None:
        if self._network_id is not None:
            self._quiet(self.client.api.remove_network, self._network_id)
            self._network_id = None

    def _remove_container(self, node: _Node) -> None:
        """Collect the current container's logs and exit code, then remove it."""
        if node.container is None:
            return
        info = self._inspect(node)
        if info is not None:
            self._collect_logs(node)
            if info["State"]["Status"] in ("exited", "dead"):
                node.last_exit = int(info["State"]["ExitCode"])
        self._quiet(self.client.api.remove_container, node.container, force=True)
        node.container = None

    def _collect_logs(self, node: _Node) -> None:
        """Append the stopped current container's output to the node's log, once."""
        if node.container is None or node.logs_collected:
            return
        info = self._inspect(node)
        if info is None or info["State"]["Status"] in ("running", "paused", "restarting"):
            return
        self._save_logs(node.container, self.log_path(node.id))
        node.logs_collected = True

    def _save_logs(self, container: str, path: Path) -> None:
        try:
            data = self.client.api.logs(container, stdout=True, stderr=True)
        except docker.errors.APIError as e:
            log.warning("no logs from %s: %s", container[:12], e)
            return
        with path.open("ab") as f:
            f.write(data)

    def _inspect(self, node: _Node) -> dict[str, Any] | None:
        if node.container is None:
            return None
        try:
            info: dict[str, Any] = self.client.api.inspect_container(node.container)
        except docker.errors.NotFound:
            return None
        return info

    def _quiet(self, call: Any, *args: Any, **kwargs: Any) -> Any:
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


def container_env(env: Mapping[str, str]) -> dict[str, str]:
    """The node's environment inside the container.

    A host path of libfaketime in ``LD_PRELOAD`` (``lab.chaos.nemesis.faketime_env`` computes
    one from the lab's own install) means nothing in the image: it becomes the image's copy.
    """
    out = dict(env)
    preload = out.get("LD_PRELOAD", "")
    if "libfaketime" in preload:
        out["LD_PRELOAD"] = " ".join(
            FAKETIME_LIB if "libfaketime" in part else part for part in preload.split()
        )
    return out


def _cgroup_memory(memory: Mapping[str, Any]) -> int:
    """What ``docker stats`` shows as memory use: usage minus the inactive page cache."""
    usage = int(memory.get("usage") or 0)
    stats = memory.get("stats") or {}
    cache = stats.get("total_inactive_file", stats.get("inactive_file", 0))
    return max(0, usage - int(cache or 0))


def _candidate_subnets() -> Iterable[ipaddress.IPv4Network]:
    for pool in range(SUBNET_POOLS_TRIED):
        base = ipaddress.IPv4Network((int(SUBNET_POOL.network_address) + (pool << 16), 16))
        yield from base.subnets(new_prefix=24)


def _docker_subnets(client: Any) -> list[ipaddress.IPv4Network]:
    found = []
    for net in client.api.networks():
        for config in (net.get("IPAM") or {}).get("Config") or []:
            with contextlib.suppress(KeyError, ValueError, TypeError):
                found.append(ipaddress.IPv4Network(config["Subnet"], strict=False))
    return found


def _host_routes() -> list[ipaddress.IPv4Network]:
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
