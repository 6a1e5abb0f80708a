"""Simulated clients: K processes issuing reads, writes and CAS against the cluster.

Each process has at most one operation outstanding, as in Jepsen. Writes and CAS are proposals
to the node the process believes leads; reads use ``read_index`` (linearizable, no log entry).
Outcomes follow the lab's three-valued rule:

* ``ok``: the proposing node applied our entry (same index, same term, same bytes) and returned
  its result; a read is served once the node's applied index reaches the ReadState's index;
* ``fail``: it definitely did not happen: ``NotLeader`` / ``ProposalDropped`` before anything was
  proposed, a CAS whose expectation did not hold, a read that timed out (reads change nothing),
  or a *lost proposal*: some node applied a different entry at our index, so ours can never
  commit (clients never retry, and every written value is unique);
* ``info``: unknown (the client timed out). The process is then retired and a fresh process id
  takes its slot, because the operation may still take effect at any later time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aspen.kv import commands
from aspen.kv.commands import CommandResult
from aspen.raft.errors import NotLeader, ProposalDropped
from aspen.raft.messages import NONE, Entry
from aspen.sim.history import History
from aspen.sim.scheduler import NS_PER_MS, Scheduler

if TYPE_CHECKING:
    from aspen.sim.cluster import Cluster
    from aspen.sim.node import SimNode


@dataclass(slots=True)
class ClientConfig:
    clients: int = 5
    keys: int = 3
    timeout_ns: int = 1000 * NS_PER_MS
    think_ns: int = 20 * NS_PER_MS
    """Each process waits a uniform ``[0, think_ns]`` between operations."""
    mix: tuple[float, float, float] = (0.4, 0.4, 0.2)
    """Relative weights of read, write, cas."""


@dataclass(slots=True)
class Op:
    id: int
    slot: int
    process: int
    f: str
    key: str
    value: Any
    node: int
    epoch: int
    term: int = 0
    index: int = 0
    data: bytes = b""
    done: bool = False
    committed: bool = False
    """Some node applied it, but not (yet) the one that answers this client."""
    invoked: int = 0

    def value_written(self) -> str | None:
        return str(self.value[1]) if self.f == "cas" else str(self.value)


@dataclass(slots=True)
class ClientStats:
    invoked: int = 0
    ok: int = 0
    fail: int = 0
    info: int = 0
    lost: int = 0
    by_f: dict[str, int] = field(default_factory=dict)


def node_name(node_id: int) -> str:
    return f"n{node_id}"


class Clients:
    """The client processes of one run; they record the history as they go."""

    def __init__(
        self,
        cluster: Cluster,
        config: ClientConfig,
        rng: random.Random,
        history: History,
    ) -> None:
        self.cluster = cluster
        self.sched: Scheduler = cluster.sched
        self.config = config
        self.rng = rng
        self.history = history
        self.keys = [f"k{i}" for i in range(config.keys)]
        self.process = list(range(config.clients))
        self.hint = [NONE] * config.clients
        self.stats = ClientStats()
        self.running = False
        self._next_op = 0
        self._next_value = 0
        self._recent: dict[str, list[str | None]] = {k: [None] for k in self.keys}
        self._by_index: dict[int, list[Op]] = {}
        self._acked: dict[int, Op] = {}
        """Writes and CAS answered ok before any node committed their index (``_check_acked``)."""
        self._reads: dict[bytes, Op] = {}
        self._busy: list[Op | None] = [None] * config.clients
        self.liveness_mark: int | None = None
        self.first_ok_after_mark: int | None = None
        """When the first write/CAS invoked after ``liveness_mark`` was applied and answered."""

    def start(self) -> None:
        """Let every process issue random operations on its own, one after another."""
        self.running = True
        for slot in range(self.config.clients):
            self.sched.after(self.rng.randrange(self.config.think_ns + 1), self._issue, slot)

    def stop(self) -> None:
        """Issue no new operations (outstanding ones still complete or time out)."""
        self.running = False

    def idle_slots(self) -> list[int]:
        return [i for i, op in enumerate(self._busy) if op is None]

    # --- issuing --------------------------------------------------------------------------------

    def _issue(self, slot: int) -> None:
        if not self.running or self._busy[slot] is not None:
            return
        rng = self.rng
        read_w, write_w, cas_w = self.config.mix
        r = rng.random() * (read_w + write_w + cas_w)
        f = "read" if r < read_w else "write" if r < read_w + write_w else "cas"
        keys = self.keys
        key = keys[int(rng.random() * len(keys))]
        if not self.invoke(slot, f, key, pick=int(rng.random() * 4)):
            self.sched.after(self.config.timeout_ns // 10, self._issue, slot)

    def _pick_node(self, slot: int) -> SimNode | None:
        nodes = self.cluster.nodes
        hint = nodes.get(self.hint[slot])
        if hint is not None and hint.up:
            return hint
        up = [n for n in nodes.values() if n.up]
        return self.rng.choice(up) if up else None

    def invoke(
        self, slot: int, f: str, key: str, node_id: int | None = None, pick: int = 0
    ) -> bool:
        """Start one operation on process ``slot``; False if it is busy or no node is up.

        ``node_id`` picks the node (default: the process's leader hint, else a random up node);
        a CAS expects the ``pick``-th most recent value written to ``key`` (or absence).
        """
        if self._busy[slot] is not None:
            return False
        node = self._pick_node(slot) if node_id is None else self.cluster.nodes.get(node_id)
        if node is None or node.raw is None:
            return False
        self._next_op += 1
        op = Op(self._next_op, slot, self.process[slot], f, key, None, node.id, node.epoch)
        if f != "read":
            self._next_value += 1
            new = f"v{self._next_value}"
            if f == "write":
                op.value = new
                op.data = commands.encode(commands.Put(key, new))
            else:
                recent = self._recent[key]
                expected = recent[-1 - pick % len(recent)]
                op.value = [expected, new]
                op.data = commands.encode(commands.Cas(key, expected, new))
        self._busy[slot] = op
        self._record(op, "invoke", op.value)
        self.stats.invoked += 1
        self.stats.by_f[f] = self.stats.by_f.get(f, 0) + 1
        self.sched.after(self.config.timeout_ns, self._timeout, op)
        raw = node.core()
        try:
            if f == "read":
                ctx = b"r%d" % op.id
                self._reads[ctx] = op
                node.call(lambda r: r.read_index(ctx))
            else:
                op.index = node.call(lambda r: r.propose(op.data)) or 0
                op.term = raw.term
                self._by_index.setdefault(op.index, []).append(op)
                node.expect(op)
        except NotLeader as e:
            self._reads.pop(b"r%d" % op.id, None)
            self.hint[slot] = e.leader
            self._complete(op, "fail", "not-leader")
        except ProposalDropped:
            self._complete(op, "fail", "proposal-dropped")
        return True

    # --- outcomes -------------------------------------------------------------------------------

    def on_apply(self, node: SimNode, entry: Entry, result: CommandResult | None) -> None:
        """Any node applied ``entry``: what it tells the clients beyond their own node's answer
        (a different entry at their index is a lost proposal; ours, that it committed)."""
        if self._acked:
            acked = self._acked.pop(entry.index, None)
            if acked is not None:
                self._check_acked(acked, entry)
        ops = self._by_index.get(entry.index)
        if not ops:
            return
        for op in list(ops):
            if op.done:
                ops.remove(op)
            elif node.id == op.node and node.epoch == op.epoch:
                continue  # the proposing node answers it itself (``answer``/``replaced``)
            elif op.term != entry.term or op.data != entry.data:
                ops.remove(op)
                self._lost(op, entry)
            else:
                op.committed = True
        if not ops:
            del self._by_index[entry.index]

    def answer(self, node: SimNode, op: Op, entry: Entry, result: CommandResult | None) -> None:
        """The node ``op`` was proposed to applied its entry: the client hears the result."""
        if op.done:
            return
        if op.data != entry.data:
            self.cluster.inv.fail(
                f"n{node.id} applied {entry.data!r} at {entry.index} in term {entry.term}, "
                f"where it had proposed {op.data!r} in that term"
            )
        self._forget(op)
        mark = self.liveness_mark
        if mark is not None and op.invoked >= mark and self.first_ok_after_mark is None:
            self.first_ok_after_mark = self.sched.now
        if op.f == "cas" and result is not None and not result.ok:
            self._complete(op, "fail", "cas-mismatch")
            return
        self._complete(op, "ok")
        self._recent[op.key] = [*self._recent[op.key][-3:], op.value_written()]
        committed = self.cluster.inv.committed.get(op.index)
        if committed is None:
            self._acked[op.index] = op  # answered before any node committed it
        else:
            self._check_acked(op, committed)

    def _check_acked(self, op: Op, committed: Entry) -> None:
        """An acknowledged write must be the entry committed at its index: else the client was
        told ok about a write that never happened (a lost acknowledged write)."""
        if committed.term != op.term or committed.data != op.data:
            self.cluster.inv.fail(
                f"lost acknowledged write: {op.f} {op.key} {op.value!r} answered ok at index "
                f"{op.index} (term {op.term}), but the entry committed there is {committed}"
            )

    def replaced(self, op: Op, entry: Entry) -> None:
        """Another leader's entry took ``op``'s index on the node it was proposed to."""
        if not op.done:
            self._forget(op)
            self._lost(op, entry)

    def _forget(self, op: Op) -> None:
        ops = self._by_index.get(op.index)
        if ops is not None and op in ops:
            ops.remove(op)
            if not ops:
                del self._by_index[op.index]

    def _lost(self, op: Op, entry: Entry) -> None:
        self.stats.lost += 1
        self._complete(op, "fail", f"lost: index {op.index} holds term {entry.term}")

    def on_read(self, node: SimNode, context: bytes) -> None:
        op = self._reads.pop(context, None)
        if op is None or op.done:
            return
        if node.id != op.node or node.epoch != op.epoch:
            return
        op.value = node.kv.get(op.key)
        self._complete(op, "ok")

    def _timeout(self, op: Op) -> None:
        if op.done:
            return
        if op.f == "read":
            self._reads.pop(b"r%d" % op.id, None)
            self._complete(op, "fail", "timeout")
            return
        # The cluster may know better than the client: another entry committed at our index.
        committed = self.cluster.inv.committed.get(op.index)
        if committed is not None and (committed.term != op.term or committed.data != op.data):
            self.stats.lost += 1
            self._complete(op, "fail", f"lost: index {op.index} holds term {committed.term}")
        else:
            self._complete(op, "info", "timeout")

    def _complete(self, op: Op, type_: str, error: str | None = None) -> None:
        op.done = True
        self._busy[op.slot] = None
        self._record(op, type_, op.value, error)
        stats = self.stats
        if type_ == "ok":
            stats.ok += 1
            self.hint[op.slot] = op.node
        elif type_ == "fail":
            stats.fail += 1
        else:
            stats.info += 1
            self.process[op.slot] += self.config.clients
            self.hint[op.slot] = NONE
        if self.running:
            think = self.config.think_ns
            self.sched.after(int(self.rng.random() * think) if think else 0, self._issue, op.slot)

    def _record(self, op: Op, type_: str, value: Any, error: str | None = None) -> None:
        if type_ == "invoke":
            op.invoked = self.sched.now
        self.history.op(
            self.sched.now, op.process, type_, op.f, op.key, value, node_name(op.node), error
        )
