"""Named chaos scenarios: which faults, which workload, and how they are paced.

Each scenario builds fresh nemesis objects (they hold the state of the faults they opened),
keyed by the name the schedule and the history use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from lab.chaos.ip import DisconnectNemesis, FirewallNemesis
from lab.chaos.nemesis import (
    ClockSkewNemesis,
    KillAllNemesis,
    KillNemesis,
    MembershipNemesis,
    Nemesis,
    PauseNemesis,
)
from lab.chaos.network import (
    BandwidthNemesis,
    FlakyNetworkNemesis,
    PartitionNemesis,
    SlowNetworkNemesis,
)
from lab.chaos.schedule import Timing


def _partitions() -> list[Nemesis]:
    return [
        PartitionNemesis("partition-halves", kind="halves", style="blackhole"),
        PartitionNemesis("partition-isolate-leader", kind="isolate-leader", style="reset"),
        PartitionNemesis("partition-majorities-ring", kind="majorities-ring"),
        PartitionNemesis("partition-bridge", kind="bridge", style="reset"),
        PartitionNemesis("partition-one-way", kind="one-way"),
    ]


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    nemeses: Callable[[], list[Nemesis]]
    workload: str = "register"
    timing: Timing = field(default_factory=Timing)
    needs_network: bool = True
    """Whether peer links must go through Toxiproxy for this scenario's faults (for a db
    whose peers take per-link addresses; a direct db's links are faulted in namespaces only
    when a fault acts on links, see `lab.test.make_runtime`)."""

    def build(self) -> dict[str, Nemesis]:
        return {n.name: n for n in self.nemeses()}


def _every_fault() -> list[Nemesis]:
    """One of each fault of every other scenario (``mixed``), fresh objects, by name."""
    faults: dict[str, Nemesis] = {}
    for scenario in SCENARIOS.values():
        if scenario.name != "mixed":
            for nemesis in scenario.nemeses():
                faults.setdefault(nemesis.name, nemesis)
    return list(faults.values())


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in [
        Scenario(
            "partition",
            "halves, isolated leader, majorities ring, bridge and one-way cuts, "
            "black-hole and reset styles",
            _partitions,
        ),
        Scenario(
            "partition-ip",
            "Docker only: isolate the leader or a random node at the IP level (network "
            "disconnect; nftables both ways; nftables one-way out of the leader)",
            lambda: [
                DisconnectNemesis("ip-disconnect-leader", target="leader"),
                FirewallNemesis("ip-firewall", target="random"),
                FirewallNemesis("ip-firewall-one-way", target="leader", direction="out"),
            ],
        ),
        Scenario(
            "leader-crash",
            "find the leader through the API and SIGKILL it; restart it on heal",
            lambda: [KillNemesis(target="leader", name="leader-crash")],
        ),
        Scenario(
            "slow-network",
            "100 ms +/- 50 ms latency on every link, then on one node's links",
            lambda: [
                SlowNetworkNemesis("slow-all"),
                SlowNetworkNemesis("slow-one", latency_ms=200, jitter_ms=100, scope="one"),
            ],
        ),
        Scenario(
            "pause",
            "SIGSTOP the leader or a random node, SIGCONT on heal",
            lambda: [
                PauseNemesis(target="leader", name="pause-leader"),
                PauseNemesis(name="pause"),
            ],
        ),
        Scenario(
            "flaky-network",
            "half of the connections reset shortly after opening; bandwidth squeezed; "
            "with --runtime docker, 5% IP packet loss each way on every node too",
            lambda: [FlakyNetworkNemesis("flaky"), BandwidthNemesis("bandwidth")],
        ),
        Scenario(
            "membership",
            "remove a voter under load, add it back as a learner, promote it",
            lambda: [MembershipNemesis()],
        ),
        Scenario(
            "kill-all",
            "SIGKILL every node at once and restart them: acknowledged adds must survive",
            lambda: [KillAllNemesis()],
            workload="set",
            needs_network=False,
        ),
        Scenario(
            "clock-skew",
            "restart a node with its wall clock shifted (libfaketime)",
            lambda: [ClockSkewNemesis()],
            needs_network=False,
        ),
        Scenario(
            "mixed",
            "every fault of every scenario above, in a seeded order (those the runtime and db "
            "cannot inject are left out, and the run says which)",
            _every_fault,
        ),
    ]
}

DEFAULT_MATRIX = [
    "partition",
    "leader-crash",
    "slow-network",
    "pause",
    "flaky-network",
    "membership",
    "kill-all",
    "clock-skew",
    "mixed",
]
