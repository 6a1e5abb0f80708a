"""Which of a scenario's faults a run can inject honestly, given its runtime and its db.

A scenario lists faults; not every pair of runtime and db can produce each of them. Rather
than run a fault that does not do what its name says, the lab leaves it out and says why
(``skipped_faults`` in results.json, and a line on the terminal). A fault asked for by name
(``--fault``) that cannot run, or a scenario none of whose faults can, is an error before
anything starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lab.chaos.ip import FirewallNemesis, IpNemesis
from lab.chaos.nemesis import Nemesis
from lab.chaos.network import PartitionNemesis, SlowNetworkNemesis, ToxicNemesis

if TYPE_CHECKING:
    from lab.chaos.scenarios import Scenario
    from lab.db.base import DB


@dataclass(frozen=True, slots=True)
class Skipped:
    fault: str
    reason: str


@dataclass(frozen=True, slots=True)
class FaultPlan:
    run: tuple[str, ...]
    """The scenario's faults this run injects, by name."""
    skipped: tuple[Skipped, ...]


def needs_links(nemesis: Nemesis) -> bool:
    """Whether the fault acts on peer links (Toxiproxy, or nftables for a direct db)."""
    return isinstance(nemesis, ToxicNemesis)


def _one_way(nemesis: PartitionNemesis, nodes: int) -> bool:
    """Whether the partition's grudge cuts some link in one direction only."""
    if nemesis.kind == "one-way":
        return True
    # Jepsen's ring is asymmetric when the majority is even (3 nodes: each drops its predecessor)
    return nemesis.kind == "majorities-ring" and (nodes // 2 + 1) % 2 == 0


def fault_problem(nemesis: Nemesis, runtime: str, db: DB, nodes: int = 3) -> str | None:
    """Why ``nemesis`` cannot run against ``db`` on ``runtime`` with ``nodes`` nodes (None when
    it can)."""
    if isinstance(nemesis, IpNemesis) and runtime != "docker":
        return "cuts IP traffic between containers: needs --runtime docker"
    one_way_ip = isinstance(nemesis, FirewallNemesis) and nemesis.direction != "both"
    if one_way_ip and db.peer_links == "direct":
        return (
            f"cuts one way only: {db.name}'s peers talk over direct TCP connections, so "
            "dropping a node's packets in one direction kills the replies on its connections "
            "in the other too"
        )
    if needs_links(nemesis) and db.peer_links == "direct":
        # Both runtimes fault direct links with nftables (`lab.runtime.nftlinks`): per-node
        # namespaces locally, the node containers in Docker; the same things are refused.
        if isinstance(nemesis, SlowNetworkNemesis):
            return (
                "latency on direct peer links needs netem, which this kernel lacks; "
                "nftables can drop packets but not delay them"
            )
        if isinstance(nemesis, PartitionNemesis) and _one_way(nemesis, nodes):
            return (
                f"cuts links one way only ({nodes} nodes): packet filters cannot cut TCP peers "
                "one way (dropping src -> dst kills the replies too), and per-link proxies "
                f"need one address per link, which {db.name} cannot be given"
            )
    return db.unsupported_faults.get(nemesis.name)


def plan_faults(
    scenario: Scenario, asked: Sequence[str], runtime: str, db: DB, nodes: int = 3
) -> FaultPlan:
    """The faults to run (``asked``, or all of the scenario's) and those left out, with why.

    Raises ValueError for an unknown fault, a fault asked by name that cannot run, and a
    scenario of which nothing can run.
    """
    nemeses = scenario.build()
    unknown = set(asked) - set(nemeses)
    if unknown:
        raise ValueError(f"scenario {scenario.name!r} has no faults {sorted(unknown)}")
    run: list[str] = []
    skipped: list[Skipped] = []
    for name, nemesis in nemeses.items():
        if asked and name not in asked:
            continue
        problem = fault_problem(nemesis, runtime, db, nodes)
        if problem is None:
            run.append(name)
        elif asked:
            raise ValueError(f"fault {name!r} cannot run on {runtime} with {db.name}: {problem}")
        else:
            skipped.append(Skipped(name, problem))
    if not run:
        reasons = "; ".join(f"{s.fault}: {s.reason}" for s in skipped)
        raise ValueError(
            f"scenario {scenario.name!r} has no fault that can run on {runtime} with "
            f"{db.name} ({reasons})"
        )
    return FaultPlan(tuple(run), tuple(skipped))


def support_table(dbs: Sequence[tuple[str, str]] = (
    ("aspen", "local"), ("aspen", "docker"), ("etcd", "local"), ("etcd", "docker"),
)) -> str:  # fmt: skip
    """Which runtime and db runs what of each scenario (for ``chaos --help`` and the README)."""
    from lab.chaos.scenarios import SCENARIOS
    from lab.db.registry import load_db

    lines = []
    for scenario in SCENARIOS.values():
        nemeses = scenario.build()
        cells = []
        for db_name, runtime in dbs:
            db = load_db(db_name)
            out = [n for n, nem in nemeses.items() if fault_problem(nem, runtime, db)]
            if runtime not in db.runtimes or len(out) == len(nemeses):
                cell = "-"
            elif out:
                cell = f"all but {', '.join(out)}"
            else:
                cell = "all"
            cells.append(f"{db_name}/{runtime}: {cell}")
        lines.append(f"  {scenario.name:14} {'; '.join(cells)}")
    return "\n".join(lines)
