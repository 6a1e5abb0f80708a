"""``GET /metrics``: Prometheus text from a registry owned by one application (no global state).

Two kinds of series:

* read at scrape time from the node (:class:`RaftCollector`): term, commit and applied index,
  last log and snapshot index, role (one-hot ``aspen_raft_role{role=...}``), leader id, voter
  and learner counts, per-follower match index and lag (on the leader), storage bytes, and
  ``aspen_raft_rejected_messages_total{check=...}`` (impossible peer messages the core refused);
* updated as requests are served (:class:`ApiMetrics`): request latency by route, proposal
  latency by op, read latency by consistency, responses by status and errors by status;
* the peer transport's counters (:class:`PeerCollector`), read at scrape time:
  ``aspen_peer_<counter>_total`` for every field of
  :class:`~aspen.transport.tcp.TransportStats` (connections refused at the cap, failed
  handshakes, idle closes, rejected frames, ignored Hellos, ...).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from aspen.http.errors import Handler
from aspen.http.keys import METRICS
from aspen.node.service import NodeService
from aspen.transport.tcp import TransportStats

PeerStats = TransportStats

log = logging.getLogger("aspen.http.metrics")

ROLES = ("follower", "pre_candidate", "candidate", "leader", "learner")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


def _number(metrics: dict[str, Any], name: str) -> float | None:
    value = metrics.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


_ROLE_NAMES = {r.replace("_", ""): r for r in ROLES}


def _role(value: object) -> str:
    """``"leader"``, ``"Role.LEADER"``, ``"StateLeader"``, ``"PreCandidate"`` -> a ROLES name."""
    text = str(value).lower().rsplit(".", 1)[-1]
    squashed = "".join(c for c in text if c.isalnum()).removeprefix("state")
    return _ROLE_NAMES.get(squashed, squashed or "unknown")


class RaftCollector:
    """Reads ``service.raft_metrics()`` and ``service.storage_bytes()`` on every scrape.

    Keys missing from the node's metrics are skipped; an exception from the node is logged
    and counted in ``aspen_metrics_collect_errors`` rather than failing the scrape.
    """

    _GAUGES = (
        ("term", "aspen_raft_term", "Current Raft term."),
        ("commit", "aspen_raft_commit_index", "Highest log index known committed."),
        ("applied", "aspen_raft_applied_index", "Highest log index applied to the state machine."),
        ("last_log_index", "aspen_raft_last_log_index", "Index of the last log entry."),
        ("snapshot_index", "aspen_raft_snapshot_index", "Index of the latest snapshot."),
        (
            "storage_stalled",
            "aspen_storage_stalled",
            "1 while the map or disk is too full to "
            "store entries (the node refuses them and retries).",
        ),
        ("map_used_bytes", "aspen_storage_map_used_bytes", "Live pages of the LMDB map."),
        ("map_size_bytes", "aspen_storage_map_size_bytes", "Size of the LMDB map."),
    )

    def __init__(self, service: NodeService) -> None:
        self._service = service
        self._errors = 0

    def collect(self) -> Iterable[Metric]:
        try:
            m = dict(self._service.raft_metrics())
        except Exception:
            log.warning("raft_metrics() failed during a scrape", exc_info=True)
            self._errors += 1
            m = {}
        for key, name, text in self._GAUGES:
            value = _number(m, key)
            if value is not None:
                yield GaugeMetricFamily(name, text, value=value)
        if "role" in m:
            role = _role(m["role"])
            fam = GaugeMetricFamily("aspen_raft_role", "1 for this node's role.", labels=["role"])
            for r in sorted({*ROLES, role}):
                fam.add_metric([r], 1.0 if r == role else 0.0)
            yield fam
            yield GaugeMetricFamily(
                "aspen_raft_is_leader", "1 if this node is leader.", value=float(role == "leader")
            )
        leader = m.get("leader")
        if isinstance(leader, int) and not isinstance(leader, bool):
            yield GaugeMetricFamily("aspen_raft_leader_id", "Known leader (0: none).", value=leader)
        for key in ("voters", "learners"):
            members = m.get(key)
            if isinstance(members, list | tuple | set | frozenset):
                yield GaugeMetricFamily(f"aspen_raft_{key}", f"Number of {key}.", len(members))
        yield from self._progress(m)
        yield from self._rejected(m)
        try:
            yield GaugeMetricFamily(
                "aspen_storage_bytes",
                "Size of the node's data files.",
                value=self._service.storage_bytes(),
            )
        except Exception:
            log.warning("storage_bytes() failed during a scrape", exc_info=True)
            self._errors += 1
        yield GaugeMetricFamily(
            "aspen_metrics_collect_errors",
            "Scrapes during which the node failed to report a metric.",
            value=self._errors,
        )

    def _rejected(self, m: dict[str, Any]) -> Iterator[Metric]:
        rejected = m.get("rejected_messages")
        if not isinstance(rejected, dict):
            return
        fam = CounterMetricFamily(
            "aspen_raft_rejected_messages",
            "Peer messages the Raft core rejected as impossible, by the check they failed.",
            labels=["check"],
        )
        for check, count in sorted(rejected.items()):
            if isinstance(count, int):
                fam.add_metric([str(check)], float(count))
        yield fam

    def _progress(self, m: dict[str, Any]) -> Iterator[Metric]:
        progress = m.get("progress")
        if not isinstance(progress, dict) or not progress:
            return
        last = _number(m, "last_log_index")
        match = GaugeMetricFamily(
            "aspen_raft_follower_match_index",
            "Highest index known replicated on each peer (leader only).",
            labels=["peer"],
        )
        lag = GaugeMetricFamily(
            "aspen_raft_follower_lag",
            "Entries each peer is behind the leader's last log index (leader only).",
            labels=["peer"],
        )
        me = str(m.get("id"))
        for peer, p in sorted(progress.items(), key=lambda kv: str(kv[0])):
            if str(peer) == me:
                continue  # the leader's own progress is not a follower's
            value = _number(p, "match") if isinstance(p, dict) else None
            if value is None:
                continue
            match.add_metric([str(peer)], value)
            if last is not None:
                lag.add_metric([str(peer)], max(0.0, last - value))
        yield match
        yield lag


class PeerCollector:
    """The peer transport's monotonic counters, as Prometheus counters, on every scrape."""

    def __init__(self, stats: Callable[[], PeerStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterable[Metric]:
        try:
            stats = self._stats()
        except Exception:
            log.warning("peer transport stats failed during a scrape", exc_info=True)
            return
        for f in dataclasses.fields(stats):
            doc = (f.metadata.get("doc") if f.metadata else None) or f.name.replace("_", " ")
            yield CounterMetricFamily(
                f"aspen_peer_{f.name}", f"Peer transport: {doc}.", value=getattr(stats, f.name)
            )


class ApiMetrics:
    """The per-application registry and the series the request path updates."""

    def __init__(
        self,
        service: NodeService,
        registry: CollectorRegistry | None = None,
        peer_stats: Callable[[], PeerStats] | None = None,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.registry.register(RaftCollector(service))
        if peer_stats is not None:
            self.registry.register(PeerCollector(peer_stats))
        self.requests = Histogram(
            "aspen_http_request_duration_seconds",
            "HTTP request latency by route.",
            ["method", "route"],
            registry=self.registry,
            buckets=_LATENCY_BUCKETS,
        )
        self.responses = Counter(
            "aspen_http_responses",
            "HTTP responses by route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.errors = Counter(
            "aspen_http_errors",
            "HTTP error responses (status >= 400) by status.",
            ["status"],
            registry=self.registry,
        )
        self.proposals = Histogram(
            "aspen_proposal_duration_seconds",
            "Time from receiving a write to its answer, by op.",
            ["op"],
            registry=self.registry,
            buckets=_LATENCY_BUCKETS,
        )
        self.reads = Histogram(
            "aspen_read_duration_seconds",
            "Time to serve a read, by consistency.",
            ["consistency"],
            registry=self.registry,
            buckets=_LATENCY_BUCKETS,
        )
        self._children: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}
        """Labelled children by (method, route, status): ``labels()`` is slow on a hot path.
        Routes are the app's own (or "unmatched"), so the key space stays small."""

    @contextmanager
    def proposal(self, op: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.proposals.labels(op).observe(time.perf_counter() - start)

    @contextmanager
    def read(self, consistency: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.reads.labels(consistency).observe(time.perf_counter() - start)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        method = method if method in _METHODS else "OTHER"
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (
                self.requests.labels(method, route),
                self.responses.labels(method, route, str(status)),
                self.errors.labels(str(status)) if status >= 400 else None,
            )
            self._children[key] = children
        latency, responses, errors = children
        latency.observe(seconds)
        responses.inc()
        if errors is not None:
            errors.inc()


def _route(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost middleware: times every request and counts its final status."""
    start = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as e:
        status = e.status
        raise
    finally:
        request.app[METRICS].observe(
            request.method, _route(request), status, time.perf_counter() - start
        )


async def handle_metrics(request: web.Request) -> web.Response:
    """``GET /metrics``: the Prometheus text exposition of this application's registry."""
    text = generate_latest(request.app[METRICS].registry)
    response = web.Response(body=text)
    response.headers["Content-Type"] = CONTENT_TYPE_PLAIN_0_0_4
    return response
