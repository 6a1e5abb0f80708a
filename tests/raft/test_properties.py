"""Raft's safety properties (Raft §5.2, §5.4, Figure 3) under schedules Hypothesis explores:
messages delivered in any order, dropped or duplicated, nodes ticking at different rates,
crashing and restarting with their disks, snapshots, membership changes and transfers.

Every choice comes from Hypothesis, so a failure shrinks to a short, replayable program.
"""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from aspen.raft import ConfChange, RaftError, Role
from aspen.raft import ConfChangeKind as K
from tests.raft.harness import Network

NODES = (1, 2, 3)


class RaftSafety(RuleBasedStateMachine):
    CONFIG: dict[str, bool] = {}

    def __init__(self) -> None:
        super().__init__()
        self.net = Network(
            3,
            election_tick=4,
            max_entries_per_msg=4,
            max_inflight_msgs=3,
            snapshot_chunk_size=8,
            **self.CONFIG,
        )
        self.net.add_node(4)  # a spare that membership changes may bring in
        self.net.collect()
        self.leaders: dict[int, int] = {}
        """term -> the one node that led it (Election Safety)."""
        self.applied: dict[int, tuple[int, bytes]] = {}
        """index -> (term, data) of the entry applied there by anyone (State Machine Safety)."""
        self.counter = 0

    # --- inputs -------------------------------------------------------------------------------

    @initialize(node=st.sampled_from((0, *NODES)))
    def start(self, node: int) -> None:
        """Usually begin with an elected leader (node 0: start leaderless)."""
        if node:
            self.net.nodes[node].campaign()
            self.net.collect()
            self.stabilize()

    @rule(node=st.sampled_from((*NODES, 4)), times=st.integers(1, 5))
    def tick(self, node: int, times: int) -> None:
        if node in self.net.nodes:
            for _ in range(times):
                self.net.nodes[node].tick()
            self.net.collect()

    @rule(node=st.sampled_from((*NODES, 4)))
    def campaign(self, node: int) -> None:
        if node in self.net.nodes:
            self.net.nodes[node].campaign()
            self.net.collect()

    @precondition(lambda self: self.net.in_flight)
    @rule(data=st.data())
    def deliver(self, data: st.DataObject) -> None:
        i = data.draw(st.integers(0, len(self.net.in_flight) - 1), label="message")
        self.net.deliver(i)

    @precondition(lambda self: self.net.in_flight)
    @rule(data=st.data())
    def deliver_in_order(self, data: st.DataObject) -> None:
        n = data.draw(st.integers(1, 20), label="count")
        for _ in range(min(n, len(self.net.in_flight))):
            self.net.deliver(0)

    @rule()
    def stabilize(self) -> None:
        """Deliver until the network is quiet (a calm period lets elections and commits end)."""
        for _ in range(1000):
            if not self.net.in_flight:
                break
            self.net.deliver(0)

    @precondition(lambda self: self.net.in_flight)
    @rule(data=st.data())
    def drop(self, data: st.DataObject) -> None:
        i = data.draw(st.integers(0, len(self.net.in_flight) - 1), label="message")
        self.net.in_flight.pop(i)

    @precondition(lambda self: self.net.in_flight)
    @rule(data=st.data())
    def duplicate(self, data: st.DataObject) -> None:
        i = data.draw(st.integers(0, len(self.net.in_flight) - 1), label="message")
        self.net.in_flight.append(self.net.in_flight[i])

    @rule(node=st.sampled_from(NODES), count=st.integers(1, 3))
    def propose(self, node: int, count: int) -> None:
        n = self.net.nodes.get(node)
        if n is None or n.role is not Role.LEADER:
            return
        with contextlib.suppress(RaftError):
            for _ in range(count):
                self.counter += 1
                n.propose(b"c%d" % self.counter)
        self.net.collect()

    @rule(node=st.sampled_from((*NODES, 4)))
    def crash_restart(self, node: int) -> None:
        if node in self.net.nodes:
            self.net.restart(node)
            self.net.collect()

    @rule(node=st.sampled_from((*NODES, 4)))
    def snapshot(self, node: int) -> None:
        if node in self.net.nodes and self.net.sms[node].applied > 0:
            self.net.snapshot(node)

    @rule(
        node=st.sampled_from(NODES),
        change=st.sampled_from(
            [
                ConfChange(((K.ADD_LEARNER, 4),)),
                ConfChange(((K.ADD_VOTER, 4),)),
                ConfChange(((K.REMOVE, 4),)),
                ConfChange(((K.REMOVE, 3),)),
                ConfChange(((K.ADD_VOTER, 3),)),
                ConfChange(((K.REMOVE, 2), (K.ADD_VOTER, 4))),
            ]
        ),
    )
    def change_membership(self, node: int, change: ConfChange) -> None:
        n = self.net.nodes.get(node)
        if n is None or n.role is not Role.LEADER:
            return
        with contextlib.suppress(RaftError):
            n.propose_membership(change)
        self.net.collect()

    @rule(node=st.sampled_from(NODES), to=st.sampled_from((*NODES, 4)))
    def transfer(self, node: int, to: int) -> None:
        n = self.net.nodes.get(node)
        if n is None or n.role is not Role.LEADER:
            return
        with contextlib.suppress(RaftError):
            n.transfer_leadership(to)
        self.net.collect()

    # --- the properties -----------------------------------------------------------------------

    @invariant()
    def election_safety(self) -> None:
        """At most one leader can be elected in a given term."""
        for node, n in self.net.nodes.items():
            if n.role is Role.LEADER:
                assert self.leaders.setdefault(n.term, node) == node, (n.term, self.leaders)

    @invariant()
    def state_machine_safety(self) -> None:
        """No two nodes ever apply different entries at the same index."""
        for node, sm in self.net.sms.items():
            log = self.net.nodes[node].raft.log if node in self.net.nodes else None
            for rd in self.net.readies.get(node, []):
                for e in rd.committed_entries:
                    seen = self.applied.setdefault(e.index, (e.term, e.data))
                    assert seen == (e.term, e.data), (node, e, seen)
            self.net.readies[node] = []
            assert log is None or log.applied <= log.committed
            assert sm.applied >= 0

    @invariant()
    def log_matching(self) -> None:
        """Two logs with an entry of the same index and term agree on everything before it."""
        logs = {}
        for node, n in self.net.nodes.items():
            log = n.raft.log
            lo = log.first_index()
            logs[node] = {e.index: e.term for e in log.slice(lo, log.last_index() + 1)}
        nodes = sorted(logs)
        for i, a in enumerate(nodes):
            for b in nodes[i + 1 :]:
                common = sorted(set(logs[a]) & set(logs[b]), reverse=True)
                same = next((x for x in common if logs[a][x] == logs[b][x]), None)
                if same is None:
                    continue
                for x in common:
                    if x <= same:
                        assert logs[a][x] == logs[b][x], (a, b, x)

    @invariant()
    def leader_completeness(self) -> None:
        """A leader holds every entry committed in an earlier term (Raft §5.4).

        An entry applied at index i was committed at the latest when an entry of the highest
        term applied at or after i was: leaders of later terms must have it.
        """
        committed_by: dict[int, int] = {}
        highest = 0
        for index in sorted(self.applied, reverse=True):
            highest = max(highest, self.applied[index][0])
            committed_by[index] = highest
        for n in self.net.nodes.values():
            if n.role is not Role.LEADER:
                continue
            log = n.raft.log
            first = log.first_index()
            for index, (term, _) in self.applied.items():
                if committed_by[index] < n.term and index >= first:
                    assert log.term(index) == term, (n.id, index)


class RaftSafetyWithoutPreVoteOrLease(RaftSafety):
    """The same properties with plain elections: terms race and leaders get deposed more."""

    CONFIG = {"pre_vote": False, "check_quorum": False}


SETTINGS = settings(
    max_examples=50,
    stateful_step_count=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestRaftSafety = RaftSafety.TestCase
TestRaftSafety.settings = SETTINGS
TestRaftSafetyWithoutPreVoteOrLease = RaftSafetyWithoutPreVoteOrLease.TestCase
TestRaftSafetyWithoutPreVoteOrLease.settings = SETTINGS
