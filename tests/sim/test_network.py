"""The simulated network: delay, loss, duplication, blocked links, dead receivers."""

from __future__ import annotations

import random

from aspen.raft.messages import Heartbeat, Message
from aspen.sim.network import NetConfig, Network
from aspen.sim.scheduler import Scheduler


def make(config: NetConfig, seed: int = 1) -> tuple[Network, list[tuple[int, Message, int]]]:
    sched = Scheduler()
    got: list[tuple[int, Message, int]] = []
    net = Network(
        sched,
        random.Random(seed),
        lambda m, epoch: got.append((sched.now, m, epoch)),
        lambda node: 7,
        config,
    )
    return net, got


def hb(frm: int, to: int, commit: int = 0) -> Heartbeat:
    return Heartbeat(term=1, frm=frm, to=to, commit=commit)


def test_delivery_takes_at_least_the_minimum_delay_and_carries_the_epoch() -> None:
    net, got = make(NetConfig(min_delay_ns=500, mean_jitter_ns=0))
    net.send(hb(1, 2))
    net.sched.run_until(10_000)
    assert got == [(500, hb(1, 2), 7)]
    assert net.stats.sent == 1


def commits(got: list[tuple[int, Message, int]]) -> list[int]:
    return [m.commit for _, m, _ in got if isinstance(m, Heartbeat)]


def test_links_are_fifo_despite_jitter() -> None:
    net, got = make(NetConfig(min_delay_ns=100, mean_jitter_ns=10_000))
    for i in range(50):
        net.send(hb(1, 2, commit=i))
        net.send(hb(3, 2, commit=100 + i))
    net.sched.run_until(10**9)
    one = [c for c in commits(got) if c < 100]
    three = [c for c in commits(got) if c >= 100]
    assert one == list(range(50)) and three == list(range(100, 150))
    assert commits(got) != sorted(commits(got))  # the two links interleave


def test_reorder_holds_messages_back_on_a_fifo_link() -> None:
    net, got = make(NetConfig(min_delay_ns=100, mean_jitter_ns=0, reorder=0.2))
    for i in range(50):
        net.send(hb(1, 2, commit=i))
    net.sched.run_until(10**12)
    assert sorted(commits(got)) == list(range(50)) and commits(got) != list(range(50))


def test_without_fifo_jitter_reorders_messages_on_one_link() -> None:
    net, got = make(NetConfig(min_delay_ns=100, mean_jitter_ns=10_000, fifo=False))
    for i in range(50):
        net.send(hb(1, 2, commit=i))
    net.sched.run_until(10**9)
    commits = [m.commit for _, m, _ in got if isinstance(m, Heartbeat)]
    assert sorted(commits) == list(range(50))
    assert commits != list(range(50))


def test_blocked_links_are_one_way_and_heal() -> None:
    net, got = make(NetConfig(mean_jitter_ns=0))
    net.block([(1, 2)])
    net.send(hb(1, 2))
    net.send(hb(2, 1))
    net.sched.run_until(10**9)
    assert [(m.frm, m.to) for _, m, _ in got] == [(2, 1)]
    assert net.stats.dropped_blocked == 1
    assert not net.reachable(1, 2) and net.reachable(2, 1)
    net.heal()
    net.send(hb(1, 2))
    net.sched.run_until(2 * 10**9)
    assert len(got) == 2


def test_loss_and_duplication_rates_are_roughly_as_configured() -> None:
    net, got = make(NetConfig(drop=0.3, duplicate=0.2))
    for _ in range(2000):
        net.send(hb(1, 2))
    net.sched.run_until(10**12)
    assert 500 < net.stats.dropped_random < 700
    assert 200 < net.stats.duplicated < 400
    assert len(got) == 2000 - net.stats.dropped_random + net.stats.duplicated


def test_per_link_loss() -> None:
    net, got = make(NetConfig())
    net.link_drop[(1, 2)] = 1.0
    net.send(hb(1, 2))
    net.send(hb(1, 3))
    net.sched.run_until(10**9)
    assert [m.to for _, m, _ in got] == [3]


def test_same_seed_same_schedule() -> None:
    runs = []
    for _ in range(2):
        net, got = make(NetConfig(drop=0.1, duplicate=0.1, reorder=0.1), seed=42)
        for i in range(200):
            net.send(hb(1 + i % 3, 1 + (i + 1) % 3, commit=i))
        net.sched.run_until(10**12)
        runs.append([(t, m.commit) for t, m, _ in got if isinstance(m, Heartbeat)])
    assert runs[0] == runs[1]
