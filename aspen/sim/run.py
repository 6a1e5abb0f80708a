"""One seeded run: chaos, then heal, then a check that the cluster recovers.

``run(seed, steps, ...)`` is what ``python -m aspen.sim --seed N --steps M`` and the seeded
tests call, so a failing test replays exactly from its printed command. A *step* is one tick
interval (``tick_ms``) of virtual time. The run's knobs (message delay, fsync latency, snapshot
frequency, whether the state machine persists with every apply) are drawn from the seed too, so
many seeds cover many configurations.

Timeline: clients run throughout; the nemesis injects faults until ``heal_at`` (the last
``QUIET_STEPS`` steps, or a third of the run if shorter, are quiet), then everything heals and
the run checks *liveness*: a write invoked after the heal must commit within
``LIVENESS_BOUND_NS`` of virtual time (checked only if the quiet part is that long).
"""

from __future__ import annotations

import gc
import random
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aspen.raft import RaftConfig
from aspen.raft.ready_processor import ReadyProcessor
from aspen.sim.client import ClientConfig
from aspen.sim.cluster import Cluster, ClusterStats, SimConfig, replay_command
from aspen.sim.invariants import SafetyViolation
from aspen.sim.nemesis import Nemesis, parse_faults
from aspen.sim.network import NetConfig, NetStats
from aspen.sim.scheduler import NS_PER_MS

if TYPE_CHECKING:
    from aspen.sim.node import SimProcessor

LIVENESS_BOUND_NS = 5_000 * NS_PER_MS
QUIET_STEPS = 800


GC_THRESHOLD = (50_000, 20, 100)
"""A long run keeps many live objects (log entries, history): with the default threshold (700)
the cyclic GC rescans them so often that it costs ~15% of CPU time. The simulator makes no
reference cycles on its hot path, so rarer collections lose nothing."""


@contextmanager
def relaxed_gc() -> Iterator[None]:
    """Run the body with :data:`GC_THRESHOLD`, restoring the previous thresholds after."""
    saved = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(*saved)


@dataclass(slots=True)
class RunResult:
    seed: int
    steps: int
    nodes: int
    faults: str
    replay: str
    config: SimConfig
    history_jsonl: str
    trace_digest: str
    trace_lines: list[str]
    cluster: ClusterStats
    net: NetStats
    clients: dict[str, int]
    faults_injected: int
    commit_index: int
    snapshots_installed: int
    delivered_by_type: dict[str, int]
    events: int
    invariant_checks: int
    heal_at_ns: int
    recovered_after_ns: int | None
    """Virtual time from the heal to the first write that committed after it (None: none did)."""
    liveness_checked: bool
    violation: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def live(self) -> bool:
        return self.recovered_after_ns is not None and self.recovered_after_ns <= LIVENESS_BOUND_NS


def sim_config(seed: int, nodes: int, **overrides: object) -> SimConfig:
    """The run's configuration, drawn from the seed (so seeds also vary the setting)."""
    rng = random.Random(f"config-{seed}")
    cfg = SimConfig(
        seed=seed,
        nodes=nodes,
        tick_ms=10,
        raft=RaftConfig(
            id=1,
            max_entries_per_msg=rng.choice((4, 64, 256)),
            max_inflight_msgs=rng.choice((4, 256)),
            snapshot_chunk_size=rng.choice((64, 1 << 16)),
        ),
        net=NetConfig(
            min_delay_ns=rng.choice((100_000, NS_PER_MS, 5 * NS_PER_MS)),
            mean_jitter_ns=rng.choice((0, NS_PER_MS, 10 * NS_PER_MS)),
            fifo=rng.random() < 0.8,
        ),
        clients=ClientConfig(clients=rng.choice((3, 5, 8)), keys=rng.choice((1, 3, 5))),
        fsync_ns=rng.choice((0, 0, 200_000, 2 * NS_PER_MS)),
        sm_sync=rng.random() < 0.5,
        snapshot_every=rng.choice((0, 5, 20, 100)),
        keep_entries=rng.choice((0, 3, 50)),
    )
    for name, value in overrides.items():
        setattr(cfg, name, value)
    return cfg


def run(
    seed: int,
    steps: int,
    nodes: int = 3,
    faults: str = "all",
    *,
    trace_keep: bool = False,
    trace_messages: bool = False,
    processor: type[SimProcessor] = ReadyProcessor,
) -> RunResult:
    """Run one simulation; a safety violation is caught and reported in ``violation``.

    ``processor`` handles the nodes' Readies: the production one, unless a test plants a bug.
    """
    with relaxed_gc():
        return _run(seed, steps, nodes, faults, trace_keep, trace_messages, processor)


def _run(
    seed: int,
    steps: int,
    nodes: int,
    faults: str,
    trace_keep: bool,
    trace_messages: bool,
    processor: type[SimProcessor],
) -> RunResult:
    kinds = parse_faults(faults)
    replay = replay_command(seed, steps, nodes, faults)
    cfg = sim_config(
        seed,
        nodes,
        trace_keep=trace_keep,
        trace_messages=trace_messages,
        context=f"seed={seed}; replay: {replay}",
        processor=processor,
    )
    cluster = Cluster(cfg)
    nemesis = Nemesis(cluster, kinds, random.Random(f"nemesis-{seed}"))
    step_ns = cluster.tick_ns
    quiet = min(QUIET_STEPS, steps // 3)
    heal_at = (steps - quiet) * step_ns
    end = steps * step_ns
    violation = None
    try:
        cluster.clients.start()
        nemesis.start()
        cluster.sched.run_until(heal_at)
        nemesis.heal_all()
        cluster.clients.liveness_mark = cluster.sched.now
        cluster.sched.run_until(end)
    except SafetyViolation as e:
        violation = str(e)
    except Exception as e:  # the core raised (InvariantViolation or a bug): report with the seed
        violation = f"{cfg.context}: {type(e).__name__}: {e}\n{traceback.format_exc()}"
    mark = cluster.clients.first_ok_after_mark
    return RunResult(
        seed=seed,
        steps=steps,
        nodes=nodes,
        faults=faults,
        replay=replay,
        config=cfg,
        history_jsonl=cluster.history.to_jsonl(),
        trace_digest=cluster.trace.digest(),
        trace_lines=cluster.trace.lines,
        cluster=cluster.stats,
        net=cluster.net.stats,
        clients={
            "invoked": cluster.clients.stats.invoked,
            "ok": cluster.clients.stats.ok,
            "fail": cluster.clients.stats.fail,
            "info": cluster.clients.stats.info,
            "lost": cluster.clients.stats.lost,
        },
        faults_injected=nemesis.injected,
        commit_index=cluster.inv.max_committed,
        snapshots_installed=cluster.snapshots_installed(),
        delivered_by_type=dict(sorted(cluster.delivered_by_type.items())),
        events=cluster.sched.processed,
        invariant_checks=cluster.inv.checks,
        heal_at_ns=heal_at,
        recovered_after_ns=None if mark is None else mark - heal_at,
        liveness_checked=end - heal_at >= LIVENESS_BOUND_NS,
        violation=violation,
    )


def summary(r: RunResult) -> str:
    """A few lines for humans: what happened and whether it was safe and live."""
    c = r.config
    lines = [
        f"seed {r.seed}: {r.steps} steps of {c.tick_ms} ms, {r.nodes} nodes, faults {r.faults}",
        f"  config: fsync {c.fsync_ns / 1e6:g} ms, sm_sync {c.sm_sync}, snapshot every "
        f"{c.snapshot_every or 'never'} (keep {c.keep_entries}), min delay "
        f"{c.net.min_delay_ns / 1e6:g} ms{'' if c.net.fifo else ' (links reorder)'}, "
        f"{c.clients.clients} clients on {c.clients.keys} keys",
        f"  events {r.events}, messages sent {r.net.sent} delivered {r.net.delivered} "
        f"dropped {r.net.dropped_blocked + r.net.dropped_random + r.net.dropped_dead} "
        f"duplicated {r.net.duplicated}",
        f"  commit index {r.commit_index}, leaders elected {r.cluster.leaders_elected}, "
        f"conf changes applied {r.cluster.conf_changes_applied}, snapshots installed "
        f"{r.snapshots_installed}",
        f"  faults injected {r.faults_injected} (crashes {r.cluster.crashes}, restarts "
        f"{r.cluster.restarts}, transfers {r.cluster.transfers})",
        f"  clients: {r.clients}",
        f"  invariants: {r.invariant_checks} checks, "
        + ("OK" if r.violation is None else f"VIOLATED: {r.violation}"),
    ]
    if r.recovered_after_ns is None:
        live = "no write committed after the heal"
    else:
        live = f"first write after heal committed in {r.recovered_after_ns / 1e6:.1f} ms"
    if not r.liveness_checked:
        live += " (run too short to check liveness)"
    lines.append(f"  liveness: {live}")
    lines.append(f"  trace sha256 {r.trace_digest}")
    lines.append(f"  replay: {r.replay}")
    return "\n".join(lines)
