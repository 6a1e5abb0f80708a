"""Log replication (Raft §5.3, §5.4): batching, pipelining, follower states, fast backtracking,
and the commit rule of Figure 8."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import replace

import pytest

from aspen.raft import RaftError, Role
from aspen.raft.messages import (
    AppendEntries,
    AppendEntriesResponse,
    Heartbeat,
    HeartbeatResponse,
    Message,
)
from tests.raft.harness import Network, make_storage


def appends(msgs: list[Message], frm: int, to: int) -> list[AppendEntries]:
    return [m for m in msgs if isinstance(m, AppendEntries) and m.frm == frm and m.to == to]


def leader_net(**config: object) -> Network:
    net = Network(3, **config)  # type: ignore[arg-type]
    net.elect(1)
    net.delivered.clear()
    return net


# --- batching ------------------------------------------------------------------------------------


def test_many_proposals_share_one_append_per_follower() -> None:
    net = leader_net()
    for i in range(20):
        net.nodes[1].propose(b"%d" % i)
    net.send()
    sent = appends(net.delivered, 1, 2)
    assert [len(m.entries) for m in sent if m.entries] == [20]
    assert net.nodes[2].commit == 22


def test_batches_are_capped_by_entry_count() -> None:
    net = leader_net(max_entries_per_msg=3)
    for i in range(10):
        net.nodes[1].propose(b"%d" % i)
    net.send()
    assert [len(m.entries) for m in appends(net.delivered, 1, 2) if m.entries] == [3, 3, 3, 1]
    assert net.sms[2].data == [b"%d" % i for i in range(10)]


def test_batches_are_capped_by_bytes() -> None:
    size = 1000 + 24  # Entry.size() of a 1000-byte command
    net = leader_net(max_size_per_msg=2 * size)
    for _ in range(5):
        net.nodes[1].propose(b"x" * 1000)
    net.send()
    assert [len(m.entries) for m in appends(net.delivered, 1, 2) if m.entries] == [2, 2, 1]


def test_oversize_entry_is_still_sent_alone() -> None:
    net = leader_net(max_size_per_msg=10)
    net.nodes[1].propose(b"y" * 100)
    net.nodes[1].propose(b"z" * 100)
    net.send()
    assert [len(m.entries) for m in appends(net.delivered, 1, 2) if m.entries] == [1, 1]


# --- pipelining and flow control ------------------------------------------------------------------


def test_pipeline_is_bounded_by_max_inflight() -> None:
    net = leader_net(max_inflight_msgs=2, max_entries_per_msg=1)
    net.ignore(AppendEntriesResponse)  # nothing is acknowledged
    for i in range(6):
        net.nodes[1].propose(b"%d" % i)
    net.send()
    assert [m.entries[0].index for m in appends(net.delivered, 1, 2)] == [3, 4]
    assert net.nodes[1].status().progress[2].next == 5
    net.recover()
    net.elapse(1)  # the heartbeat response restarts the pipeline, acks refill it
    assert net.nodes[2].raft.log.last_index() == 8
    assert net.nodes[1].commit == 8


def test_probe_state_sends_one_append_until_answered() -> None:
    net = Network(3)
    net.elect(1)
    net.isolate(3)
    for i in range(3):
        net.propose(1, b"%d" % i)
    net.nodes[1].report_unreachable(3)
    assert net.nodes[1].status().progress[3].state == "probe"
    net.delivered.clear()
    net.recover()
    net.ignore(AppendEntriesResponse)
    net.ignore(HeartbeatResponse)
    for _ in range(4):
        net.nodes[1].propose(b"more")
        net.send()
    # one probe carrying entries, then paused: later proposals are not sent to node 3
    assert len([m for m in appends(net.delivered, 1, 3) if m.entries]) == 1
    assert len([m for m in appends(net.delivered, 1, 2) if m.entries]) == 4


def test_probe_becomes_replicate_on_success() -> None:
    net = leader_net()
    net.nodes[1].report_unreachable(2)
    assert net.nodes[1].status().progress[2].state == "probe"
    net.propose(1, b"a")
    assert net.nodes[1].status().progress[2].state == "replicate"


def test_reject_in_replicate_falls_back_to_probe_and_recovers() -> None:
    net = leader_net(max_entries_per_msg=1)
    # Lose two appends to node 2: the third is rejected (gap), node 2 is probed and catches up.
    lost = iter([True, True])
    net.block(lambda m: isinstance(m, AppendEntries) and m.to == 2 and next(lost, False))
    for i in range(3):
        net.nodes[1].propose(b"%d" % i)
    net.send()
    rejects = [m for m in net.delivered if isinstance(m, AppendEntriesResponse) and m.reject]
    assert rejects and rejects[0].frm == 2
    assert net.sms[2].data == [b"0", b"1", b"2"]
    assert net.nodes[1].status().progress[2].state == "replicate"


def test_a_stale_rejection_keeps_what_the_follower_acknowledged_since() -> None:
    """A reject for an append below the follower's match is old news (reordered/duplicated):
    acting on it would send a replicating follower back to probing from scratch."""
    net = leader_net()
    for i in range(12):
        net.propose(1, b"%d" % i)
    before = net.nodes[1].status().progress[2]
    assert before.state == "replicate" and before.match > 10
    stale = AppendEntriesResponse(
        term=net.nodes[1].term, frm=2, to=1, index=2, reject=True, hint_index=1, hint_term=1
    )
    net.nodes[1].step(stale)
    after = net.nodes[1].status().progress[2]
    assert (after.match, after.state) == (before.match, "replicate")


def test_lossy_links_converge_after_recovery() -> None:
    net = Network(5, seed=11)
    net.elect(1)
    for frm in range(1, 6):
        for to in range(1, 6):
            if frm != to:
                net.drop(frm, to, 0.3)
    for i in range(30):
        if net.leader():
            with contextlib.suppress(RaftError):  # the leader may be stepping down
                net.propose(net.leader(), b"%d" % i)
        net.elapse(1)
    net.recover()
    net.elapse(30)
    lead = net.leader()
    net.propose(lead, b"final")
    logs = {n: net.log(n) for n in net.nodes}
    assert all(log == logs[lead] for log in logs.values())
    assert all(net.sms[n].data == net.sms[lead].data for n in net.nodes)


# --- log matching and backtracking ----------------------------------------------------------------

LEADER_LOG = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6]  # Raft Figure 7, the leader for term 8


@pytest.mark.parametrize(
    "follower_log",
    [
        [1, 1, 1, 4, 4, 5, 5, 6, 6],  # (a) missing one
        [1, 1, 1, 4],  # (b) missing many
        [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],  # (c) one extra uncommitted
        [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],  # (d) extra of a later term
        [1, 1, 1, 4, 4, 4, 4],  # (e) extra of an old term, missing later ones
        [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],  # (f) a leader of terms 2 and 3 that never committed
    ],
    ids=list("abcdef"),
)
def test_leader_brings_any_follower_log_in_line(follower_log: list[int]) -> None:
    # Raft §5.3, Figure 7: the leader forces the follower's log to duplicate its own.
    storages = {
        1: make_storage(log_terms=LEADER_LOG, term=7),
        2: make_storage(log_terms=follower_log, term=7),
        3: make_storage(term=7),  # an empty node that votes for the leader
    }
    net = Network(storages=storages, pre_vote=False)
    net.elect(1)
    assert net.nodes[1].term == 8
    assert net.log(2) == net.log(1)
    assert [t for _, t, _ in net.log(2)] == [*LEADER_LOG, 8]


def test_fast_backtracking_skips_a_whole_conflicting_term() -> None:
    # 60 conflicting entries of term 2 on the follower: the hint skips them in one round trip.
    storages = {
        1: make_storage(log_terms=[1] + [3] * 60, term=3),
        2: make_storage(log_terms=[1] + [2] * 60, term=3),
        3: make_storage(log_terms=[1], term=3),
    }
    net = Network(storages=storages, pre_vote=False)
    net.elect(1)
    rejects = [
        m for m in net.delivered if isinstance(m, AppendEntriesResponse) and m.reject and m.frm == 2
    ]
    assert 1 <= len(rejects) <= 2
    assert rejects[0].hint_term <= 3
    assert net.log(2) == net.log(1)


def test_follower_hint_points_at_its_last_index_when_short() -> None:
    storages = {
        1: make_storage(log_terms=[1] * 50, term=1),
        2: make_storage(log_terms=[1] * 3, term=1),
        3: make_storage(log_terms=[1] * 50, term=1),
    }
    net = Network(storages=storages, pre_vote=False)
    net.elect(1)
    rejects = [m for m in net.delivered if isinstance(m, AppendEntriesResponse) and m.reject]
    assert [(m.hint_index, m.hint_term) for m in rejects] == [(3, 1)]
    assert net.log(2) == net.log(1)


# --- commitment -----------------------------------------------------------------------------------


def test_leader_commits_after_majority_and_followers_learn_it() -> None:
    # Raft §5.3: committed once replicated on a majority; followers learn it from the leader.
    net = leader_net()
    net.cut(1, 3)
    index = net.propose(1, b"a")
    assert net.nodes[1].commit == index
    assert net.nodes[2].commit == index
    assert net.nodes[3].commit < index


def test_no_commit_without_majority() -> None:
    net = leader_net()
    net.cut(1, 2)
    net.cut(1, 3)
    index = net.propose(1, b"a")
    assert net.nodes[1].commit < index
    assert net.sms[1].data == []


def test_heartbeat_commit_is_capped_by_follower_match() -> None:
    net = leader_net()
    net.isolate(3)
    net.propose(1, b"a")
    net.recover()
    net.ignore(AppendEntries)
    net.delivered.clear()
    net.tick(1)
    beats = [m for m in net.delivered if isinstance(m, Heartbeat)]
    assert {m.to: m.commit for m in beats} == {2: 3, 3: 2}


def test_figure_8_entry_of_old_term_on_majority_is_not_committed() -> None:
    # Raft §5.4.2: a leader never commits an entry of a previous term by counting replicas.
    storages = {
        1: make_storage(voters=range(1, 6), log_terms=[1, 2, 2], term=4, commit=2),
        2: make_storage(voters=range(1, 6), log_terms=[1, 2, 2], term=4, commit=2),
        3: make_storage(voters=range(1, 6), log_terms=[1, 2], term=4, commit=2),
        4: make_storage(voters=range(1, 6), log_terms=[1, 2], term=4, commit=2),
        5: make_storage(voters=range(1, 6), log_terms=[1, 2, 3], term=4, commit=2),
    }
    net = Network(storages=storages, pre_vote=False, check_quorum=False, max_entries_per_msg=1)
    # (c) S1 leads term 5 and brings S3 its term-2 entry 3, but S1's own term-5 entry never
    # leaves it (S1 is about to crash): strip it from every AppendEntries.
    net.isolate(5)
    net.rewrite(strip_term(5))
    net.elect(1)
    assert [t for _, t, _ in net.log(3)] == [1, 2, 2]  # entry 3 (term 2) is on S1, S2, S3
    assert net.nodes[1].commit == 2  # ...but it is NOT committed
    assert net.sms[1].applied == 2
    # (d) S1 crashes; S5 (last term 3) is elected by S2, S3, S4 (its second campaign: they all
    # voted in term 5) and overwrites index 3. Nothing committed was lost.
    net.crash(1)
    net.recover()
    net.elect(5, attempts=2)
    for n in (2, 3, 4, 5):
        assert [t for _, t, _ in net.log(n)] == [1, 2, 3, 6]


def strip_term(term: int) -> Callable[[Message], Message]:
    def fn(m: Message) -> Message:
        if isinstance(m, AppendEntries):
            return replace(m, entries=tuple(e for e in m.entries if e.term != term))
        return m

    return fn


def test_figure_8_entry_of_current_term_commits_previous_ones() -> None:
    # (e): S1 replicates an entry of its own term on a majority before crashing: index 3 is
    # then committed, and S5 can no longer be elected.
    storages = {
        1: make_storage(voters=range(1, 6), log_terms=[1, 2, 2], term=4, commit=2),
        2: make_storage(voters=range(1, 6), log_terms=[1, 2, 2], term=4, commit=2),
        3: make_storage(voters=range(1, 6), log_terms=[1, 2], term=4, commit=2),
        4: make_storage(voters=range(1, 6), log_terms=[1, 2], term=4, commit=2),
        5: make_storage(voters=range(1, 6), log_terms=[1, 2, 3], term=4, commit=2),
    }
    net = Network(storages=storages, pre_vote=False, check_quorum=False)
    net.isolate(5)
    net.cut(1, 4)
    net.elect(1)
    assert net.nodes[1].commit == 4  # entry 4 is of term 5: it commits 3 with it
    net.crash(1)
    net.recover()
    net.campaign(5)
    assert net.nodes[5].role is not Role.LEADER
    lead = net.wait_leader()
    assert lead in (2, 3)
    assert [t for _, t, _ in net.log(lead)][:4] == [1, 2, 2, 5]
