"""Core bugs the simulator found, each as the smallest test that showed it.

A bug still open is marked ``xfail(strict=True, reason="core bug: ...")``; once the core is
fixed the test passes, strict xfail turns that into a failure, and the marker goes: the test
then guards against the bug's return. None is open now.

Found with ``python -m aspen.sim --seeds 46-150 --steps 3000`` (then with links that reorder
freely): seed 46 moved 3.7 million messages in 30 s of virtual time, 100x a normal run, almost
all AppendEntries and rejections between a leader and a freshly added learner. Part of that
storm is pipelining over a link that reorders (each out-of-order append is rejected and sends
the leader back to probing: etcd's design assumes FIFO links, as TCP gives); the part that is a
plain bug is below: a *stale* rejection threw away what the leader knew the follower had
(fixed in the core by 76c0dd9).
"""

from __future__ import annotations

from aspen.raft import RaftConfig
from aspen.raft.messages import AppendEntriesResponse
from aspen.sim.client import ClientConfig
from aspen.sim.cluster import Cluster, SimConfig
from aspen.sim.network import NetConfig
from aspen.sim.node import SimNode
from aspen.sim.scheduler import NS_PER_MS

SECOND = 1000 * NS_PER_MS


def cluster(net: NetConfig) -> Cluster:
    return Cluster(
        SimConfig(
            seed=5,
            nodes=3,
            raft=RaftConfig(id=1, max_entries_per_msg=4, max_inflight_msgs=256),
            net=net,
            clients=ClientConfig(clients=8, keys=2, think_ns=2 * NS_PER_MS),
        )
    )


def leader_of(c: Cluster) -> SimNode:
    c.run_for(2 * SECOND)
    leader = c.leader()
    assert leader is not None
    return leader


def test_a_stale_rejection_does_not_reset_a_followers_progress() -> None:
    c = cluster(NetConfig(min_delay_ns=NS_PER_MS, mean_jitter_ns=0))
    leader = leader_of(c)
    c.clients.start()
    c.run_for(SECOND)
    c.clients.stop()
    c.run_for(SECOND)
    follower = next(n for n in c.up() if n is not leader)
    before = leader.core().status().progress[follower.id]
    assert before.match > 10 and before.state == "replicate"
    # What the follower answered long ago to an append at index 2, before it had entry 2:
    # the network may deliver it late (reordering) or twice (duplication).
    stale = AppendEntriesResponse(
        term=leader.core().term, frm=follower.id, to=leader.id, index=2, reject=True,
        hint_index=1, hint_term=1,
    )  # fmt: skip
    leader.step(stale)
    after = leader.core().status().progress[follower.id]
    assert after.match == before.match, f"match {before.match} -> {after.match}"
