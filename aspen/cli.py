"""``aspen``: the operator's command line, built on :class:`aspen.client.AsyncClient`.

::

    aspen [--endpoints H:P,H:P | --ticket T] [--token T] [--cacert PEM] [--json]
          [--timeout S] COMMAND ...

    init ID=RAFT@HTTP ...          bootstrap a cluster (sent to the first endpoint)
    add-learner ID RAFT HTTP       add a non-voting member
    promote ID                     make a learner a voter (voters + {ID})
    transfer-leader [--to ID]      hand leadership over (default: the most caught-up voter)
                                   and wait until the new leader is known
    change-membership ID ...       make exactly these the voters
    put K V | get K [--stale] | delete K
    cas K EXPECTED NEW | cas --expect-absent K NEW
    status                         leader, term, members, and a table of every node's state
    ticket                         the cluster ticket
    snapshot                       snapshot the first endpoint's state machine now
    snapshot save FILE             fetch a consistent snapshot file from the first endpoint
    gen-secret                     print a new random cluster secret (no cluster needed)

Exit status: 0 done, 1 failed (definitely not done; also a CAS whose expectation did not
hold), 2 usage or configuration error, 3 outcome unknown (it may have been done).
Endpoints default to ``$ASPEN_ENDPOINTS``, else ``127.0.0.1:8080``. The admin token (for
init, add-learner, promote, change-membership, transfer-leader, snapshot and snapshot save, on
a node that has one) defaults to ``$ASPEN_ADMIN_TOKEN``; ``--cacert`` (default
``$ASPEN_TLS_CA``) talks HTTPS to the nodes and verifies them against that CA.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aspen.client import AsyncClient, Outcome, Result
from aspen.config import DEFAULT_HTTP_ADDR, MAX_NODE_ID, PeerSpec, check_address
from aspen.node.service import Consistency, PeerAddress
from aspen.ticket import TicketError
from aspen.tls import client_context
from aspen.version import VersionAction

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNKNOWN = 0, 1, 2, 3
EXIT_CODES = {Outcome.OK: EXIT_OK, Outcome.FAIL: EXIT_FAILED, Outcome.UNKNOWN: EXIT_UNKNOWN}


@dataclass
class Report:
    """What a command came to: its result, what ``--json`` prints, what a human reads."""

    result: Result[Any]
    data: dict[str, Any] = field(default_factory=dict)
    text: str = ""
    code: int | None = None
    """Overrides the exit status the outcome implies (a CAS that did not apply: 1)."""


# --- argument types -------------------------------------------------------------------------------


def _node_id(text: str) -> int:
    if not text.isascii() or not text.isdigit() or not 0 < int(text) <= MAX_NODE_ID:
        raise argparse.ArgumentTypeError(f"node id must be a positive integer, got {text!r}")
    return int(text)


def _address(text: str) -> str:
    try:
        return check_address(text, allow_port_zero=False)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _member(text: str) -> PeerSpec:
    try:
        peer = PeerSpec.parse(text)
        check_address(peer.raft, allow_port_zero=False)
        check_address(peer.http, allow_port_zero=False)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return peer


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aspen",
        description="Operate an Aspen cluster.",
        epilog="exit status: 0 ok, 1 failed, 2 usage, 3 outcome unknown",
    )
    p.add_argument("--version", action=VersionAction)
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--endpoints",
        default=os.environ.get("ASPEN_ENDPOINTS", DEFAULT_HTTP_ADDR),
        help="comma-separated HTTP addresses (default: $ASPEN_ENDPOINTS or %(default)s)",
    )
    where.add_argument("--ticket", help="a cluster ticket instead of --endpoints")
    p.add_argument(
        "--token",
        default=os.environ.get("ASPEN_ADMIN_TOKEN") or None,
        help="admin token sent as a bearer token (default: $ASPEN_ADMIN_TOKEN)",
    )
    p.add_argument(
        "--cacert",
        default=os.environ.get("ASPEN_TLS_CA") or None,
        help="use HTTPS, verifying nodes against this PEM CA (default: $ASPEN_TLS_CA)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per attempt")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    c = sub.add_parser("init", help="bootstrap a cluster with these voters")
    c.add_argument("members", nargs="+", type=_member, metavar="ID=RAFT@HTTP")
    c = sub.add_parser("add-learner", help="add a non-voting member")
    c.add_argument("node_id", type=_node_id, metavar="ID")
    c.add_argument("raft", type=_address, metavar="RAFT")
    c.add_argument("http", type=_address, metavar="HTTP")
    c = sub.add_parser("promote", help="make a member a voter")
    c.add_argument("node_id", type=_node_id, metavar="ID")
    c = sub.add_parser("transfer-leader", help="hand leadership to another voter")
    c.add_argument("--to", type=_node_id, metavar="ID", help="the voter (default: most caught up)")
    c = sub.add_parser("change-membership", help="make exactly these the voters")
    c.add_argument("voters", nargs="+", type=_node_id, metavar="ID")
    c = sub.add_parser("put", help="set a key")
    c.add_argument("key")
    c.add_argument("value")
    c = sub.add_parser("get", help="read a key")
    c.add_argument("key")
    c.add_argument("--stale", action="store_true", help="read the first endpoint's local state")
    c = sub.add_parser("delete", help="delete a key")
    c.add_argument("key")
    c = sub.add_parser("cas", help="compare and set: cas K EXPECTED NEW")
    c.add_argument("--expect-absent", action="store_true", help="the key must be absent: K NEW")
    c.add_argument("key")
    c.add_argument("values", nargs="+", metavar="EXPECTED NEW")
    sub.add_parser("status", help="leader, term, members and every node's state")
    sub.add_parser("ticket", help="print the cluster ticket")
    c = sub.add_parser("snapshot", help="snapshot the first endpoint now, or save FILE")
    c.add_argument("action", nargs="?", choices=["save"], help="save: fetch a snapshot file")
    c.add_argument("file", nargs="?", metavar="FILE", help="where to save it")
    sub.add_parser("gen-secret", help="print a new random cluster secret")
    return p


# --- commands -------------------------------------------------------------------------------------


async def _init(client: AsyncClient, args: argparse.Namespace) -> Report:
    members = {m.id: PeerAddress(m.raft, m.http) for m in args.members}
    r = await client.init(members)
    return Report(r, {"voters": sorted(members)}, f"initialized with voters {sorted(members)}")


async def _add_learner(client: AsyncClient, args: argparse.Namespace) -> Report:
    r = await client.add_learner(args.node_id, args.raft, args.http)
    return Report(
        r,
        {"node_id": args.node_id, "index": r.index},
        f"node {args.node_id} added as learner (index {r.index})",
    )


async def _change(client: AsyncClient, voters: set[int]) -> Report:
    r = await client.change_membership(voters)
    return Report(
        r,
        {"voters": sorted(voters), "index": r.index},
        f"voters are now {sorted(voters)} (index {r.index})",
    )


async def _promote(client: AsyncClient, args: argparse.Namespace) -> Report:
    m = await client.membership()
    if not m.ok or m.value is None:
        return Report(m)
    voters = set(m.value.get("voters", []))
    if args.node_id in voters:
        return Report(m, {"voters": sorted(voters)}, f"node {args.node_id} is already a voter")
    return await _change(client, voters | {args.node_id})


async def _transfer_leader(client: AsyncClient, args: argparse.Namespace) -> Report:
    r = await client.transfer_leadership(args.to)
    return Report(r, {"leader_id": r.value}, f"node {r.value} is the leader now")


async def _change_membership(client: AsyncClient, args: argparse.Namespace) -> Report:
    return await _change(client, set(args.voters))


async def _put(client: AsyncClient, args: argparse.Namespace) -> Report:
    r = await client.put(args.key, args.value)
    return Report(r, {"key": args.key, "index": r.index}, f"ok (index {r.index})")


async def _get(client: AsyncClient, args: argparse.Namespace) -> Report:
    level = Consistency.STALE if args.stale else Consistency.LINEARIZABLE
    r = await client.get(args.key, consistency=level)
    found = r.ok and r.value is not None
    data = {"key": args.key, "value": r.value, "found": found, "index": r.index}
    return Report(r, data, r.value if found and r.value is not None else "")


async def _delete(client: AsyncClient, args: argparse.Namespace) -> Report:
    r = await client.delete(args.key)
    text = "deleted" if r.value else "(key was absent)"
    return Report(r, {"key": args.key, "existed": r.value, "index": r.index}, text)


async def _cas(client: AsyncClient, args: argparse.Namespace) -> Report:
    need = 1 if args.expect_absent else 2
    if len(args.values) != need:
        usage = "cas --expect-absent K NEW" if args.expect_absent else "cas K EXPECTED NEW"
        raise _UsageError(f"usage: {usage}")
    expected, new = (None, args.values[0]) if args.expect_absent else args.values
    r = await client.cas(args.key, expected, new)
    if not r.ok or r.value is None:
        return Report(r)
    data = {"key": args.key, "applied": r.value.ok, "current": r.value.current, "index": r.index}
    if r.value.ok:
        return Report(r, data, f"ok (index {r.index})")
    was = "absent" if r.value.current is None else repr(r.value.current)
    return Report(r, data, f"not applied: the value is {was}", code=EXIT_FAILED)


async def _ticket(client: AsyncClient, args: argparse.Namespace) -> Report:
    r = await client.cluster_ticket()
    return Report(r, {"ticket": r.value}, r.value or "")


async def _snapshot(client: AsyncClient, args: argparse.Namespace) -> Report:
    if args.action == "save":
        return await _snapshot_save(client, args)
    if args.file is not None:
        raise _UsageError("usage: snapshot | snapshot save FILE")
    r = await client.trigger_snapshot()
    return Report(r, {"index": r.value}, f"snapshot at index {r.value}")


async def _snapshot_save(client: AsyncClient, args: argparse.Namespace) -> Report:
    """Fetch ``GET /snapshot`` from the first endpoint, check it, write it atomically."""
    from aspen.storage.snapfile import SnapshotFile, SnapshotFileError

    if args.file is None:
        raise _UsageError("usage: snapshot save FILE")
    r = await client.snapshot_file(endpoint=client.endpoints[0], timeout=max(args.timeout, 60.0))
    if r.value is None:
        return Report(r)
    data, url = r.value, r.endpoint
    try:
        f = SnapshotFile.decode(data)
    except SnapshotFileError as e:
        return Report(Result(Outcome.FAIL, error=str(e), status=r.status, endpoint=url))
    path = Path(args.file)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(path)
    info = {"file": str(path), "index": f.index, "bytes": len(data), "sha256": f.sha256}
    text = f"saved snapshot at index {f.index} ({len(data)} bytes, sha256 {f.sha256}) to {path}"
    return Report(Result(Outcome.OK, info, status=r.status, endpoint=url), info, text)


async def _status(client: AsyncClient, args: argparse.Namespace) -> Report:
    leader, membership = await asyncio.gather(client.leader(), client.membership())
    if not membership.ok or membership.value is None:
        return Report(membership)
    m = membership.value
    members: dict[str, Any] = m.get("members") or {}
    ids = sorted({*m.get("voters", []), *m.get("learners", []), *map(int, members)})
    urls = {i: (members.get(str(i)) or {}).get("http") for i in ids}

    async def metrics(node: int) -> Result[dict[str, Any]]:
        url = urls[node]
        if not url:
            return Result(Outcome.FAIL, error="no address known")
        return await client.raft_metrics(endpoint=url)

    results = await asyncio.gather(*(metrics(i) for i in ids))
    nodes = []
    for i, r in zip(ids, results, strict=True):
        row: dict[str, Any] = {"id": i, "http": urls[i], "reachable": r.ok}
        if r.ok and r.value:
            for k in ("role", "term", "commit", "applied", "last_log_index", "snapshot_index"):
                row[k] = r.value.get(k)
        else:
            row["error"] = r.error
        row["voter"] = i in m.get("voters", [])
        nodes.append(row)
    info = leader.value if leader.ok else None
    terms = [n["term"] for n in nodes if isinstance(n.get("term"), int)]
    data = {
        "leader": {"id": info.id, "http": info.http} if info else None,
        "term": max(terms) if terms else None,
        "voters": m.get("voters", []),
        "learners": m.get("learners", []),
        "joint": m.get("joint", False),
        "nodes": nodes,
    }
    return Report(membership, data, _status_text(data))


def _status_text(data: dict[str, Any]) -> str:
    leader = data["leader"]
    lines = [
        f"leader: {leader['id']} ({leader['http']})" if leader else "leader: unknown",
        f"term: {data['term'] if data['term'] is not None else '?'}",
        f"voters: {' '.join(map(str, data['voters'])) or '-'}"
        + ("  (joint)" if data["joint"] else ""),
        f"learners: {' '.join(map(str, data['learners'])) or '-'}",
        "",
    ]
    header = ["ID", "KIND", "ROLE", "TERM", "COMMIT", "APPLIED", "LAST", "SNAPSHOT", "HTTP"]
    keys = ("role", "term", "commit", "applied", "last_log_index", "snapshot_index")
    rows = [[*header, "STATE"]]
    for n in data["nodes"]:
        cells = [str(n["id"]), "voter" if n["voter"] else "learner"]
        cells += ["-" if n.get(k) is None else str(n[k]) for k in keys]
        state = "ok" if n["reachable"] else f"unreachable: {n.get('error')}"[:60]
        rows.append([*cells, n["http"] or "-", state])
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    for r in rows:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(lines)


COMMANDS: dict[str, Callable[[AsyncClient, argparse.Namespace], Awaitable[Report]]] = {
    "init": _init,
    "add-learner": _add_learner,
    "promote": _promote,
    "transfer-leader": _transfer_leader,
    "change-membership": _change_membership,
    "put": _put,
    "get": _get,
    "delete": _delete,
    "cas": _cas,
    "status": _status,
    "ticket": _ticket,
    "snapshot": _snapshot,
}


class _UsageError(Exception):
    pass


# --- running --------------------------------------------------------------------------------------


def _print(args: argparse.Namespace, report: Report) -> int:
    r = report.result
    code = report.code if report.code is not None else EXIT_CODES[r.outcome]
    if args.json:
        out: dict[str, Any] = {"outcome": r.outcome.value}
        if r.ok:
            out.update(report.data)
        else:
            out.update(error=r.error, status=r.status, endpoint=r.endpoint)
        print(json.dumps(out, default=str))
    elif r.ok:
        if report.text:
            stream = sys.stdout if code == EXIT_OK else sys.stderr
            print(report.text, file=stream)
        elif args.command == "get":
            print("(key not found)", file=sys.stderr)
    else:
        status = f" [HTTP {r.status}]" if r.status is not None else ""
        what = "outcome unknown" if r.outcome is Outcome.UNKNOWN else "failed"
        print(f"aspen: {args.command} {what}{status}: {r.error}", file=sys.stderr)
    return code


def _client(args: argparse.Namespace) -> AsyncClient:
    if args.timeout <= 0:
        raise _UsageError("--timeout must be positive")
    options: dict[str, Any] = {
        "timeout": args.timeout,
        "connect_timeout": min(1.0, args.timeout),
        "token": args.token,
    }
    if args.cacert:
        try:
            options["ssl"] = client_context(args.cacert)
        except (OSError, ValueError) as e:  # ssl.SSLError is an OSError
            raise _UsageError(f"--cacert {args.cacert}: {e}") from None
    if args.ticket:
        return AsyncClient.from_ticket(args.ticket, **options)
    return AsyncClient(args.endpoints, **options)


async def _run(client: AsyncClient, args: argparse.Namespace) -> int:
    async with client:
        report = await COMMANDS[args.command](client, args)
    return _print(args, report)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (the console script exits with it)."""
    try:
        args = parser().parse_args(argv)
    except SystemExit as e:  # argparse: --help (0) or a usage error (2)
        return e.code if isinstance(e.code, int) else EXIT_USAGE
    if args.command == "gen-secret":
        print(secrets.token_urlsafe(32))
        return EXIT_OK
    try:
        client = _client(args)  # no I/O yet: the session opens on first use
    except (_UsageError, TicketError, ValueError) as e:  # ValueError: a bad endpoint
        print(f"aspen: {e}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return asyncio.run(_run(client, args))
    except _UsageError as e:
        print(f"aspen: {e}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
