"""Cluster and operations endpoints: bootstrap, membership, leader, metrics, health, tickets."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from aspen.http import validation as v
from aspen.http.auth import is_admin
from aspen.http.errors import RequestError, error_response, json_response
from aspen.http.keys import CLUSTER_SECRET, SERVICE
from aspen.node.service import HealthCheck, HealthStatus, Membership, NodeService, PeerAddress
from aspen.ticket import MAX_PEERS, Ticket, TicketError, TicketPeer

log = logging.getLogger("aspen.http")


def _service(request: web.Request) -> NodeService:
    return request.app[SERVICE]


def _address_json(a: PeerAddress | None) -> dict[str, str] | None:
    return {"raft": a.raft, "http": a.http} if a else None


def membership_json(m: Membership) -> dict[str, Any]:
    return {
        "voters": sorted(m.voters),
        "learners": sorted(m.learners),
        "voters_outgoing": sorted(m.voters_outgoing),
        "joint": bool(m.voters_outgoing),
        "members": {str(i): _address_json(a) for i, a in sorted(m.addresses.items())},
    }


async def init(request: web.Request) -> web.Response:
    """``POST /init`` ``{"members": {"1": {"raft": "h:p", "http": "h:p"}, ...}}``."""
    b = await v.body(request, v.InitBody)
    if not b.members:
        raise RequestError("members must name at least one node")
    members = {
        v.parse_node_id(k, "member id"): v.peer_address(a.raft, a.http, f"member {k}")
        for k, a in b.members.items()
    }
    await _service(request).init(members)
    return json_response({"initialized": True, "voters": sorted(members)})


async def _node_body(request: web.Request) -> tuple[int, PeerAddress]:
    b = await v.body(request, v.NodeBody)
    return v.check_node_id(b.node_id), v.peer_address(b.raft, b.http)


async def add_learner(request: web.Request) -> web.Response:
    """``POST /add-learner`` ``{"node_id", "raft", "http"}``."""
    node_id, address = await _node_body(request)
    r = await _service(request).add_learner(node_id, address)
    return json_response({"node_id": node_id, "index": r.index})


async def add_peer(request: web.Request) -> web.Response:
    """``POST /add-peer`` ``{"node_id", "raft", "http"}``: record addresses, same membership."""
    node_id, address = await _node_body(request)
    r = await _service(request).add_peer(node_id, address)
    return json_response({"node_id": node_id, "index": r.index})


async def remove_peer(request: web.Request) -> web.Response:
    """``DELETE /peers/{id}``: delete a node's address record (undo an add-peer)."""
    v.query(request, ())
    node_id = v.parse_node_id(request.match_info["node_id"])
    r = await _service(request).remove_peer(node_id)
    return json_response({"node_id": node_id, "removed": True, "index": r.index})


async def transfer_leadership(request: web.Request) -> web.Response:
    """``POST /transfer-leadership`` ``{"to": ID}`` (optional): answered once the new leader
    is known (409 if the transfer did not happen)."""
    b = await v.body(request, v.TransferBody, optional=True)
    target = None if b.to is None else v.check_node_id(b.to, "to")
    r = await _service(request).transfer_leadership(target)
    return json_response({"previous": r.previous, "leader_id": r.leader, "term": r.term})


async def change_membership(request: web.Request) -> web.Response:
    """``POST /change-membership`` ``{"voters": [1, 2, 3]}``."""
    voters = v.check_voters((await v.body(request, v.VotersBody)).voters)
    r = await _service(request).change_membership(voters)
    return json_response({"voters": sorted(voters), "index": r.index})


async def trigger_snapshot(request: web.Request) -> web.Response:
    """``POST /trigger-snapshot`` (empty body or ``{}``)."""
    await v.body(request, v.EmptyBody, optional=True)
    index = await _service(request).trigger_snapshot()
    return json_response({"index": index})


async def snapshot(request: web.Request) -> web.Response:
    """``GET /snapshot``: a consistent snapshot file of this node's state machine."""
    v.query(request, ())
    data = await _service(request).snapshot_file()
    return web.Response(body=data, content_type="application/octet-stream")


async def leader(request: web.Request) -> web.Response:
    """``GET /leader``: who leads, as this node knows it; 503 when it knows of none."""
    v.query(request, ())
    service = _service(request)
    leader_id, address = service.leader()
    if not leader_id:
        return error_response(503, "no leader known", "unavailable", leader_id=None)
    if address is None:
        address = service.membership().addresses.get(leader_id)
    return json_response(
        {
            "leader_id": leader_id,
            "http": address.http if address else None,
            "raft": address.raft if address else None,
            "is_self": leader_id == service.node_id,
        }
    )


async def raft_metrics(request: web.Request) -> web.Response:
    v.query(request, ())
    return json_response(_service(request).raft_metrics())


async def node_info(request: web.Request) -> web.Response:
    v.query(request, ())
    return json_response(_service(request).node_info())


async def membership(request: web.Request) -> web.Response:
    v.query(request, ())
    return json_response(membership_json(_service(request).membership()))


def build_ticket(cluster_id: str, m: Membership, secret: str = "") -> Ticket | None:
    """A ticket naming up to 16 members with known, valid addresses: voters first."""
    peers: list[TicketPeer] = []
    for node_id in [*sorted(m.voters), *sorted(m.learners - m.voters)]:
        address = m.addresses.get(node_id)
        if address is None or len(peers) == MAX_PEERS:
            continue
        try:
            peers.append(TicketPeer(node_id, address.raft, address.http))
        except TicketError as e:
            log.warning("member %d left out of the cluster ticket: %s", node_id, e)
    return Ticket(cluster_id, tuple(peers), secret) if peers else None


async def cluster_ticket(request: web.Request) -> web.Response:
    """``GET /cluster-ticket``: the cluster id and member addresses, as a ticket string.

    With the admin token (on a node that has one and a cluster secret) the ticket also
    carries the secret, so a node started with it can join; ``"secret": true`` says so.
    """
    v.query(request, ())
    service = _service(request)
    secret = request.app.get(CLUSTER_SECRET)
    secret = secret if secret and is_admin(request) else ""
    ticket = build_ticket(service.cluster_id(), service.membership(), secret)
    if ticket is None:
        return error_response(
            503, "no member addresses known (is the cluster initialized?)", "unavailable"
        )
    return json_response(
        {
            "ticket": ticket.encode(),
            "cluster_id": ticket.cluster_id,
            "peers": [{"id": p.id, "raft": p.raft, "http": p.http} for p in ticket.peers],
            "secret": bool(ticket.secret),
        }
    )


def _overall(checks: list[HealthCheck]) -> str:
    statuses = {c.status for c in checks}
    if HealthStatus.FAIL in statuses:
        return "unhealthy"
    return "degraded" if HealthStatus.DEGRADED in statuses else "healthy"


async def health(request: web.Request) -> web.Response:
    """``GET /health``: 200 healthy or degraded; 503 unhealthy when any check fails."""
    v.query(request, ())
    service = _service(request)
    try:
        checks = list(service.health())
    except Exception as e:
        log.exception("health() raised")
        checks = [HealthCheck("health", HealthStatus.FAIL, f"health check raised: {e!r}")]
    status = _overall(checks)
    try:
        removed = service.membership().removed(service.node_id)
    except Exception:
        log.exception("membership() raised")
        removed = False
    return json_response(
        {
            "status": status,
            "node_id": service.node_id,
            "removed": removed,
            "checks": [
                {"name": c.name, "status": str(c.status), "detail": c.detail} for c in checks
            ],
        },
        status=503 if status == "unhealthy" else 200,
    )


def add_routes(app: web.Application) -> None:
    app.router.add_post("/init", init)
    app.router.add_post("/add-learner", add_learner)
    app.router.add_post("/add-peer", add_peer)
    app.router.add_delete("/peers/{node_id}", remove_peer)
    app.router.add_post("/change-membership", change_membership)
    app.router.add_post("/transfer-leadership", transfer_leadership)
    app.router.add_post("/trigger-snapshot", trigger_snapshot)
    app.router.add_get("/snapshot", snapshot)
    app.router.add_get("/leader", leader)
    app.router.add_get("/raft-metrics", raft_metrics)
    app.router.add_get("/node-info", node_info)
    app.router.add_get("/membership", membership)
    app.router.add_get("/cluster-ticket", cluster_ticket)
    app.router.add_get("/health", health)
