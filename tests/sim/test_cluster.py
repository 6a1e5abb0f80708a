"""Targeted scenarios on a cluster of real RawNodes: each fault verb does what it says."""

from __future__ import annotations

import pytest

from aspen.raft.messages import ConfState
from aspen.sim import partitions
from aspen.sim.client import ClientConfig
from aspen.sim.cluster import Cluster, SimConfig
from aspen.sim.network import NetConfig
from aspen.sim.node import SimNode
from aspen.sim.scheduler import NS_PER_MS

SECOND = 1000 * NS_PER_MS


def make(nodes: int = 3, **overrides: object) -> Cluster:
    cfg = SimConfig(
        seed=11,
        nodes=nodes,
        net=NetConfig(min_delay_ns=NS_PER_MS, mean_jitter_ns=NS_PER_MS),
        clients=ClientConfig(clients=4, keys=2, think_ns=5 * NS_PER_MS),
    )
    for name, value in overrides.items():
        setattr(cfg, name, value)
    return Cluster(cfg)


def elect(c: Cluster) -> SimNode:
    c.run_for(2 * SECOND)
    leader = c.leader()
    assert leader is not None
    return leader


def write(c: Cluster, key: str, node: int | None = None, slot: int = 0) -> dict[str, object]:
    """Invoke one write on ``slot`` (at the leader by default) and run until it completes."""
    if node is None:
        leader = c.leader()
        assert leader is not None
        node = leader.id
    assert c.clients.invoke(slot, "write", key, node_id=node)
    c.run_for(2 * SECOND)
    return c.history.client_events()[-1]


def converged(c: Cluster) -> None:
    """Every up node has applied the same prefix to the same state."""
    up = c.up()
    applied = {n.kv.applied for n in up}
    assert len(applied) == 1, {n.id: n.kv.applied for n in up}
    assert len({tuple(sorted(n.kv.data.items())) for n in up}) == 1


def test_a_leader_is_elected_and_writes_reach_every_node() -> None:
    c = make()
    leader = elect(c)
    assert [n.id for n in c.up() if n.role.value == "leader"] == [leader.id]
    done = write(c, "k0")
    assert done["type"] == "ok" and done["node"] == f"n{leader.id}"
    c.run_for(SECOND)
    converged(c)
    assert all(n.kv.get("k0") == done["value"] for n in c.up())


def test_clients_reads_see_the_latest_write() -> None:
    c = make()
    leader = elect(c)
    w = write(c, "k1")
    assert c.clients.invoke(1, "read", "k1", node_id=leader.id)
    c.run_for(SECOND)
    r = c.history.client_events()[-1]
    assert r["type"] == "ok" and r["f"] == "read" and r["value"] == w["value"]


def test_a_follower_refuses_proposals_and_reads() -> None:
    c = make()
    leader = elect(c)
    follower = next(n for n in c.up() if n is not leader)
    for f in ("write", "read"):
        assert c.clients.invoke(0, f, "k0", node_id=follower.id)
        done = c.history.client_events()[-1]
        assert (done["type"], done["error"]) == ("fail", "not-leader")


def test_crashed_leader_is_replaced_and_catches_up_after_restart() -> None:
    c = make(sm_sync=False)
    old = elect(c)
    assert c.crash(old.id)
    c.run_for(2 * SECOND)
    new = c.leader()
    assert new is not None and new is not old
    write(c, "k0", slot=1)
    assert c.restart(old.id)
    c.run_for(2 * SECOND)
    converged(c)
    assert old.restarts == 1 and old.up


@pytest.mark.parametrize("sm_sync", [True, False])
def test_snapshots_bring_a_node_back_that_missed_compacted_entries(sm_sync: bool) -> None:
    c = make(snapshot_every=5, keep_entries=0, sm_sync=sm_sync)
    leader = elect(c)
    lagger = next(n for n in c.up() if n is not leader)
    c.crash(lagger.id)
    c.clients.start()
    c.run_for(3 * SECOND)
    c.clients.stop()
    assert leader.storage.first_index() > lagger.storage.last_index() + 1
    c.restart(lagger.id)
    c.run_for(3 * SECOND)
    assert lagger.snapshots_installed >= 1
    assert c.delivered_by_type["InstallSnapshot"] >= 1
    converged(c)


def test_a_deposed_leaders_proposal_is_reported_lost() -> None:
    c = make(clients=ClientConfig(clients=2, timeout_ns=20 * SECOND))
    old = elect(c)
    nodes = [n.id for n in c.live()]
    links, text = partitions.isolate(old.id, nodes)
    c.partition(links, text)
    assert c.clients.invoke(0, "write", "k0", node_id=old.id)  # accepted, can never commit
    c.run_for(3 * SECOND)
    new = c.leader()
    assert new is not None and new is not old
    write(c, "k0", node=new.id, slot=1)
    c.heal()
    c.run_for(3 * SECOND)
    events = c.history.client_events()
    outcome = next(e for e in events if e["process"] == 0 and e["type"] != "invoke")
    assert outcome["type"] == "fail" and str(outcome["error"]).startswith("lost")
    converged(c)


def test_leadership_transfer() -> None:
    c = make()
    old = elect(c)
    target = next(n for n in c.up() if n is not old)
    assert c.transfer(target.id)
    c.run_for(SECOND)
    assert c.leader() is target
    assert c.stats.transfers == 1


def test_add_learner_promote_and_remove_a_voter() -> None:
    c = make()
    leader = elect(c)
    new = c.add_learner()
    assert new is not None
    c.run_for(SECOND)
    assert leader.conf.learners == {new}
    assert c.promote(new)
    c.run_for(SECOND)
    assert leader.conf == ConfState(voters=frozenset({1, 2, 3, new}))
    victim = next(n.id for n in c.up() if n is not leader and n.id != new)
    assert c.remove(victim)
    c.run_for(SECOND)
    assert c.latest_conf().voters == {1, 2, 3, new} - {victim}
    assert c.nodes[victim].retired and not c.nodes[victim].up
    write(c, "k0")
    converged(c)


def test_replace_a_voter_in_one_joint_change() -> None:
    c = make()
    leader = elect(c)
    new = c.add_learner()
    assert new is not None
    c.run_for(SECOND)
    old = next(n.id for n in c.up() if n is not leader and n.id != new)
    assert c.replace(old, new)
    c.run_for(2 * SECOND)
    conf = c.latest_conf()
    assert conf.voters == {1, 2, 3, new} - {old} and not conf.joint
    assert c.nodes[old].retired


def test_one_way_partition_of_the_leader_elects_another() -> None:
    c = make()
    old = elect(c)
    others = [n.id for n in c.up() if n is not old]
    links, text = partitions.one_way([old.id], others)
    c.partition(links, text)
    c.run_for(3 * SECOND)
    new = c.leader()
    assert new is not None and new is not old
    c.heal()
    done = write(c, "k0", node=new.id)
    assert done["type"] == "ok"
    c.run_for(SECOND)
    converged(c)


def test_lossy_duplicating_network_with_slow_disks_still_converges() -> None:
    c = make(5, fsync_ns=2 * NS_PER_MS, snapshot_every=7)
    elect(c)
    c.set_loss(0.2, 0.2, 0.2)
    c.clients.start()
    c.run_for(5 * SECOND)
    c.clients.stop()
    c.heal()
    c.run_for(3 * SECOND)
    converged(c)
    assert c.clients.stats.ok > 50
    assert c.net.stats.duplicated > 0 and c.net.stats.dropped_random > 0
