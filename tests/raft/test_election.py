"""Leader election (Raft §5.2, §5.4.1), pre-vote and check-quorum (Raft thesis §9.6, §6.4)."""

from __future__ import annotations

from aspen.raft import NONE, ConfState, HardState, Role
from aspen.raft.messages import (
    AppendEntries,
    AppendEntriesResponse,
    Heartbeat,
    RequestVote,
    RequestVoteResponse,
)
from tests.raft.harness import Network, drive, elapse_until_campaign, make_node, outbox

# --- timeouts ------------------------------------------------------------------------------------


def test_election_timeout_is_randomized_in_range() -> None:
    # Raft §5.2: randomized timeouts in [T, 2T) make split votes rare.
    seen = set()
    for seed in range(40):
        node, _ = make_node(1, seed=seed, pre_vote=False)
        ticks = elapse_until_campaign(node)
        assert 10 <= ticks < 20
        seen.add(ticks)
    assert len(seen) >= 5


def test_timeout_comes_from_injected_rng_deterministically() -> None:
    a, _ = make_node(1, seed=7)
    b, _ = make_node(1, seed=7)
    assert elapse_until_campaign(a) == elapse_until_campaign(b)


def test_leader_heartbeats_reset_follower_timer() -> None:
    net = Network(3)
    net.elect(1)
    net.elapse(100)  # heartbeats every tick keep followers from campaigning
    assert net.leader() == 1 and net.nodes[1].term == 2


# --- becoming a candidate ------------------------------------------------------------------------


def test_candidate_persists_vote_before_sending_request_vote() -> None:
    # Raft §5.2: increment term, vote for self, request votes. The vote must be durable first.
    node, storage = make_node(1, pre_vote=False)
    node.campaign()
    rd = drive(node, storage)
    assert node.role is Role.CANDIDATE
    assert rd.hard_state == HardState(term=1, vote=1, commit=0)
    assert rd.messages == []
    assert sorted(rd.persisted_messages, key=lambda m: m.to) == [
        RequestVote(1, 1, 2, 0, 0),
        RequestVote(1, 1, 3, 0, 0),
    ]


def test_pre_vote_requests_go_out_at_once_without_changing_term() -> None:
    node, storage = make_node(1, log_terms=[1, 1], term=1, commit=2)
    node.campaign()
    rd = drive(node, storage)
    assert node.role is Role.PRE_CANDIDATE and node.term == 1
    assert rd.hard_state is None  # neither term nor vote changed
    assert rd.persisted_messages == []
    assert sorted(rd.messages, key=lambda m: m.to) == [
        RequestVote(2, 1, 2, 2, 1, pre_vote=True),
        RequestVote(2, 1, 3, 2, 1, pre_vote=True),
    ]


def test_pre_candidate_becomes_candidate_after_pre_vote_quorum() -> None:
    node, storage = make_node(1)
    node.campaign()
    outbox(node, storage)
    node.step(RequestVoteResponse(1, 2, 1, True, pre_vote=True))
    assert node.role is Role.CANDIDATE and node.term == 1
    rd = drive(node, storage)
    assert {type(m) for m in rd.persisted_messages} == {RequestVote}
    assert all(not m.pre_vote for m in rd.persisted_messages if isinstance(m, RequestVote))


def test_single_voter_wins_at_once() -> None:
    node, _ = make_node(1, voters=[1])
    node.campaign()
    assert node.role is Role.LEADER and node.term == 1


def test_candidate_wins_with_majority() -> None:
    # Raft §5.2: a candidate wins with votes from a majority of the full cluster.
    node, storage = make_node(1, voters=[1, 2, 3, 4, 5], pre_vote=False)
    node.campaign()
    outbox(node, storage)
    node.step(RequestVoteResponse(1, 2, 1, True))
    assert node.role is Role.CANDIDATE
    node.step(RequestVoteResponse(1, 3, 1, True))
    assert node.role is Role.LEADER


def test_candidate_loses_once_majority_rejects() -> None:
    node, storage = make_node(1, voters=[1, 2, 3], pre_vote=False)
    node.campaign()
    outbox(node, storage)
    node.step(RequestVoteResponse(1, 2, 1, False))
    assert node.role is Role.CANDIDATE
    node.step(RequestVoteResponse(1, 3, 1, False))
    assert node.role is Role.FOLLOWER and node.term == 1


def test_duplicate_vote_counts_once() -> None:
    node, storage = make_node(1, voters=[1, 2, 3, 4, 5], pre_vote=False)
    node.campaign()
    outbox(node, storage)
    for _ in range(3):
        node.step(RequestVoteResponse(1, 2, 1, True))
    assert node.role is Role.CANDIDATE


def test_candidate_follows_leader_of_same_term() -> None:
    # Raft §5.2: AppendEntries from a leader of the candidate's term makes it a follower.
    node, storage = make_node(1, pre_vote=False)
    node.campaign()
    outbox(node, storage)
    node.step(AppendEntries(1, 2, 1, 0, 0, (), 0))
    assert node.role is Role.FOLLOWER and node.leader == 2 and node.term == 1


def test_split_vote_resolves_in_a_later_term() -> None:
    net = Network(3, pre_vote=False, seed=3)
    net.cut(1, 2)
    net.cut(1, 3)
    net.cut(2, 3)
    net.nodes[1].campaign()
    net.nodes[2].campaign()
    net.send()
    assert net.leader() == 0
    net.recover()
    lead = net.wait_leader()
    assert net.nodes[lead].term > 2


# --- voting --------------------------------------------------------------------------------------


def vote_reply(node_id: int, msg: RequestVote, **kw: object) -> RequestVoteResponse:
    node, storage = make_node(node_id, **kw)  # type: ignore[arg-type]
    node.step(msg)
    (reply,) = outbox(node, storage)
    assert isinstance(reply, RequestVoteResponse)
    return reply


def test_vote_granted_once_per_term() -> None:
    # Raft §5.2: each server votes for at most one candidate in a given term.
    node, storage = make_node(1, voters=[1, 2, 3], pre_vote=False)
    node.step(RequestVote(1, 2, 1, 0, 0))
    node.step(RequestVote(1, 3, 1, 0, 0))
    node.step(RequestVote(1, 2, 1, 0, 0))  # a retry of the one we voted for
    replies = outbox(node, storage)
    assert [(m.frm, m.to, m.granted) for m in replies if isinstance(m, RequestVoteResponse)] == [
        (1, 2, True),
        (1, 3, False),
        (1, 2, True),
    ]
    assert storage.hard_state.vote == 2


def test_vote_responses_wait_for_persistence() -> None:
    node, storage = make_node(1, voters=[1, 2, 3])
    node.step(RequestVote(1, 2, 1, 0, 0))
    rd = drive(node, storage)
    assert rd.messages == []
    assert rd.hard_state == HardState(1, 2, 0)
    assert rd.persisted_messages == [RequestVoteResponse(1, 1, 2, True)]


def test_vote_survives_restart() -> None:
    net = Network(3, pre_vote=False)
    net.isolate(3)
    net.nodes[3].step(RequestVote(5, 1, 3, 1, 1))
    net.send()
    assert net.storages[3].hard_state.vote == 1
    net.restart(3)
    net.nodes[3].step(RequestVote(5, 2, 3, 1, 1))
    (rd,) = [net.nodes[3].ready()]
    assert rd.persisted_messages == [RequestVoteResponse(5, 3, 2, False)]


def test_vote_rejected_for_out_of_date_log() -> None:
    # Raft §5.4.1: the voter denies its vote if its own log is more up-to-date.
    log = [1, 2, 2]
    cases = [
        (3, 2, True),  # same last term, same length
        (4, 2, True),  # longer
        (2, 2, False),  # shorter with the same last term
        (9, 1, False),  # longer but older last term
        (1, 3, True),  # newer last term wins even if shorter
    ]
    for last_index, last_term, granted in cases:
        reply = vote_reply(
            1, RequestVote(5, 2, 1, last_index, last_term), log_terms=log, term=2, pre_vote=False
        )
        assert reply.granted is granted, (last_index, last_term)


def test_pre_vote_does_not_change_voter_state() -> None:
    node, storage = make_node(1, log_terms=[1], term=1, vote=2)
    node.step(RequestVote(2, 3, 1, 1, 1, pre_vote=True))
    rd = drive(node, storage)
    assert rd.hard_state is None  # no term change, no vote recorded
    assert rd.persisted_messages == [RequestVoteResponse(2, 1, 3, True, pre_vote=True)]
    assert node.term == 1


def test_stale_pre_vote_rejected_with_our_term() -> None:
    node, storage = make_node(1, log_terms=[1, 5], term=5)
    node.step(RequestVote(3, 2, 1, 9, 1, pre_vote=True))
    assert outbox(node, storage) == [RequestVoteResponse(5, 1, 2, False, pre_vote=True)]


def test_non_voters_never_campaign_but_vote() -> None:
    node, _ = make_node(4, voters=[1, 2, 3], learners=[4])
    for _ in range(100):
        node.tick()
    assert node.role is Role.FOLLOWER and node.term == 0
    empty, estorage = make_node(5, voters=[])
    for _ in range(100):
        empty.tick()
    empty.campaign()
    assert empty.role is Role.FOLLOWER
    empty.step(RequestVote(3, 1, 5, 0, 0))
    assert outbox(empty, estorage) == [RequestVoteResponse(3, 5, 1, True)]


def test_empty_config_node_accepts_leader_and_gets_config() -> None:
    net = Network(3, bootstrap="one")
    assert net.nodes[2].conf_state == ConfState()
    net.elect(1)
    for n in (2, 3):
        assert net.nodes[n].conf_state.voters == {1, 2, 3}
        assert net.nodes[n].leader == 1
    net.crash(1)
    assert net.wait_leader() in (2, 3)


# --- terms ---------------------------------------------------------------------------------------


def test_leader_steps_down_on_higher_term() -> None:
    # Raft §5.1: a server that sees a larger term reverts to follower.
    net = Network(3)
    net.elect(1)
    leader = net.nodes[1]
    leader.step(AppendEntriesResponse(9, 2, 1, 0))
    assert leader.role is Role.FOLLOWER and leader.term == 9 and leader.leader == NONE


def test_follower_adopts_higher_term_and_leader_from_heartbeat() -> None:
    node, storage = make_node(1, term=2)
    node.step(Heartbeat(4, 3, 1, 0))
    assert node.term == 4 and node.leader == 3 and node.role is Role.FOLLOWER
    assert drive(node, storage).hard_state == HardState(4, 0, 0)


def test_stale_leader_gets_told_the_new_term() -> None:
    node, storage = make_node(1, term=5)
    node.step(AppendEntries(3, 2, 1, 0, 0, (), 0))
    assert outbox(node, storage) == [AppendEntriesResponse(5, 1, 2, 0)]


def test_stale_vote_request_ignored() -> None:
    node, storage = make_node(1, term=5, pre_vote=False)
    node.step(RequestVote(3, 2, 1, 10, 3))
    assert outbox(node, storage) == []


# --- pre-vote ------------------------------------------------------------------------------------


def test_pre_vote_keeps_partitioned_node_from_inflating_its_term() -> None:
    net = Network(3, pre_vote=True)
    net.elect(1)
    net.isolate(3)
    net.elapse(100)
    assert net.nodes[3].term == 2  # pre-votes failed: the term never moved
    net.recover()
    net.elapse(5)
    assert net.leader() == 1 and all(n.term == 2 for n in net.nodes.values())


def test_without_pre_vote_partitioned_node_disrupts_on_rejoin() -> None:
    net = Network(3, pre_vote=False, check_quorum=False)
    net.elect(1)
    net.isolate(3)
    net.elapse(100)
    assert net.nodes[3].term > 2
    net.recover()
    net.elapse(30)
    assert net.nodes[1].term > 2  # the old leader was deposed by the higher term


def test_pre_vote_granted_to_up_to_date_node_even_with_a_leader_when_lease_off() -> None:
    node, storage = make_node(1, log_terms=[1], term=1, check_quorum=False)
    node.step(Heartbeat(1, 2, 1, 0))
    node.step(RequestVote(2, 3, 1, 1, 1, pre_vote=True))
    replies = [m for m in outbox(node, storage) if isinstance(m, RequestVoteResponse)]
    assert replies == [RequestVoteResponse(2, 1, 3, True, pre_vote=True)]


# --- check quorum and the leader lease ------------------------------------------------------------


def test_check_quorum_leader_steps_down_without_majority() -> None:
    net = Network(3)
    net.elect(1)
    net.isolate(1)
    # The first check (tick 10) still counts the answers heard before the partition; the
    # second (tick 20) finds no majority heard since.
    for _ in range(2 * 10 - 1):
        net.tick(1)
    assert net.nodes[1].role is Role.LEADER
    net.tick(1)
    assert net.nodes[1].role is Role.FOLLOWER and net.nodes[1].term == 2


def test_check_quorum_leader_stays_with_majority() -> None:
    net = Network(3)
    net.elect(1)
    net.cut(1, 3)
    net.elapse(50)
    assert net.nodes[1].role is Role.LEADER


def test_leader_lease_ignores_vote_requests() -> None:
    # Raft thesis §6.4: a follower that heard from the leader within the election timeout
    # neither updates its term nor grants a vote.
    node, storage = make_node(1, log_terms=[1], term=1)
    node.step(Heartbeat(1, 2, 1, 0))
    outbox(node, storage)
    node.step(RequestVote(5, 3, 1, 9, 4))
    node.step(RequestVote(5, 3, 1, 9, 4, pre_vote=True))
    assert node.term == 1
    assert outbox(node, storage) == []


def test_leader_lease_expires_after_election_timeout() -> None:
    node, storage = make_node(1, log_terms=[1], term=1, pre_vote=False)
    node.step(Heartbeat(1, 2, 1, 0))
    for _ in range(10):
        node.tick()
    node.step(RequestVote(5, 3, 1, 9, 5))
    assert node.term == 5
    assert RequestVoteResponse(5, 1, 3, True) in outbox(node, storage)


def test_transfer_campaign_overrides_lease() -> None:
    node, storage = make_node(1, log_terms=[1], term=1)
    node.step(Heartbeat(1, 2, 1, 0))
    node.step(RequestVote(2, 3, 1, 1, 1, transfer=True))
    assert node.term == 2 and node.raft.vote == 3
    assert RequestVoteResponse(2, 1, 3, True) in outbox(node, storage)


def test_isolated_leader_is_replaced_by_the_majority() -> None:
    net = Network(5)
    net.elect(1)
    net.isolate(1)
    net.elapse(40)
    leaders = [n for n in net.nodes if net.nodes[n].role is Role.LEADER]
    assert len(leaders) == 1 and leaders[0] != 1  # the old one stepped down (check quorum)
    assert net.nodes[leaders[0]].term > 2
