"""Hypothesis explores fault schedules against the real core; every choice is Hypothesis's.

The simulator's own seed is drawn by Hypothesis too, so an example is a pure function of the
drawn values: a failure shrinks to a short program of rules and replays from Hypothesis's
database. The invariants run inside every rule (the node driver checks as it persists and
applies); the teardown heals everything and demands a committed write within the bound.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from aspen.raft.ready import Role
from aspen.sim import partitions
from aspen.sim.client import ClientConfig
from aspen.sim.cluster import Cluster, SimConfig
from aspen.sim.network import NetConfig
from aspen.sim.run import LIVENESS_BOUND_NS
from aspen.sim.scheduler import NS_PER_MS

CLIENTS = 4
KEYS = ["k0", "k1"]


class RaftCluster(RuleBasedStateMachine):
    cluster: Cluster

    @initialize(
        seed=st.integers(0, 2**32 - 1),
        nodes=st.sampled_from([3, 5]),
        fsync_ns=st.sampled_from([0, 300_000, 3 * NS_PER_MS]),
        sm_sync=st.booleans(),
        snapshot_every=st.sampled_from([0, 4, 25]),
        keep_entries=st.sampled_from([0, 5]),
        jitter_ns=st.sampled_from([0, NS_PER_MS, 20 * NS_PER_MS]),
        background=st.booleans(),
    )
    def setup(
        self,
        seed: int,
        nodes: int,
        fsync_ns: int,
        sm_sync: bool,
        snapshot_every: int,
        keep_entries: int,
        jitter_ns: int,
        background: bool,
    ) -> None:
        self.cluster = Cluster(
            SimConfig(
                seed=seed,
                nodes=nodes,
                net=NetConfig(min_delay_ns=NS_PER_MS, mean_jitter_ns=jitter_ns),
                clients=ClientConfig(clients=CLIENTS, keys=len(KEYS)),
                fsync_ns=fsync_ns,
                sm_sync=sm_sync,
                snapshot_every=snapshot_every,
                keep_entries=keep_entries,
                context=f"hypothesis example, sim seed {seed}",
            )
        )
        if background:  # load from the clients' own seeded choices, besides client_op rules
            self.cluster.clients.start()
        self.cluster.run_for(1000 * NS_PER_MS)

    def ids(self, up: bool | None = None) -> list[int]:
        return [n.id for n in self.cluster.live() if up is None or n.up == up]

    # --- time and clients -----------------------------------------------------------------------

    @rule(ms=st.integers(1, 1500))
    def advance(self, ms: int) -> None:
        self.cluster.run_for(ms * NS_PER_MS)

    @rule(
        f=st.sampled_from(["read", "write", "cas"]),
        key=st.sampled_from(KEYS),
        pick=st.integers(0, 3),
        data=st.data(),
    )
    def client_op(self, f: str, key: str, pick: int, data: st.DataObject) -> None:
        idle = self.cluster.clients.idle_slots()
        up = self.ids(up=True)
        if not idle or not up:
            return
        slot = data.draw(st.sampled_from(idle), label="slot")
        leader = self.cluster.leader()
        choices = ([leader.id] if leader is not None else []) + up
        node = data.draw(st.sampled_from(choices), label="node")
        self.cluster.clients.invoke(slot, f, key, node_id=node, pick=pick)

    # --- faults ---------------------------------------------------------------------------------

    @rule(data=st.data())
    def partition(self, data: st.DataObject) -> None:
        nodes = self.ids()
        kind = data.draw(st.sampled_from(["split", "one-way", "links"]), label="kind")
        if kind == "split":
            side = data.draw(st.lists(st.sampled_from(nodes), unique=True, min_size=1), "side")
            rest = [n for n in nodes if n not in side]
            links = partitions.components([sorted(side), rest])
            text = f"split {sorted(side)} | {rest}"
        elif kind == "one-way":
            frm = data.draw(st.lists(st.sampled_from(nodes), unique=True, min_size=1), "from")
            links, text = partitions.one_way(sorted(frm), [n for n in nodes if n not in frm])
        else:
            all_links = [(a, b) for a in nodes for b in nodes if a != b]
            links = frozenset(data.draw(st.sets(st.sampled_from(all_links)), label="links"))
            text = "links"
        self.cluster.partition(links, text)

    @rule()
    def heal(self) -> None:
        self.cluster.heal()

    @rule(
        drop=st.sampled_from([0.0, 0.1, 0.5]),
        duplicate=st.sampled_from([0.0, 0.2]),
        reorder=st.sampled_from([0.0, 0.3]),
    )
    def lossy(self, drop: float, duplicate: float, reorder: float) -> None:
        self.cluster.set_loss(drop, duplicate, reorder)

    @rule(data=st.data(), rate=st.sampled_from([0.25, 0.5, 1.0, 2.0, 4.0]))
    def clock(self, data: st.DataObject, rate: float) -> None:
        self.cluster.skew_clock(data.draw(st.sampled_from(self.ids()), label="node"), rate)

    @precondition(lambda self: any(n.up for n in self.cluster.live()))
    @rule(data=st.data())
    def crash(self, data: st.DataObject) -> None:
        self.cluster.crash(data.draw(st.sampled_from(self.ids(up=True)), label="victim"))

    @precondition(lambda self: any(not n.up for n in self.cluster.live()))
    @rule(data=st.data())
    def restart(self, data: st.DataObject) -> None:
        self.cluster.restart(data.draw(st.sampled_from(self.ids(up=False)), label="node"))

    @precondition(lambda self: any(n.up for n in self.cluster.live()))
    @rule(data=st.data())
    def snapshot(self, data: st.DataObject) -> None:
        self.cluster.snapshot(data.draw(st.sampled_from(self.ids(up=True)), label="node"))

    @rule(data=st.data())
    def transfer(self, data: st.DataObject) -> None:
        leader = self.cluster.leader()
        if leader is None:
            return
        voters = sorted(leader.conf.voters - {leader.id})
        if voters:
            self.cluster.transfer(data.draw(st.sampled_from(voters), label="target"))

    @rule(data=st.data())
    def membership(self, data: st.DataObject) -> None:
        c = self.cluster
        conf = c.latest_conf()
        voters, learners = sorted(conf.voters), sorted(conf.learners)
        actions = ["add"] if len(c.live()) < c.config.nodes + 2 else []
        if learners:
            actions += ["promote", "replace"]
        if len(voters) > 1:
            actions.append("remove")
        if not actions:
            return
        action = data.draw(st.sampled_from(actions), label="action")
        if action == "add":
            c.add_learner()
        elif action == "promote":
            c.promote(data.draw(st.sampled_from(learners), label="learner"))
        elif action == "replace":
            old = data.draw(st.sampled_from(voters), label="old")
            c.replace(old, data.draw(st.sampled_from(learners), label="new"))
        else:
            c.remove(data.draw(st.sampled_from(voters), label="voter"))

    # --- checks ---------------------------------------------------------------------------------

    @invariant()
    def one_leader_per_term_among_live_nodes(self) -> None:
        if not hasattr(self, "cluster"):
            return
        seen: dict[int, int] = {}
        for n in self.cluster.up():
            if n.role is Role.LEADER:
                term = n.role_term
                assert seen.setdefault(term, n.id) == n.id, f"two leaders in term {term}"

    def teardown(self) -> None:
        if not hasattr(self, "cluster"):
            return
        c = self.cluster
        c.heal()
        c.restart_all()
        voters = c.latest_conf().voters
        c.clients.liveness_mark = c.sched.now
        deadline = c.sched.now + LIVENESS_BOUND_NS
        while c.clients.first_ok_after_mark is None and c.sched.now < deadline:
            idle = c.clients.idle_slots()
            if idle:
                c.clients.invoke(idle[0], "write", KEYS[0])
            c.run_for(50 * NS_PER_MS)
        assert c.clients.first_ok_after_mark is not None, (
            f"no write committed within {LIVENESS_BOUND_NS // NS_PER_MS} ms after healing "
            f"(voters {sorted(voters)}, seed {c.config.seed})"
        )


RaftCluster.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestRaftCluster = RaftCluster.TestCase


@pytest.mark.slow
class TestRaftClusterLong(RaftCluster.TestCase):  # type: ignore[valid-type,misc]
    """The same exploration, much longer (``nox -s slow``)."""

    settings = settings(
        max_examples=600,
        stateful_step_count=80,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
