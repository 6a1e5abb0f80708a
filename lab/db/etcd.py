"""etcd (3.4, Debian's ``etcd-server``) as a lab database, beside Aspen.

Each node is one ``etcd`` process on the run's runtime, using the runtime's two ports per node:
``raft`` for etcd's peer URL and ``http`` for its client URL, so the runtimes that run Aspen run
etcd unchanged. Clients talk to etcd's JSON gateway (``/v3/kv/put``, ``/v3/kv/range``,
``/v3/kv/txn``): keys and values are base64, uint64 fields are strings, and a range is
linearizable unless it asks to be ``serializable``.

What etcd cannot do here: its peers learn each other's addresses from one shared
``--initial-cluster``, so peer links cannot go through per-link Toxiproxy proxies (``setup``
refuses a run whose ``ctx.net`` is a Toxiproxy `Network`; its links are faulted with nftables
instead, `lab.runtime.nftlinks`), and etcd 3.4 has no way to turn off fsync (``--fsync never``
is refused). A node added by ``add_learner`` joins with ``--initial-cluster-state existing``.

Locally each node runs the host's ``etcd``; under ``--runtime docker`` it runs in a container
of ``aspen-etcd:<hash>`` (`docker_image`: Debian's etcd on the Aspen node image).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import msgspec

from lab.context import RunContext
from lab.db.base import NodeStatus, agreed_leader
from lab.runtime.base import NodeCommand
from lab.workloads.base import Completion, Invocation
from lab.workloads.set import SET_KEY

SET_PREFIX = f"{SET_KEY}/"
_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode

NOT_APPLIED_CODES = frozenset({3, 5, 6, 7, 8, 9, 11, 12, 16})
"""gRPC codes (InvalidArgument, NotFound, AlreadyExists, PermissionDenied, ResourceExhausted,
FailedPrecondition, OutOfRange, Unimplemented, Unauthenticated) after which a write surely did
not happen. Anything else (Unavailable: "request timed out", "leader changed"; Unknown;
DeadlineExceeded) may have been applied."""


def b64(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode()


def unb64(text: str) -> str:
    return base64.b64decode(text).decode()


def revision(reply: Mapping[str, Any]) -> int | None:
    """The store revision a reply's header carries (the gRPC gateway writes int64s as strings):
    for a put or a successful txn the revision that made the change, for a linearizable range
    or a failed compare the revision the state was read at. etcd's own robustness tests order
    operations by it, as the checker does with Aspen's Raft indexes (`Op.revision`)."""
    raw = (reply.get("header") or {}).get("revision")
    try:
        return None if raw is None else int(raw)
    except (TypeError, ValueError):
        return None


def prefix_end(prefix: str) -> str:
    """etcd's range_end for "every key starting with ``prefix``" (last byte + 1), base64."""
    raw = bytearray(prefix.encode())
    while raw and raw[-1] == 0xFF:
        raw.pop()
    if not raw:
        return b64(b"\x00")
    raw[-1] += 1
    return b64(bytes(raw))


def etcd_binary() -> str:
    path = shutil.which("etcd")
    if path is None:
        raise RuntimeError("etcd is not on PATH (Debian: apt-get install etcd-server)")
    return path


class EtcdError(Exception):
    """etcd answered with an error (``status``, gRPC ``code``, message)."""

    def __init__(self, status: int, code: int | None, message: str) -> None:
        super().__init__(f"http {status}, grpc code {code}: {message}")
        self.status = status
        self.code = code


class EtcdHttp:
    """A minimal JSON-gateway client for one etcd member."""

    def __init__(self, http: str, *, timeout: float = 2.0) -> None:
        self.base = http if "://" in http else f"http://{http}"
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def call(self, path: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """POST ``body`` to ``path``; the decoded reply, or EtcdError / aiohttp errors."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        payload = _encode(dict(body or {}))
        async with self._session.post(self.base + path, data=payload) as resp:
            raw = await resp.read()
            status = resp.status
        try:
            reply = _decode(raw) if raw else {}
        except msgspec.DecodeError:
            reply = {"error": raw[:300].decode("utf-8", "replace")}
        if status != 200 or not isinstance(reply, dict):
            err = reply if isinstance(reply, dict) else {}
            code = err.get("code")
            message = str(err.get("message") or err.get("error") or raw[:300])
            raise EtcdError(status, code if isinstance(code, int) else None, message)
        return reply

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class EtcdClient:
    """The lab's client for etcd: read / write / cas on registers, add / read on the set.

    Outcomes: ``ok`` (a CAS whose compare failed too, as an observation:
    `Completion.compare_failed`); ``fail`` when the operation surely did not happen
    (connection refused, a read that did not answer, an error code in ``NOT_APPLIED_CODES``);
    ``info`` otherwise (a write that timed out may have been applied). Every ok register
    operation carries the store revision etcd answered with (`revision`), except serializable
    reads.
    """

    def __init__(self, http: str, *, timeout: float, stale_reads: bool) -> None:
        self._http = EtcdHttp(http, timeout=timeout)
        self._serializable = stale_reads

    async def invoke(self, inv: Invocation) -> Completion:
        is_read = inv.f == "read"
        try:
            return await self._invoke(inv)
        except aiohttp.ClientConnectorError as e:
            return Completion("fail", error=f"connect: {e}")
        except (TimeoutError, aiohttp.ClientError) as e:
            return Completion("fail" if is_read else "info", error=type(e).__name__)
        except EtcdError as e:
            surely_not = is_read or e.code in NOT_APPLIED_CODES
            return Completion("fail" if surely_not else "info", error=str(e))

    async def _invoke(self, inv: Invocation) -> Completion:
        key = inv.key or ""
        if inv.f == "read" and key == SET_KEY:
            reply = await self._range(
                {"key": b64(SET_PREFIX), "range_end": prefix_end(SET_PREFIX), "keys_only": True}
            )
            items = [int(unb64(kv["key"])[len(SET_PREFIX) :]) for kv in reply.get("kvs", [])]
            return Completion("ok", sorted(items))
        if inv.f == "read":
            reply = await self._range({"key": b64(key)})
            kvs = reply.get("kvs") or []
            value = unb64(kvs[0].get("value", "")) if kvs else None
            # A serializable read is served from one member's store, at no position in the
            # cluster's order: it gets no revision, so the search must place it.
            at = None if self._serializable else revision(reply)
            return Completion("ok", None if value is None else int(value), revision=at)
        if inv.f == "write":
            body = {"key": b64(key), "value": b64(str(inv.value))}
            reply = await self._http.call("/v3/kv/put", body)
            return Completion("ok", revision=revision(reply))
        if inv.f == "cas":
            expected, new = inv.value
            compare: dict[str, Any] = {"key": b64(key), "result": "EQUAL"}
            if expected is None:
                compare |= {"target": "CREATE", "create_revision": "0"}
            else:
                compare |= {"target": "VALUE", "value": b64(str(expected))}
            put = {"request_put": {"key": b64(key), "value": b64(str(new))}}
            reply = await self._http.call("/v3/kv/txn", {"compare": [compare], "success": [put]})
            if not reply.get("succeeded"):
                return Completion.compare_failed(revision=revision(reply))
            return Completion("ok", revision=revision(reply))
        if inv.f == "add":
            element = {"key": b64(f"{SET_PREFIX}{inv.value}"), "value": b64("1")}
            await self._http.call("/v3/kv/put", element)
            return Completion("ok")
        raise ValueError(f"etcd's lab client cannot perform {inv.f!r}")

    async def _range(self, body: dict[str, Any]) -> dict[str, Any]:
        if self._serializable:
            body = {**body, "serializable": True}
        return await self._http.call("/v3/kv/range", body)

    async def close(self) -> None:
        await self._http.close()


class EtcdDB:
    """etcd as a lab database (see the module docstring for what it cannot do)."""

    name = "etcd"
    peer_links = "direct"
    runtimes: tuple[str, ...] = ("local", "docker")
    unsupported_faults: Mapping[str, str] = {}

    def __init__(
        self,
        *,
        binary: str | None = None,
        heartbeat_ms: int = 100,
        election_ms: int = 1000,
        setup_timeout: float = 30.0,
    ) -> None:
        self.binary = binary
        self.heartbeat_ms = heartbeat_ms
        self.election_ms = election_ms
        self.setup_timeout = setup_timeout
        self._joining: dict[int, list[int]] = {}
        """Nodes added after setup -> the members they join (``--initial-cluster-state
        existing``)."""

    def docker_image(self, project_root: Path, log: Callable[[str], object]) -> str:
        """The image the Docker runtime runs etcd's nodes from (built if missing)."""
        from lab.runtime.etcd_image import ensure_etcd_image

        return ensure_etcd_image(project_root, log=log)

    # --- addresses ----------------------------------------------------------------------------

    def peer_url(self, ctx: RunContext, node: int) -> str:
        return f"http://{ctx.runtime.endpoint(node, 'raft').address}"

    def http(self, ctx: RunContext, node: int) -> str:
        return ctx.runtime.endpoint(node, "http").address

    def client_url(self, ctx: RunContext, node: int) -> str:
        return f"http://{self.http(ctx, node)}"

    def command(self, ctx: RunContext, node: int) -> NodeCommand:
        if ctx.node_options.fsync != "always":
            raise ValueError("etcd 3.4 always fsyncs; --fsync never is not available")
        peer = ctx.runtime.endpoint(node, "raft")
        client = ctx.runtime.endpoint(node, "http")
        members = self._joining.get(node, ctx.nodes)
        cluster = ",".join(f"n{n}={self.peer_url(ctx, n)}" for n in sorted({*members, node}))
        argv = [
            self.binary or ("etcd" if ctx.runtime.name != "local" else etcd_binary()),
            "--name", f"n{node}",
            "--data-dir", ctx.runtime.data_dir(node),
            "--listen-peer-urls", f"http://{peer.bind_address}",
            "--initial-advertise-peer-urls", f"http://{peer.address}",
            "--listen-client-urls", f"http://{client.bind_address}",
            "--advertise-client-urls", f"http://{client.address}",
            "--initial-cluster", cluster,
            "--initial-cluster-state", "existing" if node in self._joining else "new",
            "--initial-cluster-token", ctx.run_id[:64],
            "--heartbeat-interval", str(self.heartbeat_ms),
            "--election-timeout", str(self.election_ms),
            "--logger", "zap",
            "--log-outputs", "stderr",
            *ctx.node_options.extra_args,
        ]  # fmt: skip
        return NodeCommand(argv=argv, env={})

    # --- lifecycle ----------------------------------------------------------------------------

    def start_node(
        self, ctx: RunContext, node_id: int, env: Mapping[str, str] | None = None
    ) -> None:
        cmd = self.command(ctx, node_id)
        ctx.runtime.start(node_id, NodeCommand(cmd.argv, {**cmd.env, **(env or {})}))

    async def setup(self, ctx: RunContext) -> None:
        from lab.net import Network

        if isinstance(ctx.net, Network):
            raise ValueError("etcd peer links cannot go through per-link proxies (ctx.net)")
        for node in ctx.nodes:
            self.start_node(ctx, node)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.setup_timeout
        probe = EtcdClient(self.http(ctx, ctx.nodes[0]), timeout=2.0, stale_reads=False)
        try:
            for node in ctx.nodes:
                while await self.status(ctx, node) is None:
                    self._check_alive(ctx, node)
                    if loop.time() > deadline:
                        raise TimeoutError(f"etcd node {node} did not start serving in time")
                    await asyncio.sleep(0.1)
            while True:
                done = await probe.invoke(Invocation("write", "\u0001lab-setup-probe", 1))
                if done.type == "ok":
                    break
                if loop.time() > deadline:
                    raise TimeoutError(f"etcd cluster formed but writes fail: {done.error}")
                await asyncio.sleep(0.1)
        finally:
            await probe.close()
        ctx.log.info("etcd cluster of %d nodes serving", len(ctx.nodes))

    def _check_alive(self, ctx: RunContext, node: int) -> None:
        code = ctx.runtime.exit_code(node)
        if code is not None:
            log = ctx.runtime.log_path(node)
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"etcd node {node} exited with {code} during setup:\n{tail}")

    async def teardown(self, ctx: RunContext) -> None:
        for node in ctx.nodes:
            await asyncio.to_thread(ctx.runtime.stop, node, 5.0)

    # --- views --------------------------------------------------------------------------------

    async def _members(self, http: EtcdHttp) -> list[dict[str, Any]]:
        reply = await http.call("/v3/cluster/member/list")
        return list(reply.get("members", []))

    @staticmethod
    def _node_of(member: Mapping[str, Any]) -> int | None:
        name = str(member.get("name", ""))
        return int(name[1:]) if name.startswith("n") and name[1:].isdigit() else None

    async def status(self, ctx: RunContext, node_id: int) -> NodeStatus | None:
        http = EtcdHttp(self.http(ctx, node_id), timeout=1.0)
        try:
            st = await http.call("/v3/maintenance/status")
            # a learner serves no member list ("rpc not supported for learner"): ask a voter
            members = None if st.get("isLearner") else await self._members(http)
        except (TimeoutError, aiohttp.ClientError, EtcdError):
            return None
        finally:
            await http.close()
        if members is None:
            try:
                reply = await self._any(ctx, "/v3/cluster/member/list", {})
            except RuntimeError:
                return None
            members = list(reply.get("members", []))
        ids = {str(m.get("ID")): self._node_of(m) for m in members}
        me = str(st.get("header", {}).get("member_id"))
        leader = ids.get(str(st.get("leader"))) or 0
        voters = frozenset(n for m in members if (n := self._node_of(m)) and not m.get("isLearner"))
        learners = frozenset(n for m in members if (n := self._node_of(m)) and m.get("isLearner"))
        role = "leader" if str(st.get("leader")) == me else "follower"
        if st.get("isLearner") or node_id in learners:
            role = "learner"
        return NodeStatus(
            node_id=node_id,
            role=role,
            term=int(st.get("raftTerm", 0)),
            leader=leader,
            commit=int(st.get("raftIndex", 0)),
            applied=int(st.get("raftAppliedIndex", st.get("raftIndex", 0))),
            voters=voters,
            learners=learners,
            extra={"version": st.get("version"), "db_size": int(st.get("dbSize", 0))},
        )

    async def leader(self, ctx: RunContext) -> int | None:
        return agreed_leader(await asyncio.gather(*(self.status(ctx, n) for n in ctx.nodes)))

    def client(self, ctx: RunContext, node_id: int, *, stale_reads: bool = False) -> EtcdClient:
        return EtcdClient(self.http(ctx, node_id), timeout=2.0, stale_reads=stale_reads)

    # --- membership ---------------------------------------------------------------------------

    async def _any(self, ctx: RunContext, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Send a cluster call to the first member that answers."""
        error: Exception = RuntimeError("no etcd member answered")
        for node in ctx.nodes:
            http = EtcdHttp(self.http(ctx, node), timeout=5.0)
            try:
                return await http.call(path, body)
            except (TimeoutError, aiohttp.ClientError, EtcdError) as e:
                error = e
            finally:
                await http.close()
        raise RuntimeError(f"{path} failed: {error}")

    async def _member_id(self, ctx: RunContext, node_id: int) -> str:
        members = (await self._any(ctx, "/v3/cluster/member/list", {})).get("members", [])
        for m in members:
            if self._node_of(m) == node_id or self.peer_url(ctx, node_id) in m.get("peerURLs", []):
                return str(m["ID"])
        raise RuntimeError(f"node {node_id} is not an etcd member")

    async def _reconfigure(self, ctx: RunContext, path: str, body: Mapping[str, Any]) -> None:
        """A member change, retried while etcd refuses it: it reconfigures only once every
        member has been connected for 5 s ("unhealthy cluster"), e.g. just after a restart."""
        for _attempt in range(80):
            try:
                await self._any(ctx, path, body)
                return
            except RuntimeError as e:
                if "unhealthy cluster" not in str(e):
                    raise
                await asyncio.sleep(0.25)
        raise RuntimeError(f"{path}: the cluster stayed unhealthy for 20 s")

    async def remove_member(self, ctx: RunContext, node_id: int) -> None:
        """Remove the member (etcd then stops the removed node's process by itself)."""
        member = await self._member_id(ctx, node_id)
        await self._reconfigure(ctx, "/v3/cluster/member/remove", {"ID": member})

    async def add_learner(self, ctx: RunContext, node_id: int) -> None:
        """Add ``node_id`` as a learner and start it joining the current members."""
        members = (await self._any(ctx, "/v3/cluster/member/list", {})).get("members", [])
        current = [n for m in members if (n := self._node_of(m)) is not None]
        body = {"peerURLs": [self.peer_url(ctx, node_id)], "isLearner": True}
        await self._reconfigure(ctx, "/v3/cluster/member/add", body)
        self._joining[node_id] = current
        with contextlib.suppress(Exception):
            ctx.runtime.stop(node_id, grace=1.0)
        # a removed member's data says it was removed: it must join as a new member, empty
        ctx.runtime.wipe(node_id)
        self.start_node(ctx, node_id)

    async def promote(self, ctx: RunContext, node_ids: Sequence[int]) -> None:
        for node_id in node_ids:
            member = await self._member_id(ctx, node_id)
            for _attempt in range(40):
                try:
                    await self._any(ctx, "/v3/cluster/member/promote", {"ID": member})
                    break
                except RuntimeError:
                    await asyncio.sleep(0.25)  # the learner may still be catching up
            else:
                raise RuntimeError(f"promoting node {node_id} failed")
