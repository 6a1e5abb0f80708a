"""A whole Raft cluster in one process, on simulated time, with faults on demand.

:class:`Cluster` owns the scheduler, the network, the nodes, the clients, the invariant checker,
the history and the trace, and offers the nemesis's verbs: ``partition``/``heal``, ``crash``/
``restart``, lossy or duplicating links, membership changes (``add_learner``, ``promote``,
``remove``, ``replace``), ``transfer``, forced ``snapshot`` and clock skew (``skew_clock``). A
crash drops every message in flight *to* the node (its connections die with it); what it sent
before crashing still arrives. Every random choice descends from one ``random.Random(seed)``;
nodes live in a dict keyed by id (insertion order), so a run is a pure function of its
configuration.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aspen.kv.commands import CommandResult
from aspen.raft import RaftConfig
from aspen.raft.errors import InvariantViolation, RaftError
from aspen.raft.messages import (
    AppendEntries,
    ConfChange,
    ConfChangeKind,
    ConfState,
    Entry,
    EntryKind,
    InstallSnapshot,
    Message,
)
from aspen.raft.ready import Role
from aspen.raft.ready_processor import ReadyProcessor
from aspen.raft.storage import MemoryStorage
from aspen.sim.client import ClientConfig, Clients, Op
from aspen.sim.history import History, Trace
from aspen.sim.invariants import Invariants
from aspen.sim.network import Link, NetConfig, Network
from aspen.sim.node import NodeHost, NodeOptions, SimNode

if TYPE_CHECKING:
    from aspen.sim.node import SimProcessor
from aspen.sim.partitions import describe
from aspen.sim.scheduler import NS_PER_MS, Scheduler


def replay_command(seed: int, steps: int, nodes: int, faults: str) -> str:
    return f"nox -s sim -- --seed {seed} --steps {steps} --nodes {nodes} --faults {faults}"


@dataclass(slots=True)
class SimConfig:
    """Everything that defines a run besides its fault schedule."""

    seed: int = 0
    nodes: int = 3
    tick_ms: int = 10
    raft: RaftConfig = field(default_factory=lambda: RaftConfig(id=1))
    net: NetConfig = field(default_factory=NetConfig)
    clients: ClientConfig = field(default_factory=ClientConfig)
    fsync_ns: int = 0
    sm_sync: bool = True
    snapshot_every: int = 0
    keep_entries: int = 0
    trace_keep: bool = False
    trace_messages: bool = False
    context: str = ""
    """What a safety violation prints first (the replay command)."""
    processor: type[SimProcessor] = ReadyProcessor
    """What handles the nodes' Readies (see ``NodeOptions.processor``)."""


@dataclass(slots=True)
class ClusterStats:
    leaders_elected: int = 0
    faults: int = 0
    crashes: int = 0
    restarts: int = 0
    conf_changes_applied: int = 0
    transfers: int = 0


class Cluster(NodeHost):
    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.sched = Scheduler()
        self.tick_ns = config.tick_ms * NS_PER_MS
        self.history = History()
        self.trace = Trace(keep=config.trace_keep, messages=config.trace_messages)
        self.inv = Invariants(config.context or f"seed={config.seed}", self._leaders)
        self.net = Network(self.sched, self._child_rng(), self._deliver, self._epoch_of, config.net)
        self.options = NodeOptions(
            raft=config.raft,
            fsync_ns=config.fsync_ns,
            sm_sync=config.sm_sync,
            snapshot_every=config.snapshot_every,
            keep_entries=config.keep_entries,
            processor=config.processor,
        )
        self.nodes: dict[int, SimNode] = {}
        self.stats = ClusterStats()
        self.next_id = 1
        self.clients = Clients(self, config.clients, self._child_rng(), self.history)
        self.nemesis_rng = self._child_rng()
        self._members_ever: frozenset[int] = frozenset()
        self.delivered_by_type: dict[str, int] = {}
        self.entries_delivered = 0
        self.tick_interval: dict[int, int] = {}
        """Per-node tick period when its clock runs fast or slow (default ``tick_ns``)."""
        """Log entries carried by delivered AppendEntries (batching = this / their count)."""
        voters = [self._new_node() for _ in range(config.nodes)]
        conf = ConfState(voters=frozenset(n.id for n in voters))
        for n in voters:
            self._start(n, bootstrap=conf)

    def _child_rng(self) -> random.Random:
        return random.Random(self.rng.getrandbits(64))

    # --- NodeHost -------------------------------------------------------------------------------

    def send(self, msg: Message) -> None:
        self.net.send(msg)

    def _epoch_of(self, node_id: int) -> int:
        node = self.nodes.get(node_id)
        return node.epoch if node is not None else -1

    def _deliver(self, msg: Message, epoch: int) -> None:
        node = self.nodes.get(msg.to)
        if node is None or node.raw is None or node.epoch != epoch:
            self.net.stats.dropped_dead += 1
            self._unreachable(msg)
            return
        self.net.stats.delivered += 1
        name = type(msg).__name__
        self.delivered_by_type[name] = self.delivered_by_type.get(name, 0) + 1
        if name == "AppendEntries":
            self.entries_delivered += len(msg.entries)  # type: ignore[union-attr]
        if self.trace.messages:
            self.trace.log(self.sched.now, f"deliver {msg!r}")
        node.step(msg)

    def _unreachable(self, msg: Message) -> None:
        """A connection-oriented transport would notice a replication message did not get
        through: tell the sender's core a tick later (``report_unreachable``)."""
        if isinstance(msg, AppendEntries | InstallSnapshot):
            sender = self.nodes.get(msg.frm)
            if sender is not None and sender.raw is not None:
                self.sched.after(
                    self.tick_ns, self._report_unreachable, sender, sender.epoch, msg.to
                )

    def _report_unreachable(self, node: SimNode, epoch: int, peer: int) -> None:
        if node.epoch == epoch and node.raw is not None:
            node.call(lambda r: r.report_unreachable(peer))

    def on_role(self, node: SimNode, role: Role, term: int) -> None:
        self.trace.log(self.sched.now, f"n{node.id} {role.value} term {term}")
        if role is Role.LEADER:
            self.stats.leaders_elected += 1
            self.inv.on_leader(node.id, term, node.storage)

    def on_apply(self, node: SimNode, entry: Entry, result: CommandResult | None) -> None:
        if entry.kind is EntryKind.CONF_CHANGE:
            self.stats.conf_changes_applied += 1
            self.trace.log(self.sched.now, f"n{node.id} applied conf {entry.index}: {node.conf}")
            self._retire_removed(node)
        self.clients.on_apply(node, entry, result)

    def on_answer(self, node: SimNode, op: Op, entry: Entry, result: CommandResult | None) -> None:
        self.clients.answer(node, op, entry, result)

    def on_replaced(self, node: SimNode, op: Op, entry: Entry) -> None:
        self.clients.replaced(op, entry)

    def on_read(self, node: SimNode, context: bytes) -> None:
        self.clients.on_read(node, context)

    def _leaders(self) -> Iterator[tuple[int, int, MemoryStorage]]:
        for n in self.nodes.values():
            if n.raw is not None and n.role is Role.LEADER:
                yield n.id, n.role_term, n.storage

    # --- nodes ----------------------------------------------------------------------------------

    def _new_node(self) -> SimNode:
        node = SimNode(self.next_id, self, self.options, self._child_rng())
        self.nodes[node.id] = node
        self.next_id += 1
        return node

    def _start(self, node: SimNode, bootstrap: ConfState | None = None) -> None:
        node.start(bootstrap)
        phase = self.nemesis_rng.randrange(self.tick_ns)
        self.sched.after(phase, self._tick, node, node.epoch)

    def _tick(self, node: SimNode, epoch: int) -> None:
        if node.epoch != epoch or node.raw is None:
            return
        node.tick()
        self.sched.after(self.tick_interval.get(node.id, self.tick_ns), self._tick, node, epoch)

    def snapshots_installed(self) -> int:
        """Snapshots received from a leader and installed, over all nodes."""
        return sum(n.snapshots_installed for n in self.nodes.values())

    def live(self) -> list[SimNode]:
        """Nodes that are not retired (up or down), in id order."""
        return [n for n in self.nodes.values() if not n.retired]

    def up(self) -> list[SimNode]:
        return [n for n in self.nodes.values() if n.raw is not None]

    def leader(self) -> SimNode | None:
        """The up node that believes it leads, in the highest term."""
        best: SimNode | None = None
        for n in self.nodes.values():
            if (
                n.raw is not None
                and n.role is Role.LEADER
                and (best is None or n.role_term > best.role_term)
            ):
                best = n
        return best

    def latest_conf(self) -> ConfState:
        """The configuration of the node that has applied the most (what the cluster is)."""
        best = max(self.live(), key=lambda n: n.kv.applied if n.up else n.durable_sm.applied)
        return best.conf if best.up else best.durable_sm.conf_state

    def _retire_removed(self, applier: SimNode) -> None:
        """Once a leader applies a (non-joint) configuration, nodes it dropped stop for good."""
        conf = applier.conf
        members = conf.all_nodes()
        self._members_ever |= members
        if conf.joint or applier.role is not Role.LEADER:
            return
        for n in self.live():
            if n.id not in members and n.id in self._members_ever:
                n.crash()
                n.retired = True
                self.trace.log(self.sched.now, f"n{n.id} retired (removed from {conf})")

    # --- running --------------------------------------------------------------------------------

    def run_for(self, ns: int) -> None:
        self.sched.run_until(self.sched.now + ns)

    def nemesis(self, f: str, value: str) -> None:
        self.stats.faults += 1
        self.history.nemesis(self.sched.now, f, value)
        self.trace.log(self.sched.now, f"nemesis {f} {value}")

    def partition(self, links: frozenset[Link], description: str) -> None:
        """Replace the current partition with ``links`` blocked."""
        self.net.blocked = links
        self.nemesis("start-partition", f"{description}: {describe(links)}")

    def heal(self) -> None:
        """Unblock every link; stop random loss, duplication and reordering; fix clocks."""
        self.net.heal()
        self.tick_interval.clear()
        cfg = self.net.config
        cfg.drop = cfg.duplicate = cfg.reorder = 0.0
        self.nemesis("stop-partition", "all links healed")

    def set_loss(self, drop: float, duplicate: float, reorder: float) -> None:
        cfg = self.net.config
        cfg.drop, cfg.duplicate, cfg.reorder = drop, duplicate, reorder
        self.nemesis(
            "start-loss", f"drop={drop:.2f} duplicate={duplicate:.2f} reorder={reorder:.2f}"
        )

    def skew_clock(self, node_id: int, rate: float) -> None:
        """``node_id``'s ticks come ``rate`` times as often (1.0 restores its clock)."""
        if rate == 1.0:
            self.tick_interval.pop(node_id, None)
        else:
            self.tick_interval[node_id] = max(1, int(self.tick_ns / rate))
        self.nemesis("clock", f"n{node_id} ticks at {rate:g}x")

    def crash(self, node_id: int) -> bool:
        node = self.nodes[node_id]
        if node.raw is None or node.retired:
            return False
        node.crash()
        self.stats.crashes += 1
        self.nemesis("crash", f"n{node_id}")
        return True

    def restart(self, node_id: int) -> bool:
        node = self.nodes[node_id]
        if node.raw is not None or node.retired:
            return False
        self._start(node)
        node.restarts += 1
        self.stats.restarts += 1
        self.inv.on_restart(node.id, node.storage)
        self.nemesis("restart", f"n{node_id}")
        return True

    def restart_all(self) -> None:
        for n in self.live():
            if n.raw is None:
                self.restart(n.id)

    def snapshot(self, node_id: int) -> bool:
        """Make ``node_id`` snapshot its state machine now and compact its log."""
        node = self.nodes[node_id]
        if node.raw is None:
            return False
        node.take_snapshot()
        self.nemesis("snapshot", f"n{node_id} at {node.storage.snapshot().meta.index}")
        return True

    def transfer(self, target: int) -> bool:
        leader = self.leader()
        if leader is None:
            return False
        try:
            leader.call(lambda r: r.transfer_leadership(target))
        except InvariantViolation:
            raise
        except RaftError as e:
            self.nemesis("transfer-leadership", f"n{leader.id} -> n{target} refused: {e}")
            return False
        self.stats.transfers += 1
        self.nemesis("transfer-leadership", f"n{leader.id} -> n{target}")
        return True

    def change_membership(self, changes: tuple[tuple[ConfChangeKind, int], ...]) -> bool:
        """Propose ``changes`` on the leader; False (and a nemesis note) if it refused."""
        leader = self.leader()
        text = ", ".join(f"{k.name.lower()} n{n}" for k, n in changes)
        if leader is None:
            self.nemesis("membership", f"{text}: no leader")
            return False
        try:
            leader.call(lambda r: r.propose_membership(ConfChange(changes)))
        except InvariantViolation:
            raise
        except RaftError as e:
            self.nemesis("membership", f"{text} on n{leader.id} refused: {e}")
            return False
        self.nemesis("membership", f"{text} proposed on n{leader.id}")
        return True

    def add_learner(self) -> int | None:
        """Start a fresh node and propose it as a learner; its id, or None if refused."""
        node = self._new_node()
        if not self.change_membership(((ConfChangeKind.ADD_LEARNER, node.id),)):
            del self.nodes[node.id]
            self.next_id -= 1
            return None
        self._start(node)
        return node.id

    def promote(self, learner: int) -> bool:
        return self.change_membership(((ConfChangeKind.ADD_VOTER, learner),))

    def remove(self, node_id: int) -> bool:
        return self.change_membership(((ConfChangeKind.REMOVE, node_id),))

    def replace(self, old: int, new: int) -> bool:
        """One joint change: ``new`` becomes a voter while ``old`` leaves."""
        return self.change_membership(
            ((ConfChangeKind.ADD_VOTER, new), (ConfChangeKind.REMOVE, old))
        )
