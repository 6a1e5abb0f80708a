"""Impossible peer messages are rejected before they touch state, counted, and never fatal
(issue #13 item 1); the node's own broken invariants are a different error nobody catches."""

from __future__ import annotations

import contextlib
import inspect
import re
from collections.abc import Mapping

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aspen.raft import (
    ConfState,
    Entry,
    EntryKind,
    InvariantViolation,
    PeerProtocolError,
    RaftError,
    Role,
    Snapshot,
    SnapshotMeta,
    validate,
)
from aspen.raft.messages import (
    AppendEntries,
    AppendEntriesResponse,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    InstallSnapshotResponse,
    Message,
    RequestVote,
    RequestVoteResponse,
    TimeoutNow,
)
from aspen.raft.snapshot_transfer import SnapshotSender
from tests.raft.harness import Network, make_node, outbox

CC = EntryKind.CONF_CHANGE


def nonzero(counts: Mapping[str, int]) -> dict[str, int]:
    return {k: v for k, v in counts.items() if v}


def test_every_check_is_counted_from_zero() -> None:
    node, _ = make_node(1)
    raised = set(re.findall(r'_bad\("([a-z_]+)"', inspect.getsource(validate)))
    assert set(validate.CHECKS) == raised
    assert dict(node.rejected) == dict.fromkeys(validate.CHECKS, 0)


def _leader_net() -> Network:
    net = Network(3)
    net.elect(1)
    net.propose(1, b"x")
    return net


def _leader_fingerprint(net: Network) -> tuple[object, ...]:
    st = net.nodes[1].status()
    return (st.term, st.role, st.commit, tuple(sorted(st.progress.items())))


def _rejected_by_leader(net: Network, m: Message, kind: str) -> None:
    """``m`` is refused with ``kind``, counted once, and the leader's state did not move."""
    node = net.nodes[1]
    before = _leader_fingerprint(net)
    count = node.rejected.get(kind, 0)
    with pytest.raises(PeerProtocolError) as info:
        node.step(m)
    assert info.value.kind == kind
    assert node.rejected[kind] == count + 1
    assert _leader_fingerprint(net) == before
    # ... and the cluster still works: a proposal commits and the leader keeps its log sane.
    net.send()
    index = net.propose(1, b"after")
    assert node.role is Role.LEADER
    assert all(n.commit >= index for n in net.nodes.values())


def test_ack_beyond_the_leaders_last_index_is_rejected() -> None:
    # The live crash: an ack of 10**9 moved ``next`` past the log end; the next send raised.
    net = _leader_net()
    term = net.nodes[1].term
    _rejected_by_leader(net, AppendEntriesResponse(term, 2, 1, 10**9), "index_beyond_log")


def test_reject_of_an_index_beyond_the_log_is_rejected() -> None:
    net = _leader_net()
    term = net.nodes[1].term
    m = AppendEntriesResponse(term, 2, 1, 10**9, True, 0, 0)
    _rejected_by_leader(net, m, "index_beyond_log")


def test_reject_hint_beyond_the_rejected_index_is_rejected() -> None:
    net = _leader_net()
    term = net.nodes[1].term
    m = AppendEntriesResponse(term, 2, 1, 1, True, 10**9, 1)
    _rejected_by_leader(net, m, "hint_beyond_rejected")


def test_hint_term_beyond_the_message_term_is_rejected() -> None:
    net = _leader_net()
    term = net.nodes[1].term
    m = AppendEntriesResponse(term, 2, 1, 1, True, 1, term + 5)
    _rejected_by_leader(net, m, "future_log_term")


@pytest.mark.parametrize(
    "make",
    [
        lambda t: HeartbeatResponse(t + 1, 2, 1),
        lambda t: InstallSnapshotResponse(t + 1, 2, 1, 1, 0),
        lambda t: RequestVoteResponse(t + 1, 2, 1, True),
        lambda t: RequestVoteResponse(t + 2, 2, 1, True, pre_vote=True),
    ],
    ids=["heartbeat-response", "snapshot-response", "granted-vote", "granted-pre-vote"],
)
def test_future_term_on_an_answer_is_rejected_not_an_election(make: object) -> None:
    # An answer echoes the term of a request we sent: from our future it is forged. Stepping
    # down for it would let anyone depose the leader with one frame.
    net = _leader_net()
    m = make(net.nodes[1].term)  # type: ignore[operator]
    _rejected_by_leader(net, m, "future_term")


def test_future_term_timeout_now_does_not_start_an_election() -> None:
    node, storage = make_node(1, log_terms=[1], term=1)
    with pytest.raises(PeerProtocolError) as info:
        node.step(TimeoutNow(9, 2, 1))
    assert info.value.kind == "future_term"
    assert node.term == 1 and node.role is Role.FOLLOWER
    assert outbox(node, storage) == []


def test_a_rejected_answer_at_a_higher_term_still_deposes_the_leader() -> None:
    # The legitimate case the checks must leave alone: a stale leader learns the new term.
    net = _leader_net()
    term = net.nodes[1].term
    net.nodes[1].step(AppendEntriesResponse(term + 1, 2, 1, 0))
    assert net.nodes[1].role is Role.FOLLOWER and net.nodes[1].term == term + 1
    assert nonzero(net.nodes[1].rejected) == {}


def test_snapshot_response_beyond_the_log_is_rejected() -> None:
    net = _leader_net()
    term = net.nodes[1].term
    m = InstallSnapshotResponse(term, 2, 1, 10**9, 0, done=True)
    _rejected_by_leader(net, m, "index_beyond_log")


@pytest.mark.parametrize(
    ("m", "kind"),
    [
        (AppendEntries(1, 2, 3, 1, 1, (), 1), "wrong_recipient"),
        (InstallSnapshot(1, 2, 3, SnapshotMeta(5, 1), 0, b"", True), "wrong_recipient"),
        (Heartbeat(1, 0, 1, 0), "bad_sender"),
        (Heartbeat(1, 1, 1, 0), "bad_sender"),
        (RequestVote(2, 2, 1, 9, 7), "future_log_term"),
        (AppendEntries(2, 2, 1, 1, 3, (), 1), "future_log_term"),
        (AppendEntries(2, 2, 1, 1, 1, (Entry(1, 3),), 1), "gap"),
        (AppendEntries(2, 2, 1, 1, 1, (Entry(2, 2), Entry(1, 3)), 1), "future_log_term"),
        (AppendEntries(2, 2, 1, 1, 1, (Entry(5, 2),), 1), "future_log_term"),
        (AppendEntries(2, 2, 1, 1, 1, (Entry(2, 2, CC, b"\x07" * 9),), 1), "bad_conf_change"),
        (AppendEntries(2, 2, 1, 1, 1, (Entry(2, 2, CC, b"\x00"),), 1), "bad_conf_change"),
        (InstallSnapshot(2, 2, 1, SnapshotMeta(9, 4), 0, b"", True), "future_log_term"),
        (
            InstallSnapshot(
                2,
                2,
                1,
                SnapshotMeta(9, 1, ConfState(frozenset({1, 2}), frozenset({2}))),
                0,
                b"",
                True,
            ),
            "bad_conf_state",
        ),
    ],
    ids=[
        "append-for-another-node",
        "snapshot-for-another-node",
        "sender-none",
        "sender-is-us",
        "vote-log-term-from-the-future",
        "append-prev-term-from-the-future",
        "append-with-a-gap",
        "append-terms-go-down",
        "append-entry-term-beyond-message",
        "append-conf-change-bad-kind",
        "append-conf-change-truncated",
        "snapshot-term-beyond-message",
        "snapshot-voter-and-learner",
    ],
)
def test_impossible_message_on_a_follower_changes_nothing(m: Message, kind: str) -> None:
    node, storage = make_node(1, log_terms=[1], term=1)
    before = node.status()
    with pytest.raises(PeerProtocolError) as info:
        node.step(m)
    assert info.value.kind == kind
    assert nonzero(node.rejected) == {kind: 1}
    assert node.status() == before
    assert outbox(node, storage) == []


def test_error_split_peer_errors_are_raft_errors_invariants_are_not() -> None:
    # ``except RaftError`` (a driver dropping a bad message) must never swallow our own bug.
    assert issubclass(PeerProtocolError, RaftError)
    assert not issubclass(InvariantViolation, RaftError)


def test_snapshot_ack_beyond_the_snapshot_is_rejected() -> None:
    net = _leader_net()
    leader = net.nodes[1]
    pr = leader.raft.tracker.progress[2]
    snap = Snapshot(SnapshotMeta(1, 1, leader.conf_state), b"abc")
    pr.become_snapshot(1, SnapshotSender(snap, 1, 4))
    term = leader.term
    with pytest.raises(PeerProtocolError) as info:
        leader.step(InstallSnapshotResponse(term, 2, 1, 1, 99))
    assert info.value.kind == "offset_beyond_snapshot"
    assert pr.sender is not None and pr.sender.acked == 0
    leader.step(InstallSnapshotResponse(term, 2, 1, 1, 3))  # the whole of it: fine
    assert pr.sender.acked <= 3 and nonzero(leader.rejected) == {"offset_beyond_snapshot": 1}


_INDEX = st.one_of(st.integers(0, 12), st.just(10**9), st.integers(0, 2**63 - 1))
_TERM_DELTA = st.one_of(st.just(0), st.integers(-2, 3), st.integers(0, 2**40))
"""Mostly the leader's own term (what its handlers act on), sometimes any other."""


@st.composite
def _answer(draw: st.DrawFn, term: int) -> Message:
    """Any message a peer could address to the leader, fields arbitrary (forged or not)."""
    t = max(0, term + draw(_TERM_DELTA))
    frm = draw(st.sampled_from((2, 3)))
    kind = draw(st.sampled_from(("aer", "hbr", "isr", "rvr", "tn")))
    if kind == "aer":
        return AppendEntriesResponse(
            t, frm, 1, draw(_INDEX), draw(st.booleans()), draw(_INDEX), draw(_INDEX)
        )
    if kind == "hbr":
        return HeartbeatResponse(t, frm, 1, draw(st.binary(max_size=8)))
    if kind == "isr":
        return InstallSnapshotResponse(
            t, frm, 1, draw(_INDEX), draw(_INDEX), draw(st.booleans()), draw(st.booleans())
        )
    if kind == "rvr":
        return RequestVoteResponse(t, frm, 1, draw(st.booleans()), draw(st.booleans()))
    return TimeoutNow(t, frm, 1)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_no_answer_a_peer_can_forge_kills_the_leader(data: st.DataObject) -> None:
    """Whatever answers arrive, the core either takes them or rejects them: it never raises
    anything else, and the cluster still elects a leader that commits."""
    net = _leader_net()
    for _ in range(data.draw(st.integers(1, 6))):
        m = data.draw(_answer(net.nodes[1].term))
        with contextlib.suppress(PeerProtocolError):
            net.nodes[1].step(m)
        net.send()
        net.elapse(1)
    lead = net.wait_leader()
    index = net.propose(lead, b"still-works")
    net.elapse(5)
    assert sum(n.commit >= index for n in net.nodes.values()) >= 2


@st.composite
def _request(draw: st.DrawFn, term: int, last: int) -> Message:
    """Any message a (forged) leader or candidate could send a follower, fields arbitrary."""
    t = max(0, term + draw(_TERM_DELTA))
    small = st.integers(0, last + 3)
    kind = draw(st.sampled_from(("ae", "hb", "is", "rv", "tn")))
    if kind == "ae":
        prev = draw(small)
        specs = draw(
            st.lists(
                st.tuples(
                    st.integers(0, t + 1), st.sampled_from(EntryKind), st.binary(max_size=10)
                ),
                max_size=4,
            )
        )
        # Well-formed forged membership changes are left out: a follower cannot tell them from
        # real ones (that takes peer authentication); malformed ones must be rejected.
        specs = [(et, k, d + b"\x00" if k is CC and len(d) % 9 == 0 else d) for et, k, d in specs]
        ents = tuple(Entry(et, prev + 1 + i, k, d) for i, (et, k, d) in enumerate(specs))
        return AppendEntries(t, 2, 1, prev, draw(st.integers(0, t + 1)), ents, draw(_INDEX))
    if kind == "hb":
        return Heartbeat(t, 2, 1, draw(_INDEX))
    if kind == "is":
        voters = draw(st.frozensets(st.integers(1, 4), max_size=3))
        learners = draw(st.frozensets(st.integers(1, 4), max_size=2))
        meta = SnapshotMeta(draw(small), draw(st.integers(0, t + 1)), ConfState(voters, learners))
        data = draw(st.binary(max_size=4))
        return InstallSnapshot(t, 2, 1, meta, draw(st.integers(0, 6)), data, draw(st.booleans()))
    if kind == "rv":
        return RequestVote(t, 2, 1, draw(_INDEX), draw(st.integers(0, t + 1)), draw(st.booleans()))
    return TimeoutNow(t, 2, 1)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_no_request_a_peer_can_forge_breaks_a_followers_invariants(data: st.DataObject) -> None:
    """A forged leader can feed a follower lies the follower cannot detect (that needs peer
    authentication), but nothing it sends may make the follower's core raise anything but a
    rejection: no InvariantViolation, no storage error, whatever the fields say."""
    node, storage = make_node(1, log_terms=[1, 1, 2, 2], term=2, commit=2)
    for _ in range(data.draw(st.integers(1, 8))):
        m = data.draw(_request(node.term, node.raft.log.last_index()))
        with contextlib.suppress(PeerProtocolError):
            node.step(m)
        outbox(node, storage)
