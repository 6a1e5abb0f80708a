"""Linearizable reads with ReadIndex (Raft thesis §6.4): the leader confirms it still leads by a
heartbeat round before answering, and a new leader first commits an entry of its own term."""

from __future__ import annotations

import pytest

from aspen.raft import NotLeader, RaftError, ReadState, Role
from aspen.raft.messages import (
    AppendEntriesResponse,
    Heartbeat,
    HeartbeatResponse,
)
from tests.raft.harness import Network


def leader3() -> Network:
    net = Network(3)
    net.elect(1)
    net.delivered.clear()
    return net


def test_read_confirmed_by_heartbeat_quorum() -> None:
    net = leader3()
    net.propose(1, b"a")
    commit = net.nodes[1].commit
    net.nodes[1].read_index(b"r1")
    net.send()
    beats = [m for m in net.delivered if isinstance(m, Heartbeat) and m.context == b"r1"]
    assert {m.to for m in beats} == {2, 3}
    assert net.read_states[1] == [ReadState(commit, b"r1")]


def test_no_read_without_quorum() -> None:
    net = leader3()
    net.cut(1, 2)
    net.cut(1, 3)
    net.nodes[1].read_index(b"r1")
    net.send()
    assert net.read_states[1] == []
    net.recover()
    net.tick(1)  # the next heartbeat carries the last pending context again
    assert net.read_states[1] == [ReadState(2, b"r1")]


def test_one_ack_releases_every_earlier_read_in_order() -> None:
    net = leader3()
    net.ignore(HeartbeatResponse)
    net.nodes[1].read_index(b"a")
    net.propose(1, b"x")
    net.nodes[1].read_index(b"b")
    net.send()
    assert net.read_states[1] == []
    net.recover()
    net.tick(1)
    assert net.read_states[1] == [ReadState(2, b"a"), ReadState(3, b"b")]


def test_duplicate_context_is_served_once() -> None:
    net = leader3()
    net.ignore(HeartbeatResponse)
    net.nodes[1].read_index(b"a")
    net.nodes[1].read_index(b"a")
    net.send()
    net.recover()
    net.tick(1)
    assert net.read_states[1] == [ReadState(2, b"a")]


def test_new_leader_serves_no_read_before_own_term_commit() -> None:
    net = Network(3)
    net.ignore(AppendEntriesResponse)  # the new leader's no-op cannot commit yet
    net.elect(1)
    noop = net.nodes[1].raft.log.last_index()
    assert net.nodes[1].commit < noop
    net.nodes[1].read_index(b"r")
    net.send()
    assert not [m for m in net.delivered if isinstance(m, Heartbeat) and m.context]
    assert net.read_states[1] == []
    net.recover()
    net.tick(1)
    assert net.nodes[1].commit >= noop
    assert net.read_states[1] == [ReadState(noop, b"r")]


def test_single_voter_reads_at_once() -> None:
    net = Network(1)
    net.elect(1)
    net.propose(1, b"a")
    net.nodes[1].read_index(b"r")
    rd = net.nodes[1].ready()
    assert rd.read_states == [ReadState(3, b"r")]
    assert rd.messages == []


def test_read_index_needs_the_leader() -> None:
    net = leader3()
    with pytest.raises(NotLeader) as exc:
        net.nodes[2].read_index(b"r")
    assert exc.value.leader == 1
    with pytest.raises(RaftError):
        net.nodes[1].read_index(b"")


def test_deposed_leader_cannot_serve_stale_reads() -> None:
    net = Network(3)
    net.elect(1)
    net.isolate(1)
    net.nodes[1].read_index(b"stale")  # it still believes it leads
    net.send()
    net.elapse(30)  # 2 or 3 wins; node 1 steps down by check-quorum
    new = net.leader()
    assert new in (2, 3)
    index = net.propose(new, b"w")
    net.recover()
    net.elapse(3)
    assert net.read_states[1] == []  # the read died with the leadership
    net.nodes[new].read_index(b"fresh")
    net.send()
    assert net.read_states[new] == [ReadState(index, b"fresh")]


def test_heartbeat_and_response_placement() -> None:
    net = leader3()
    where: dict[type, set[str]] = {}

    def spy(node: int, rd: object) -> None:
        for attr in ("messages", "persisted_messages"):
            for m in getattr(rd, attr):
                where.setdefault(type(m), set()).add(attr)

    net.on_ready = spy  # type: ignore[assignment]
    net.nodes[1].read_index(b"r")
    net.send()
    assert where[Heartbeat] == {"messages"}
    assert where[HeartbeatResponse] == {"persisted_messages"}
    assert net.nodes[1].role is Role.LEADER
