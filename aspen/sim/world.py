"""The production node code — ``RaftDriver`` and ``AspenService`` — run deterministically.

The simulator proper (``aspen.sim.cluster``) runs the pure core through the shared Ready
processor; the asyncio code around it in production (group commit, proposal outcomes,
ReadIndex reads, timeouts, the service the HTTP handlers call) runs only here. A ``World``
wires N nodes the way ``aspen.node.server`` does, in one process, on a
:class:`~aspen.sim.vloop.VirtualLoop`, with:

* storage: ``MemoryNodeStorage``, written inline (``InlineExecutor``). It is the node's disk:
  a crash closes the driver (its tasks end, its waiters get ``UnknownOutcomeError``) and a
  restart builds a new core, driver and service over the same storage object.
* network: :class:`Network`, a seeded delay per message, FIFO per directed link, messages
  dropped on links a partition cuts (when sent, and again when they would arrive) or sent to
  a node that is down. Messages cross as wire frames (``aspen.wire.codec``), and enter
  through ``RaftDriver.step``, as the TCP transport's ``on_message`` does.
* clients: coroutines calling ``put`` / linearizable ``get`` / ``cas`` on the node they believe
  leads, recording the lab's JSONL history (``aspen.sim.history``): ``ok`` (a CAS whose
  expectation did not hold is ``ok`` with the value ``false``, an observation, as the lab
  records it); ``fail`` for ``NotLeaderError``, ``UnavailableError`` and
  ``InvalidRequestError``; ``info`` for ``UnknownOutcomeError`` and client timeouts.
* nemesis: partitions (isolate one node) and crash/restart, from the same seeded RNG.

Every choice comes from one ``random.Random(seed)`` and every instant from the virtual clock,
so ``run_world(seed, seconds)`` is a pure function: the trace's SHA-256 proves it.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aspen.config import NodeConfig, PeerSpec
from aspen.node.assembly import core_factory, make_driver, make_service
from aspen.node.driver import RaftDriver
from aspen.node.kv_service import AspenService
from aspen.node.memstore import MemoryNodeStorage
from aspen.node.peers import AddressBook
from aspen.node.service import (
    Consistency,
    InvalidRequestError,
    NotLeaderError,
    PeerAddress,
    UnavailableError,
    UnknownOutcomeError,
)
from aspen.raft import ConfState, Entry, Message, Role
from aspen.raft.errors import InvariantViolation
from aspen.sim.history import History, Trace
from aspen.sim.vloop import InlineExecutor, run
from aspen.wire.codec import Control, FrameDecoder, encode

NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class WorldConfig:
    """The shape of a world; the seed decides everything that happens in it."""

    nodes: int = 3
    clients: int = 3
    keys: int = 2
    faults: bool = True
    fault_fraction: float = 0.6
    """Faults start only in this first part of the run; then all heal and clients go on."""
    min_delay: float = 0.0005
    jitter: float = 0.005
    """Each message takes ``min_delay + U(0, jitter)`` seconds (FIFO per link still holds)."""
    client_timeout: float = 5.0
    """Longer than the service's own timeouts (3 s), so those answer first."""
    think: float = 0.05
    snapshot_threshold: int = 64
    """Low, so runs snapshot, compact and send InstallSnapshot to a node that fell behind."""


@dataclass(frozen=True, slots=True)
class WorldResult:
    """What a run returns: equal results for equal ``run_world`` arguments."""

    seed: int
    seconds: float
    history_jsonl: str
    trace_digest: str
    ok: int
    fail: int
    info: int
    ok_after_heal: int
    """Ops invoked after the last fault healed that completed ok (liveness)."""
    faults: int
    messages_sent: int
    messages_dropped: int
    fatal: str | None
    """The first fatal error of any node (``repr``): a ``driver.fatal`` (a broken invariant,
    a failed write), or the error a restart refused to start with."""


StorageFactory = Callable[[int], MemoryNodeStorage]


class Network:
    """Moves messages between drivers with seeded delays; ``cut`` holds the dead links."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        rng: random.Random,
        config: WorldConfig,
        trace: Trace,
        deliver: Callable[[Message], None],
    ) -> None:
        self._loop = loop
        self._rng = rng
        self._config = config
        self._trace = trace
        self._deliver = deliver
        self._last: dict[tuple[int, int], float] = {}
        self._decoders: dict[tuple[int, int], FrameDecoder] = {}
        self.cut: set[tuple[int, int]] = set()
        self.sent = 0
        self.dropped = 0

    def send(self, msg: Message) -> None:
        self.sent += 1
        link = (msg.frm, msg.to)
        if link in self.cut:
            self.dropped += 1
            return
        c = self._config
        at = self._loop.time() + c.min_delay + self._rng.random() * c.jitter
        # Strictly after the link's previous message: equal times would leave the order to
        # the timer heap, which does not keep insertion order.
        at = max(at, self._last.get(link, 0.0) + 1e-7)
        self._last[link] = at
        self._trace.log(_now(self._loop), f"send {msg.frm}>{msg.to} {type(msg).__name__}")
        self._loop.call_at(at, self._arrive, link, encode(msg))

    def _arrive(self, link: tuple[int, int], frame: bytes) -> None:
        """Decode as the receiving connection would (one decoder per link: a stream)."""
        if link in self.cut:
            self.dropped += 1
            return
        decoder = self._decoders.get(link)
        if decoder is None:
            decoder = self._decoders[link] = FrameDecoder()
        for msg in decoder.feed(frame):
            assert not isinstance(msg, Control), msg  # only Raft messages are ever sent
            self._deliver(msg)

    def isolate(self, node_id: int, ids: Sequence[int]) -> None:
        for other in ids:
            if other != node_id:
                self.cut |= {(node_id, other), (other, node_id)}

    def heal(self) -> None:
        self.cut.clear()


class _Transport:
    """What the driver needs of ``PeerTransport``: ``send`` and ``stats``."""

    def __init__(self, network: Network) -> None:
        self._network = network

    def send(self, msg: Message) -> None:
        self._network.send(msg)

    def stats(self) -> dict[str, Any]:
        return {"sent": self._network.sent, "dropped": self._network.dropped}


class WorldNode:
    """One node: its durable storage, and while up a core, a driver and a service."""

    def __init__(self, config: NodeConfig, storage: MemoryNodeStorage, world: World) -> None:
        self.config = config
        self.id = config.node_id
        self.storage = storage
        self._world = world
        self.driver: RaftDriver | None = None
        self.service: AspenService | None = None
        self.fatal: BaseException | None = None

    @property
    def up(self) -> bool:
        return self.driver is not None

    def start(self, bootstrap: ConfState | None = None) -> None:
        """Build core, driver and service as the server does (`aspen.node.assembly`)."""
        c, storage = self.config, self.storage
        build_core = core_factory(c, storage, random.Random(self._world.rng.getrandbits(64)))
        peers = AddressBook(c.node_id, {p.id: PeerAddress(p.raft, p.http) for p in c.peers})
        self.driver = make_driver(
            c,
            build_core,
            storage,
            _Transport(self._world.network),
            leader_address=peers.address,
            on_applied=self._on_applied,
            executor=InlineExecutor(),
        )
        self.service = make_service(c, self.driver, storage, peers, "world")
        self.driver.start()
        if bootstrap is not None:
            self.driver.bootstrap(bootstrap)

    def restart(self) -> None:
        """Start again from storage. A core that finds its storage breaking Raft refuses to
        start (the process would exit non-zero): the node stays down, the error is kept."""
        try:
            self.start()
        except InvariantViolation as e:
            self.driver = self.service = None
            self.fatal = self.fatal or e

    async def crash(self) -> None:
        """Lose everything but storage: the driver's tasks end, its waiters learn nothing."""
        driver, self.driver, self.service = self.driver, None, None
        if driver is not None:
            await driver.close()
            self.fatal = self.fatal or driver.fatal

    def step(self, msg: Message) -> None:
        if self.driver is not None:
            self.driver.step(msg)

    def _on_applied(self, entries: Sequence[Entry]) -> None:
        w = self._world
        w.trace.log(_now(w.loop), f"n{self.id} applied {entries[0].index}..{entries[-1].index}")


class World:
    """N production nodes, their network, clients and nemesis, on one virtual loop.

    Built inside the running :class:`~aspen.sim.vloop.VirtualLoop` (``run_world`` does it):
    the network schedules deliveries on that loop's timers."""

    def __init__(
        self,
        seed: int,
        seconds: float,
        config: WorldConfig = WorldConfig(),
        storage: StorageFactory = lambda _id: MemoryNodeStorage(),
    ) -> None:
        self.seed = seed
        self.seconds = seconds
        self.config = config
        self.rng = random.Random(seed)
        self.loop = asyncio.get_running_loop()
        self.trace = Trace()
        self.history = History()
        self.network = Network(self.loop, self.rng, config, self.trace, self._deliver)
        ids = list(range(1, config.nodes + 1))
        specs = tuple(PeerSpec(i, f"n{i}:7000", f"n{i}:8000") for i in ids)
        data_dir = Path(tempfile.gettempdir())  # only its free space is read (by the service)
        self.nodes = {
            i: WorldNode(
                NodeConfig(
                    node_id=i,
                    data_dir=data_dir,
                    cluster_id="world",
                    peers=specs,
                    snapshot_threshold=config.snapshot_threshold,
                ),
                storage(i),
                self,
            )
            for i in ids
        }
        self.counts = {"ok": 0, "fail": 0, "info": 0}
        self.ok_after_heal = 0
        self.faults = 0
        self.healed_at: float | None = None if config.faults else 0.0
        self._written: dict[str, list[str]] = {}
        self._values = 0

    async def run(self) -> WorldResult:
        conf = ConfState(voters=frozenset(self.nodes))
        for node in self.nodes.values():
            node.start(bootstrap=conf)
        end = self.loop.time() + self.seconds
        tasks = [
            asyncio.create_task(self._client(slot, end)) for slot in range(self.config.clients)
        ]
        if self.config.faults:
            tasks.append(asyncio.create_task(self._nemesis(end * self.config.fault_fraction)))
        await asyncio.gather(*tasks)
        for node in self.nodes.values():
            await node.crash()  # closes the drivers: collects their fatal errors
        fatal = next((repr(n.fatal) for n in self.nodes.values() if n.fatal is not None), None)
        return WorldResult(
            seed=self.seed,
            seconds=self.seconds,
            history_jsonl=self.history.to_jsonl(),
            trace_digest=self.trace.digest(),
            ok_after_heal=self.ok_after_heal,
            faults=self.faults,
            messages_sent=self.network.sent,
            messages_dropped=self.network.dropped,
            fatal=fatal,
            **self.counts,
        )

    def _deliver(self, msg: Message) -> None:
        node = self.nodes.get(msg.to)
        if node is None or not node.up:
            self.network.dropped += 1  # nobody listens: as a TCP connection refused
            return
        node.step(msg)

    def _note(self, f: str, value: str) -> None:
        now = _now(self.loop)
        self.history.nemesis(now, f, value)
        self.trace.log(now, f"nemesis {f} {value}")

    # --- nemesis ------------------------------------------------------------------------------

    async def _nemesis(self, until: float) -> None:
        """Isolate a node or crash it, one fault at a time, until ``until``; then all heal.

        The leader is the victim more often than chance would make it: faults elsewhere
        barely touch the clients, who all talk to the leader."""
        rng, ids = self.rng, sorted(self.nodes)
        while True:
            await asyncio.sleep(0.5 + rng.random() * 2.0)
            if self.loop.time() >= until:
                break
            leaders = [i for i in ids if self._leads(i)]
            pick = leaders[0] if leaders and rng.random() < 0.6 else rng.choice(ids)
            victim = self.nodes[pick]
            lasts = 0.5 + rng.random() * 5.0
            self.faults += 1
            if rng.random() < 0.5:
                self.network.isolate(victim.id, ids)
                self._note("start-partition", f"isolate n{victim.id}")
                await asyncio.sleep(lasts)
                self.network.heal()
                self._note("stop-partition", "all links healed")
            else:
                self._note("crash", f"n{victim.id}")
                await victim.crash()
                await asyncio.sleep(lasts)
                victim.restart()
                self._note("restart", f"n{victim.id}" + (" failed" if not victim.up else ""))
        self.healed_at = self.loop.time()

    def _leads(self, node_id: int) -> bool:
        driver = self.nodes[node_id].driver
        return driver is not None and driver.node.role is Role.LEADER

    # --- clients ------------------------------------------------------------------------------

    async def _client(self, slot: int, end: float) -> None:
        """One client process: an operation at a time until ``end``; a new process id after
        an unknown outcome (the lab's rule: a process never has two operations open)."""
        rng, loop = self.rng, self.loop
        process, hint = slot, 0
        while loop.time() < end:
            await asyncio.sleep(rng.random() * self.config.think)
            up = [n for _, n in sorted(self.nodes.items()) if n.up]
            if not up:
                continue
            hinted = self.nodes.get(hint)
            node = hinted if hinted is not None and hinted.up else rng.choice(up)
            f = rng.choice(("read", "write", "cas"))
            key = f"k{rng.randrange(self.config.keys)}"
            value = self._value_for(f, key)
            invoked = loop.time()
            self._op(process, "invoke", f, key, value, node.id)
            type_, result, error, hint = await self._call(node, f, key, value)
            self._op(process, type_, f, key, result, node.id, error)
            self.counts[type_] += 1
            if type_ == "ok" and self.healed_at is not None and invoked >= self.healed_at:
                self.ok_after_heal += 1
            if type_ == "info":
                process += self.config.clients

    def _value_for(self, f: str, key: str) -> Any:
        if f == "read":
            return None
        self._values += 1
        new = f"v{self._values}"
        written = self._written.setdefault(key, [])
        if f == "write":
            written.append(new)
            return new
        recent: list[str | None] = [None, *written[-3:]]
        expected = recent[-1 - self.rng.randrange(len(recent))]
        written.append(new)
        return [expected, new]

    async def _call(
        self, node: WorldNode, f: str, key: str, value: Any
    ) -> tuple[str, Any, str | None, int]:
        """(type, value, error, leader hint) for one operation on ``node``'s service."""
        service = node.service
        assert service is not None
        timeout = self.config.client_timeout
        try:
            if f == "read":
                r = await asyncio.wait_for(service.get(key, Consistency.LINEARIZABLE), timeout)
                return "ok", r.value, None, node.id
            if f == "write":
                await asyncio.wait_for(service.put(key, value), timeout)
                return "ok", value, None, node.id
            c = await asyncio.wait_for(service.cas(key, value[0], value[1]), timeout)
            # A compare that failed is an observation (the lab's `false` output): the register
            # did not hold the expected value at some point in the call.
            return "ok", (value if c.ok else False), None, node.id
        except NotLeaderError as e:
            return "fail", value, "not-leader", e.leader_id
        except (UnavailableError, InvalidRequestError) as e:
            return "fail", value, f"{type(e).__name__}: {e}", 0
        except UnknownOutcomeError as e:
            return "info", value, f"unknown: {e}", 0
        except TimeoutError:
            return "info", value, "client timeout", 0

    def _op(
        self,
        process: int,
        type_: str,
        f: str,
        key: str,
        value: Any,
        node_id: int,
        error: str | None = None,
    ) -> None:
        now = _now(self.loop)
        self.history.op(now, process, type_, f, key, value, f"n{node_id}", error)
        self.trace.log(now, f"p{process} {type_} {f} {key} {value!r} n{node_id} {error}")


def _now(loop: asyncio.AbstractEventLoop) -> int:
    return round(loop.time() * NS)


def run_world(
    seed: int,
    seconds: float,
    config: WorldConfig = WorldConfig(),
    storage: StorageFactory = lambda _id: MemoryNodeStorage(),
) -> WorldResult:
    """Run a fresh world for ``seconds`` of virtual time; the same arguments, the same bytes."""

    async def main() -> WorldResult:
        return await World(seed, seconds, config, storage).run()

    return run(main())


__all__ = ["Network", "World", "WorldConfig", "WorldNode", "WorldResult", "run_world"]
