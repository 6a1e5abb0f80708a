"""Every node a Docker Swarm service, on the run's own overlay network, possibly over many hosts.

One run owns, all labelled with the run id, its owner and its run directory (as the Docker
runtime's objects, so ``aspen-lab gc`` finds what a killed run left behind):

- an attachable overlay network ``aspen-<id>``;
- per node a service ``aspen-<id>-n<i>``: one replica, restart condition ``none`` (a killed
  node stays dead until the lab restarts it), endpoint mode ``dnsrr`` (the service name resolves
  to the task's own address, and to nothing while no task runs: a dead peer fails fast, no
  virtual IP in between), pinned to its host (`lab.runtime.swarm_hosts`), with the named volume
  ``aspen-<id>-n<i>-data`` at ``/data`` on that host (created by the engine there, labelled);
- the Toxiproxy (``provide_toxiproxy``) as the service ``aspen-<id>-toxiproxy`` on the manager
  the client points at, proxies on ``20000 + 100*s + d`` inside the overlay.

How the lab reaches nodes: the host cannot route to overlay addresses (unlike bridge ones, and
not at all from another machine), so each node's HTTP port and the Toxiproxy API are published
in ``host`` mode: on the host the task runs on, at the same port inside and out (a node
advertises the address clients are sent to, so it must listen on the port it advertises). The
lab, the clients and the leader hints all use ``<host address>:<port>``; the ports are picked
free on this machine, and stay the node's for the run (a restarted node is back on the same
host and port). Host mode rather than the ingress routing mesh: no extra IPVS hop between
clients and nodes, and a node that is down is refused at its own host, not load-balanced into a
black hole. Raft traffic stays inside the overlay: node -> Toxiproxy -> ``aspen-<id>-n<j>:7000``.

``start`` updates the node's service with the new command and a forced update, so a restart is
a new task on the same host with the same volume; kill, stop, pause and resume act on the task's
container through the engine of its host; a task's output is appended to ``nodes/n<i>.log`` once
it has stopped, read through the task logs API. ``close()`` removes the services, the volumes
(through each host's engine) and, once the Toxiproxy stack has unwound, the Toxiproxy service,
the network and, with ``swarm_init``, the swarm it created (`lab.runtime.swarm_mode`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker.client
import docker.errors
import docker.types
import requests

from lab.net import ToxiproxyPlacement
from lab.runtime.base import RUN_LABEL, Endpoint, NodeCommand, NodeState, ResourceSample
from lab.runtime.docker import (
    DATA_DIR,
    NODE_IMAGE_ENV,
    NODE_LABEL,
    PORTS,
    TOXIPROXY_IMAGE_ENV,
    container_env,
    proxy_port,
)
from lab.runtime.docker.engine import quiet
from lab.runtime.docker.layout import TOXIPROXY_API_PORT
from lab.runtime.docker.sampling import cgroup_memory
from lab.runtime.docker.toxiproxy import wait_for_api
from lab.runtime.images import ensure_image
from lab.runtime.owner import OWNER_LABEL, RUN_DIR_LABEL, this_owner
from lab.runtime.swarm_hosts import SwarmHost, discover, place
from lab.runtime.swarm_image import distribute_image
from lab.runtime.swarm_mode import (
    SwarmLease,
    release_swarm,
    remove_when_free,
    swarm_lock,
    use_swarm,
)
from lab.runtime.swarm_options import SwarmOptions

log = logging.getLogger("lab.runtime.swarm")

START_TIMEOUT = 60.0
POLL_S = 0.1
ONE_REPLICA = docker.types.ServiceMode("replicated", replicas=1)
RUNNING_STATES = frozenset(
    {"new", "pending", "assigned", "accepted", "preparing", "ready", "starting", "running"}
)
"""Task states of a node that is (being) started: the lab waits for it to serve, as locally."""


@dataclass(slots=True)
class _Node:
    id: int
    service_name: str
    volume: str
    host: SwarmHost
    http_port: int
    lock: threading.RLock = field(default_factory=threading.RLock)
    command: NodeCommand | None = None
    service: str | None = None
    task: str | None = None
    """The current task's id, None until the service has one."""
    container: str | None = None
    """The current task's container id on its host, once the engine has created it."""
    logs_collected: bool = False
    started: bool = False
    cpu: tuple[int, int] | None = None
    """(container CPU ns, system CPU ns) at the previous sample."""


class SwarmRuntime:
    """Nodes as single-replica services on a run's overlay network. ``close()`` leaves nothing."""

    name = "swarm"

    def __init__(
        self,
        run_dir: Path,
        node_ids: Iterable[int],
        run_id: str,
        *,
        options: SwarmOptions | None = None,
        project_root: Path | None = None,
        image: str | None = None,
    ) -> None:
        self.run_dir = run_dir
        self.run_id = run_id
        self.options = options = options or SwarmOptions()
        self.labels = {
            RUN_LABEL: run_id,
            OWNER_LABEL: this_owner(),
            RUN_DIR_LABEL: str(Path(run_dir).resolve()),
        }
        self.prefix = f"aspen-{hashlib.sha256(run_id.encode()).hexdigest()[:10]}"
        self.network_name = self.prefix
        self.toxiproxy_image = os.environ.get(TOXIPROXY_IMAGE_ENV) or None
        self._nodes: dict[int, _Node] = {}
        self._network_id: str | None = None
        self._lease: SwarmLease | None = None
        self._toxiproxy: str | None = None
        self._toxiproxy_pending = False
        self._closed = False
        (run_dir / "nodes").mkdir(parents=True, exist_ok=True)
        ids = sorted(node_ids)
        image = image or os.environ.get(NODE_IMAGE_ENV) or ""
        if not image:
            image = ensure_image(project_root or Path.cwd(), log=log.info)
        self.client: Any = docker.client.from_env(timeout=120)
        try:
            with swarm_lock():
                self._lease = use_swarm(self.client, init=options.init, owner=this_owner())
                created = self.client.api.create_network(
                    self.network_name,
                    driver="overlay",
                    attachable=True,
                    labels=self.labels,
                    check_duplicate=True,
                )
                self._network_id = str(created["Id"])
            self.hosts = discover(self.client)
            placed = place(self.hosts, ids, options.hosts)  # raises on an empty swarm
            # The Toxiproxy's host: the manager the client talks to, unless it takes no tasks.
            self.manager = next((h for h in self.hosts if h.engine_url is None), self.hosts[0])
            self.image = distribute_image(
                self.client, image, list(placed.values()), options.registry
            )
            ports = _free_ports(len(ids) + 1)
            self._toxiproxy_port = ports.pop()
            for n in ids:
                self._nodes[n] = _Node(
                    id=n,
                    service_name=f"{self.prefix}-n{n}",
                    volume=f"{self.prefix}-n{n}-data",
                    host=placed[n],
                    http_port=ports.pop(0),
                )
        except BaseException:
            self.close()
            raise

    # --- where nodes are ----------------------------------------------------------------------

    @property
    def node_ids(self) -> list[int]:
        return sorted(self._nodes)

    def host(self, node_id: int) -> SwarmHost:
        return self._nodes[node_id].host

    def service_name(self, node_id: int) -> str:
        return self._nodes[node_id].service_name

    def endpoint(self, node_id: int, service: str) -> Endpoint:
        """Raft by service name inside the overlay; HTTP at the host's address and the node's
        published port (see the module docstring)."""
        node = self._nodes[node_id]
        if service == "http":
            return Endpoint(node.host.addr, node.http_port, bind="0.0.0.0")
        return Endpoint(node.service_name, PORTS[service], bind="0.0.0.0")

    def data_dir(self, node_id: int) -> str:
        return DATA_DIR

    def log_path(self, node_id: int) -> Path:
        return self.run_dir / "nodes" / f"n{node_id}.log"

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self, node_id: int, command: NodeCommand) -> None:
        """A new task running ``command``, on the node's host with its volume; returns once
        Swarm has accepted it (the lab then waits for the node to serve)."""
        node = self._nodes[node_id]
        with node.lock:
            if self._closed:
                raise RuntimeError("the runtime is closed")
            if self.state(node_id) in (NodeState.RUNNING, NodeState.PAUSED):
                raise RuntimeError(f"node {node_id} is already running")
            self._collect_logs(node)
            spec = docker.types.ContainerSpec(
                self.image,
                args=list(command.argv),
                hostname=f"n{node_id}",
                env=container_env(command.env),
                labels={**self.labels, NODE_LABEL: f"n{node_id}"},
                mounts=[
                    docker.types.Mount(
                        DATA_DIR, node.volume, type="volume", labels=dict(self.labels)
                    )
                ],
                stop_grace_period=5 * 10**9,
                cap_add=["CAP_NET_ADMIN"],
            )
            ports = {node.http_port: (node.http_port, "tcp", "host")}
            previous = node.task
            node.service = self._put_service(node.service, node.service_name, spec, node, ports)
            node.command = command
            node.started = True
            node.task = node.container = None
            node.logs_collected = False
            node.cpu = None
            self._await_task(node, previous)

    def _put_service(
        self,
        service: str | None,
        name: str,
        spec: docker.types.ContainerSpec,
        node: _Node | None,
        ports: Mapping[int, tuple[int, str, str]],
    ) -> str:
        """Create the service, or update it with a forced new task; returns its id."""
        host = node.host if node is not None else self.manager
        template = docker.types.TaskTemplate(
            spec,
            restart_policy=docker.types.RestartPolicy(condition="none"),
            placement=docker.types.Placement(constraints=[f"node.id=={host.node_id}"]),
            networks=[
                docker.types.NetworkAttachmentConfig(
                    self.network_name, aliases=[f"n{node.id}" if node else "toxiproxy"]
                )
            ],
        )
        endpoint = docker.types.EndpointSpec(mode="dnsrr", ports=dict(ports))
        labels = {**self.labels, NODE_LABEL: spec["Hostname"]}
        if service is None:
            created = self.client.api.create_service(
                template, name=name, labels=labels, endpoint_spec=endpoint, mode=ONE_REPLICA
            )
            return str(created["ID"])
        current = self.client.api.inspect_service(service)
        template["ForceUpdate"] = int(current["Spec"]["TaskTemplate"].get("ForceUpdate", 0)) + 1
        self.client.api.update_service(
            service,
            current["Version"]["Index"],
            task_template=template,
            name=name,
            labels=labels,
            endpoint_spec=endpoint,
            mode=ONE_REPLICA,
        )
        return service

    def _await_task(self, node: _Node, previous: str | None) -> None:
        """Wait until the service has a task newer than ``previous``; RuntimeError if Swarm
        rejects it (image missing on the host, port taken, ...)."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            task = self._newest_task(node.service)
            if task is not None and task["ID"] != previous:
                node.task = str(task["ID"])
                state = task["Status"]["State"]
                if state in ("rejected", "orphaned") or (
                    state == "failed" and not task["Status"].get("ContainerStatus")
                ):
                    raise RuntimeError(
                        f"node {node.id}'s task was {state} on {node.host.hostname}: "
                        f"{task['Status'].get('Err') or task['Status'].get('Message')}"
                    )
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"Swarm gave node {node.id} no task in {START_TIMEOUT:.0f} s")
            time.sleep(POLL_S)

    def stop(self, node_id: int, grace: float = 5.0) -> None:
        """SIGTERM, SIGKILL after ``grace`` seconds (a paused node is resumed first)."""
        node = self._nodes[node_id]
        with node.lock:
            state = self.state(node_id)
            if state in (NodeState.RUNNING, NodeState.PAUSED):
                api = self._engine(node).api
                container = self._container(node, wait=True)
                if state is NodeState.PAUSED:
                    quiet(api.unpause, container)
                quiet(api.stop, container, timeout=math.ceil(grace))
                quiet(api.wait, container, timeout=grace + 30)
            self._collect_logs(node)

    def kill(self, node_id: int) -> None:
        """SIGKILL the task's container on its host; the service does not restart it."""
        node = self._nodes[node_id]
        with node.lock:
            if self.state(node_id) in (NodeState.RUNNING, NodeState.PAUSED):
                api = self._engine(node).api
                container = self._container(node, wait=True)
                quiet(api.kill, container)
                quiet(api.wait, container, timeout=30)
            self._collect_logs(node)

    def pause(self, node_id: int) -> None:
        node = self._nodes[node_id]
        with node.lock:
            if self.state(node_id) is NodeState.RUNNING:
                self._engine(node).api.pause(self._container(node, wait=True))

    def resume(self, node_id: int) -> None:
        node = self._nodes[node_id]
        with node.lock:
            if self.state(node_id) is NodeState.PAUSED:
                self._engine(node).api.unpause(self._container(node, wait=True))

    def restart(self, node_id: int) -> None:
        node = self._nodes[node_id]
        with node.lock:
            if node.command is None:
                raise RuntimeError(f"node {node_id} was never started")
            self.kill(node_id)
            self.start(node_id, node.command)

    def wipe(self, node_id: int) -> None:
        """Delete the stopped node's volume on its host; its next task gets an empty one."""
        node = self._nodes[node_id]
        with node.lock:
            if self.state(node_id) in (NodeState.RUNNING, NodeState.PAUSED):
                raise RuntimeError(f"node {node_id} must be stopped before its data is wiped")
            api = self._engine(node).api
            if node.container is not None:  # the dead task's container still holds the volume
                self._collect_logs(node)
                quiet(api.remove_container, node.container, force=True)
            quiet(api.remove_volume, node.volume, force=True)

    def state(self, node_id: int) -> NodeState:
        node = self._nodes[node_id]
        if node.task is None:
            return NodeState.STOPPED if node.started else NodeState.NEW
        container = self._container(node, wait=False)
        if container is not None:
            try:
                info = self._engine(node).api.inspect_container(container)
            except docker.errors.NotFound:
                # Removed (wipe) or gone with its host: nothing runs, whatever the task says
                # (Swarm notices a removed container seconds later).
                return NodeState.STOPPED
            except RuntimeError:  # no engine for that host: ask Swarm below
                info = None
            status = None if info is None else info["State"]["Status"]
            if status == "paused":
                return NodeState.PAUSED
            if status in ("running", "restarting"):
                return NodeState.RUNNING
            if status in ("exited", "dead"):
                return NodeState.STOPPED
        task = self._task(node)
        if task is not None and task["Status"]["State"] in RUNNING_STATES:
            return NodeState.RUNNING
        return NodeState.STOPPED

    def exit_code(self, node_id: int) -> int | None:
        node = self._nodes[node_id]
        if self.state(node_id) is not NodeState.STOPPED or node.task is None:
            return None
        with node.lock:
            self._collect_logs(node)
        info = self._container_info(node)
        if info is not None:
            return int(info["State"]["ExitCode"])
        task = self._task(node)
        status = (task or {}).get("Status", {}).get("ContainerStatus") or {}
        return int(status["ExitCode"]) if "ExitCode" in status else None

    # --- observation --------------------------------------------------------------------------

    def sample(self, node_id: int) -> ResourceSample | None:
        """CPU, memory and threads of the task's container from its host's engine (one
        ``stats`` frame; open fds and data size are not measured here)."""
        node = self._nodes[node_id]
        try:
            container = self._container(node, wait=False)
            if container is None or self.state(node_id) is NodeState.STOPPED:
                return None
            frame = self._engine(node).api.stats(container, stream=False, one_shot=True)
        except (docker.errors.APIError, requests.RequestException, RuntimeError):
            return None
        cpu = frame.get("cpu_stats") or {}
        total = int((cpu.get("cpu_usage") or {}).get("total_usage") or 0)
        system = int(cpu.get("system_cpu_usage") or 0)
        percent = 0.0
        if node.cpu is not None and system > node.cpu[1]:
            online = int(cpu.get("online_cpus") or 1)
            percent = (total - node.cpu[0]) / (system - node.cpu[1]) * online * 100.0
        node.cpu = (total, system)
        return ResourceSample(
            cpu_percent=max(0.0, percent),
            rss_bytes=cgroup_memory(frame.get("memory_stats") or {}),
            open_fds=0,
            threads=int((frame.get("pids_stats") or {}).get("current") or 0),
            data_bytes=0,
        )

    def exec_node(
        self, node_id: int, argv: Sequence[str], env: Mapping[str, str] | None = None
    ) -> tuple[int, str]:
        """Run ``argv`` in the node's task container; RuntimeError if it is not running."""
        node = self._nodes[node_id]
        if self.state(node_id) is not NodeState.RUNNING:
            raise RuntimeError(f"node {node_id} is not running")
        api = self._engine(node).api
        created = api.exec_create(
            self._container(node, wait=True), list(argv), environment=dict(env or {})
        )
        out = api.exec_start(created["Id"])
        code = api.exec_inspect(created["Id"])["ExitCode"]
        return int(code if code is not None else -1), out.decode(errors="replace")

    # --- Toxiproxy ----------------------------------------------------------------------------

    def provide_toxiproxy(self, stack: contextlib.ExitStack) -> ToxiproxyPlacement:
        """The Toxiproxy service on the manager, its API published there and answering,
        removed when ``stack`` unwinds."""
        if self._toxiproxy is not None:
            raise RuntimeError("this run's Toxiproxy is already running")
        port = self._toxiproxy_port
        if self.toxiproxy_image:
            spec = docker.types.ContainerSpec(self.toxiproxy_image, hostname="toxiproxy")
        else:
            argv = ["aspen-lab", "toxiproxy", "--host", "0.0.0.0", "--port"]
            spec = docker.types.ContainerSpec(
                self.image, args=[*argv, str(TOXIPROXY_API_PORT)], hostname="toxiproxy"
            )
        ports = {port: (TOXIPROXY_API_PORT, "tcp", "host")}
        self._toxiproxy = self._put_service(None, f"{self.prefix}-toxiproxy", spec, None, ports)
        self._toxiproxy_pending = True
        stack.callback(self._remove_toxiproxy)
        url = f"http://{self.manager.addr}:{port}"
        self._wait_for_api(url)
        log.info("toxiproxy at %s", url)
        return ToxiproxyPlacement(
            url,
            lambda src, dst: f"0.0.0.0:{proxy_port(src, dst)}",
            advertise_host=f"{self.prefix}-toxiproxy",
        )

    def _wait_for_api(self, url: str) -> None:
        def dead() -> str | None:
            task = self._newest_task(self._toxiproxy)
            if task is None or task["Status"]["State"] in RUNNING_STATES:
                return None
            return f"the Toxiproxy task is {task['Status']['State']}: {task['Status'].get('Err')}"

        wait_for_api(url, dead, timeout=START_TIMEOUT, poll=POLL_S)

    def _remove_toxiproxy(self) -> None:
        service, self._toxiproxy = self._toxiproxy, None
        self._toxiproxy_pending = False
        if service is not None:
            self._save_service_logs(service, self.run_dir / "toxiproxy.log")
            quiet(self.client.api.remove_service, service)
        if self._closed:
            self._teardown_shared()

    # --- teardown -----------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the nodes, keep their logs, remove their services and volumes (and, unless a
        Toxiproxy stack is still to unwind, the Toxiproxy, the network and the swarm this run
        created). Idempotent."""
        if self._closed:
            return
        self._closed = True
        for node in self._nodes.values():
            with node.lock:
                try:
                    if self.state(node.id) in (NodeState.RUNNING, NodeState.PAUSED):
                        self.stop(node.id, grace=3.0)
                    self._collect_logs(node)
                except Exception:  # teardown goes on; gc (by label) is the backstop
                    log.exception("stopping node %d failed", node.id)
                if node.service is not None:
                    quiet(self.client.api.remove_service, node.service)
        for node in self._nodes.values():
            if node.started:
                self._remove_volume(node)
        if not self._toxiproxy_pending:
            if self._toxiproxy is not None:
                self._remove_toxiproxy()
            else:
                self._teardown_shared()

    def _teardown_shared(self) -> None:
        """The network, then the swarm if this run created it, then the clients."""
        if self._network_id is not None:
            remove_when_free(lambda: self.client.api.remove_network(self._network_id))
            self._network_id = None
        if self._lease is not None:
            try:
                release_swarm(self.client, self._lease, self.run_id)
            except docker.errors.APIError as e:
                log.warning("could not leave the swarm: %s", e)
            self._lease = None
        for host in getattr(self, "hosts", []):
            host.close()
        self.client.close()

    def _remove_volume(self, node: _Node) -> None:
        """Remove the node's volume on its host once Swarm has removed the task containers."""
        try:
            api = self._engine(node).api
        except RuntimeError as e:
            log.warning("volume %s stays on %s: %s", node.volume, node.host.hostname, e)
            return
        remove_when_free(lambda: api.remove_volume(node.volume, force=True))

    # --- tasks, containers and logs -----------------------------------------------------------

    def _engine(self, node: _Node) -> Any:
        return node.host.engine(self.client)

    def _newest_task(self, service: str | None) -> dict[str, Any] | None:
        if service is None:
            return None
        tasks = self.client.api.tasks(filters={"service": service})
        if not tasks:
            return None
        newest: dict[str, Any] = max(tasks, key=lambda t: (t["Version"]["Index"], t["ID"]))
        return newest if newest.get("Spec") is not None else None

    def _task(self, node: _Node) -> dict[str, Any] | None:
        if node.task is None:
            return None
        try:
            task: dict[str, Any] = self.client.api.inspect_task(node.task)
        except docker.errors.NotFound:
            return None
        return task

    def _container(self, node: _Node, *, wait: bool) -> str | None:
        """The current task's container id (waiting, if asked, until its host created it)."""
        deadline = time.monotonic() + START_TIMEOUT
        while node.container is None:
            task = self._task(node)
            status = (task or {}).get("Status", {})
            found = (status.get("ContainerStatus") or {}).get("ContainerID")
            if found:
                node.container = str(found)
            elif not wait or status.get("State") not in RUNNING_STATES:
                return None
            elif time.monotonic() > deadline:
                raise TimeoutError(f"node {node.id}'s task has no container")
            else:
                time.sleep(POLL_S)
        return node.container

    def _container_info(self, node: _Node) -> dict[str, Any] | None:
        container = self._container(node, wait=False)
        if container is None:
            return None
        try:
            info: dict[str, Any] = self._engine(node).api.inspect_container(container)
        except (docker.errors.NotFound, RuntimeError):
            return None
        return info

    def _collect_logs(self, node: _Node) -> None:
        """Append the stopped current task's output to the node's log, once."""
        if node.task is None or node.logs_collected:
            return
        task = self._task(node)
        if task is not None and task["Status"]["State"] in RUNNING_STATES:
            info = self._container_info(node)
            if info is None or info["State"]["Status"] not in ("exited", "dead"):
                return
        data = self._task_logs(node.task)
        with self.log_path(node.id).open("ab") as f:
            f.write(data)
        node.logs_collected = True

    def _task_logs(self, task: str) -> bytes:
        """One task's stdout and stderr, through the manager's task logs API (any host)."""
        api = self.client.api
        try:
            response = api._get(  # docker-py has service logs but no task logs call
                api._url("/tasks/{0}/logs", task),
                params={"stdout": 1, "stderr": 1, "follow": 0, "tail": "all"},
                stream=True,
            )
            data: bytes = api._get_result_tty(False, response, False)
            return data
        except (docker.errors.APIError, requests.RequestException) as e:
            log.warning("no logs from task %s: %s", task[:12], e)
            return b""

    def _save_service_logs(self, service: str, path: Path) -> None:
        try:
            chunks = self.client.api.service_logs(service, stdout=True, stderr=True)
            data = b"".join(chunks)
        except (docker.errors.APIError, requests.RequestException) as e:
            log.warning("no logs from service %s: %s", service[:12], e)
            return
        with path.open("ab") as f:
            f.write(data)


def _free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on this machine right now (host-mode publishing needs a
    fixed port; a taken one on another host makes Swarm reject the task, with that reason)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("0.0.0.0", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()
