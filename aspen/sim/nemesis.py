"""The fault schedule of a seeded run: which fault, when, and when it heals.

Each fault kind ships with its own recovery (a partition heals, a crashed node restarts, lossy
links go quiet) after a random duration; ``heal_all`` ends the chaos at once so the run can
check that the cluster recovers. Membership changes, transfers and forced snapshots have no
recovery: the cluster must simply carry on.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from functools import partial

from aspen.sim import partitions
from aspen.sim.cluster import Cluster
from aspen.sim.scheduler import NS_PER_MS

FAULTS = ("partition", "crash", "loss", "membership", "transfer", "snapshot", "clock")


def parse_faults(text: str) -> tuple[str, ...]:
    """``all``, ``none`` or a comma-separated subset of :data:`FAULTS` (in canonical order)."""
    if text == "all":
        return FAULTS
    if text in ("", "none"):
        return ()
    wanted = {f.strip() for f in text.split(",") if f.strip()}
    unknown = sorted(wanted - set(FAULTS))
    if unknown:
        raise ValueError(f"unknown fault(s) {unknown}; choose from {', '.join(FAULTS)}")
    return tuple(f for f in FAULTS if f in wanted)


class Nemesis:
    def __init__(
        self,
        cluster: Cluster,
        faults: tuple[str, ...],
        rng: random.Random,
        interval_ns: tuple[int, int] = (200 * NS_PER_MS, 1500 * NS_PER_MS),
        duration_ns: tuple[int, int] = (100 * NS_PER_MS, 3000 * NS_PER_MS),
    ) -> None:
        self.cluster = cluster
        self.faults = faults
        self.rng = rng
        self.interval_ns = interval_ns
        self.duration_ns = duration_ns
        self.active = False
        self.injected = 0
        self.base_voters = cluster.config.nodes

    def start(self) -> None:
        if self.faults:
            self.active = True
            self._schedule_next()

    def heal_all(self) -> None:
        """Stop injecting; heal the network and restart every crashed (not retired) node."""
        self.active = False
        self.cluster.heal()
        self.cluster.restart_all()

    def _schedule_next(self) -> None:
        self.cluster.sched.after(self.rng.randrange(*self.interval_ns), self._fire)

    def _later(self, action: Callable[[], object]) -> None:
        def recover() -> None:
            if self.active:
                action()

        self.cluster.sched.after(self.rng.randrange(*self.duration_ns), recover)

    def _fire(self) -> None:
        if not self.active:
            return
        kind = self.rng.choice(self.faults)
        if getattr(self, f"_{kind}")():
            self.injected += 1
        self._schedule_next()

    # --- one method per fault kind; True if something was injected -----------------------------

    def _partition(self) -> bool:
        c, rng = self.cluster, self.rng
        nodes = [n.id for n in c.live()]
        if len(nodes) < 2:
            return False
        shape = rng.randrange(6)
        if shape == 0:
            links, text = partitions.isolate(rng.choice(nodes), nodes)
        elif shape == 1:
            links, text = partitions.bisect(nodes, rng)
        elif shape == 2 and len(nodes) >= 3:
            links, text = partitions.bridge(nodes, rng)
        elif shape == 3 and len(nodes) >= 4:
            links, text = partitions.ring(nodes, rng)
        elif shape == 4:
            leader = c.leader()
            frm = [leader.id] if leader is not None else [rng.choice(nodes)]
            links, text = partitions.one_way(frm, [n for n in nodes if n not in frm])
        else:
            links, text = partitions.random_links(nodes, rng)
        c.partition(links, text)
        self._later(c.heal)
        return True

    def _crash(self) -> bool:
        """Usually one node; one time in six every node at once (all must recover from disk)."""
        c = self.cluster
        up = [n.id for n in c.live() if n.up]
        if not up:
            return False
        victims = up if self.rng.randrange(6) == 0 else [self.rng.choice(up)]
        for victim in victims:
            c.crash(victim)
            self._later(partial(c.restart, victim))
        return True

    def _clock(self) -> bool:
        """One node's clock runs fast or slow for a while (ticks are its only sense of time)."""
        c = self.cluster
        nodes = [n.id for n in c.live()]
        node = self.rng.choice(nodes)
        c.skew_clock(node, self.rng.choice((0.25, 0.5, 2.0, 4.0)))
        self._later(lambda: c.skew_clock(node, 1.0))
        return True

    def _loss(self) -> bool:
        c, rng = self.cluster, self.rng
        c.set_loss(rng.choice((0.0, 0.05, 0.2, 0.5)), rng.choice((0.0, 0.1)), rng.choice((0, 0.2)))
        self._later(lambda: c.set_loss(0.0, 0.0, 0.0))
        return True

    def _membership(self) -> bool:
        c, rng = self.cluster, self.rng
        conf = c.latest_conf()
        if conf.joint:
            return False
        voters = sorted(conf.voters)
        learners = sorted(conf.learners)
        options: list[str] = []
        if len(c.live()) < self.base_voters + 2:
            options.append("add")
        if learners:
            options += ["promote", "replace"]
        if len(voters) > self.base_voters:
            options.append("remove")
        if not options:
            return False
        match rng.choice(options):
            case "add":
                return c.add_learner() is not None
            case "promote":
                return c.promote(rng.choice(learners))
            case "replace":
                return c.replace(rng.choice(voters), rng.choice(learners))
            case _:
                return c.remove(rng.choice(voters))

    def _transfer(self) -> bool:
        c = self.cluster
        leader = c.leader()
        if leader is None:
            return False
        targets = sorted(v for v in leader.conf.voters if v != leader.id)
        return bool(targets) and c.transfer(self.rng.choice(targets))

    def _snapshot(self) -> bool:
        c = self.cluster
        up = [n.id for n in c.live() if n.up]
        return bool(up) and c.snapshot(self.rng.choice(up))
