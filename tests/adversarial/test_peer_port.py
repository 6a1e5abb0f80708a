"""Attacks on a live cluster's Raft port and admin endpoints (issue #13, items 2 and 3).

Every test starts three real ``aspen-node`` processes that share a cluster secret and an admin
token, attacks one of them over raw sockets (or raw HTTP), and then checks that the node is
still running and the cluster still serves a write and a linearizable read.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from aspen.client import Outcome
from aspen.raft.messages import AppendEntriesResponse, Heartbeat
from aspen.ticket import Ticket
from aspen.wire import Auth, Challenge, FrameDecoder, encode
from lab.runtime.base import NodeCommand
from tests.adversarial._peer_port_util import (
    CLUSTER_ID,
    SECRET,
    TOKEN,
    PeerCluster,
    authenticate,
    close_all,
    closed_within,
    connect,
    fake_hello,
    node_argv_for,
    peer_cluster,
)
from tests.waiting import eventually

pytestmark = pytest.mark.integration

MiB = 1 << 20


def no_fatal_errors(pc: PeerCluster) -> None:
    for n in pc.ids:
        assert pc.alive(n), pc.log(n)[-3000:]
        log = pc.log(n)
        assert "Fatal error" not in log and "Traceback" not in log, log[-3000:]


async def test_a_process_without_the_secret_cannot_speak_raft(tmp_path: Path) -> None:
    """(a) Hello as node 2, then the AppendEntriesResponse that once crashed the leader."""
    async with peer_cluster(tmp_path) as pc:
        leader = await pc.leader()
        spoofed = next(n for n in pc.ids if n != leader)
        before = await pc.metrics(leader)
        aer = encode(AppendEntriesResponse(1, spoofed, leader, 10**9, False, 0, 0))

        # Without a nonce: refused at the Hello.
        conn = await connect(pc.raft_port(leader))
        conn[1].write(fake_hello(spoofed, "127.0.0.1:1") + aer * 5)
        assert await closed_within(conn, 5)

        # With a nonce: the node challenges; a forged proof is refused, Raft frames unread.
        conn = await connect(pc.raft_port(leader))
        conn[1].write(fake_hello(spoofed, "127.0.0.1:1", os.urandom(32)))
        decoder = FrameDecoder()
        frames = decoder.feed(await asyncio.wait_for(conn[0].read(4096), 5))
        assert len(frames) == 1 and isinstance(frames[0], Challenge)
        conn[1].write(encode(Auth(os.urandom(32))) + aer * 5)
        assert await closed_within(conn, 5)

        # Raft frames with no Hello at all.
        conn = await connect(pc.raft_port(leader))
        conn[1].write(encode(Heartbeat(99, spoofed, leader, 10**9)) + aer)
        assert await closed_within(conn, 5)

        after = await pc.metrics(leader)
        assert after["handshake_failures"] - before["handshake_failures"] == 3
        no_fatal_errors(pc)
        assert await pc.leader() == leader  # the term did not move: nothing was believed
        await pc.serves("after-spoof", "ok")


async def test_many_connections_with_huge_partial_frames_keep_memory_bounded(
    tmp_path: Path,
) -> None:
    """(b) 40 connections: those beyond the cap are closed at once; the others announce a
    16 MiB frame (refused at its prefix) or hold the largest partial frame a stranger may."""
    cap = 16
    extra = ["--peer-max-connections", str(cap), "--peer-handshake-ms", "10000"]
    async with peer_cluster(tmp_path, extra) as pc:
        leader = await pc.leader()
        proc = pc.process(leader)
        rss_before = proc.memory_info().rss
        before = await pc.metrics(leader)
        conns = [await connect(pc.raft_port(leader)) for _ in range(40)]
        try:
            closed = await asyncio.gather(*(closed_within(c, 1.0) for c in conns))
            refused = sum(closed)
            held = [c for c, gone in zip(conns, closed, strict=True) if not gone]
            # Two slots belong to the followers' links; every other slot went to the attacker.
            assert refused >= 40 - cap and len(held) >= cap - 2 - 1, (refused, len(held))
            after_cap = await pc.metrics(leader)
            assert after_cap["connections_refused"] - before["connections_refused"] == refused

            async def huge(writer: asyncio.StreamWriter) -> int:
                sent = 0
                try:
                    writer.write((16 * MiB - 1).to_bytes(4, "big"))
                    chunk = b"\xa5" * (256 << 10)
                    while sent < 16 * MiB:
                        writer.write(chunk)
                        await writer.drain()
                        sent += len(chunk)
                except (ConnectionError, OSError):
                    pass
                return sent

            def partial(writer: asyncio.StreamWriter) -> None:
                body = 60 << 10  # just under the 64 KiB allowed before the handshake
                writer.write(body.to_bytes(4, "big") + b"\x5a" * (body - 1))

            half = len(held) // 2
            for _, w in held[half:]:
                partial(w)
            sent = await asyncio.gather(*(huge(w) for _, w in held[:half]))
            peak = rss_before
            for _ in range(20):  # sample while the partial frames are held
                peak = max(peak, proc.memory_info().rss)
                await asyncio.sleep(0.05)
            for c in held[:half]:
                assert await closed_within(c, 5)
            for c in held[half:]:
                assert not await closed_within(c, 0.2)  # held until the handshake timeout
            growth = peak - rss_before
            print(
                f"\n[peer-port memory] node {leader}: RSS before {rss_before / MiB:.1f} MiB, "
                f"peak during attack {peak / MiB:.1f} MiB, growth {growth / MiB:.1f} MiB; "
                f"{refused} of 40 connections refused at the cap, {len(held)} admitted; "
                f"attacker pushed {sum(sent) / MiB:.1f} MiB before being cut off"
            )
            assert growth < 150 * MiB
        finally:
            await close_all(conns)
        no_fatal_errors(pc)
        await pc.serves("after-flood", "ok")


async def test_without_a_secret_partial_frames_are_bounded_by_the_node_wide_budget(
    tmp_path: Path,
) -> None:
    """(b, insecure default) A Hello is all a stranger needs to be allowed 16 MiB frames; the
    node-wide budget for partial frames (4 x 16 MiB) is what bounds 30 such connections."""
    async with peer_cluster(tmp_path, secret=False) as pc:
        leader = await pc.leader()
        proc = pc.process(leader)
        rss_before = proc.memory_info().rss
        before = await pc.metrics(leader)
        conns = [await connect(pc.raft_port(leader)) for _ in range(30)]
        peak = rss_before
        done = asyncio.Event()

        async def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, proc.memory_info().rss)
                await asyncio.sleep(0.02)

        async def huge(i: int, writer: asyncio.StreamWriter) -> int:
            sent = 0
            try:
                writer.write(fake_hello(100 + i) + (16 * MiB - 1).to_bytes(4, "big"))
                chunk = b"\xa5" * (256 << 10)
                while sent + len(chunk) < 16 * MiB - 1:  # the frame never completes
                    writer.write(chunk)
                    await writer.drain()
                    sent += len(chunk)
            except (ConnectionError, OSError):
                pass
            return sent

        sampler = asyncio.create_task(sample())
        try:
            sent = await asyncio.gather(*(huge(i, w) for i, (_, w) in enumerate(conns)))
            for _ in range(10):
                peak = max(peak, proc.memory_info().rss)
                await asyncio.sleep(0.05)
        finally:
            done.set()
            await sampler
            await close_all(conns)
        after = await pc.metrics(leader)
        growth = peak - rss_before
        print(
            f"\n[peer-port memory, no secret] node {leader}: RSS before "
            f"{rss_before / MiB:.1f} MiB, peak {peak / MiB:.1f} MiB, growth {growth / MiB:.1f} "
            f"MiB; attacker pushed {sum(sent) / MiB:.0f} MiB on 30 connections; "
            f"{after['buffer_overflows'] - before['buffer_overflows']:.0f} closed at the budget"
        )
        assert after["buffer_overflows"] > before["buffer_overflows"]
        assert growth < 150 * MiB
        no_fatal_errors(pc)
        await pc.serves("after-insecure-flood", "ok")


async def test_fake_hellos_never_make_the_node_dial(tmp_path: Path) -> None:
    """(c) 1000 Hellos naming unknown ids and a bait address: 500 from strangers, 500 from a
    process that holds the secret but is no member. Nothing ever connects to the bait."""
    async with peer_cluster(tmp_path) as pc:
        dialled: list[object] = []

        async def bait_handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            dialled.append(w.get_extra_info("peername"))
            w.close()

        bait = await asyncio.start_server(bait_handler, "127.0.0.1", 0)
        bait_addr = f"127.0.0.1:{bait.sockets[0].getsockname()[1]}"
        try:
            leader = await pc.leader()
            target = next(n for n in pc.ids if n != leader)  # a follower: it answers hellos too
            port = pc.raft_port(target)
            before = await pc.metrics(target)
            cpu_before = pc.process(target).cpu_times()
            started = time.monotonic()

            async def stranger(i: int) -> None:
                conn = await connect(port)
                nonce = os.urandom(32) if i % 2 else b""
                conn[1].write(fake_hello(1000 + i, bait_addr, nonce) + encode(Auth(b"x" * 32)))
                assert await closed_within(conn, 5)

            async def insider(i: int) -> None:
                conn = await connect(port)
                await authenticate(*conn, 5000 + i, target, bait_addr)
                await close_all([conn])

            for batch in range(0, 500, 20):
                await asyncio.gather(*(stranger(i) for i in range(batch, batch + 20)))
                await asyncio.gather(*(insider(i) for i in range(batch, batch + 20)))

            async def all_counted() -> bool:
                m = await pc.metrics(target)
                return m["hellos_ignored"] - before["hellos_ignored"] == 500

            await eventually(all_counted, what="500 authenticated hellos ignored")
            # Absence of a dial can only be watched for a while: a dial would follow the
            # Hello within milliseconds; give it ample time, failing as soon as one comes.
            for _ in range(20):
                assert dialled == []
                await asyncio.sleep(0.05)
            after = await pc.metrics(target)
            assert after["connect_failures"] == before["connect_failures"]
            assert after["handshake_failures"] - before["handshake_failures"] == 500
            own = {pc.raft_port(n) for n in pc.ids} | {
                pc.rt.endpoint(n, "http").port for n in pc.ids
            }
            remote = {c.raddr.port for c in pc.process(target).net_connections("tcp") if c.raddr}
            # Every remote port is a cluster port or an ephemeral port of a peer dialling in.
            assert int(bait_addr.rsplit(":", 1)[1]) not in remote
            cpu_after = pc.process(target).cpu_times()
            cpu = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
            elapsed = time.monotonic() - started
            print(
                f"\n[peer-port hellos] node {target}: 1000 fake hellos in {elapsed:.1f} s, "
                f"node CPU {cpu:.2f} s ({100 * cpu / elapsed:.0f}% of a core), "
                f"0 outbound dials (connect failures {after['connect_failures']:.0f} "
                f"before and after), cluster ports {sorted(own)}"
            )
        finally:
            bait.close()
            await bait.wait_closed()
        no_fatal_errors(pc)
        await pc.serves("after-hellos", "ok")


async def test_a_fresh_node_learns_a_bounded_number_of_addresses(tmp_path: Path) -> None:
    """A node in no configuration yet must learn its future leader's address from a Hello (how
    a cluster forms when only ``init`` names the members); 40 insiders each naming their own
    listener make it dial at most 16 of them."""
    import uuid

    from lab.runtime.local import LocalRuntime

    rt = LocalRuntime(tmp_path, [1], run_id=f"adv-{uuid.uuid4().hex}")
    servers: list[asyncio.Server] = []
    dialled: set[int] = set()
    try:
        env = {"ASPEN_CLUSTER_SECRET": SECRET}
        rt.start(1, NodeCommand([*node_argv_for(rt, 1), "--cluster-id", CLUSTER_ID], env))
        for i in range(40):

            async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter, i: int = i) -> None:
                dialled.add(i)
                w.close()

            servers.append(await asyncio.start_server(handler, "127.0.0.1", 0))
        port = rt.endpoint(1, "raft").port

        async def up() -> bool:
            assert rt.exit_code(1) is None
            try:
                await close_all([await connect(port)])
            except OSError:
                return False
            return True

        await eventually(up, what="node 1 listening")
        for i, server in enumerate(servers):
            conn = await connect(port)
            address = f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
            await authenticate(*conn, 100 + i, 1, address)
            await close_all([conn])
        await eventually(lambda: len(dialled) >= 16, what="the first 16 addresses dialled")
        for _ in range(20):  # watching for a 17th: it would follow its Hello within ms
            assert len(dialled) == 16, sorted(dialled)
            await asyncio.sleep(0.05)
        assert dialled == set(range(16))
        assert rt.exit_code(1) is None
    finally:
        for server in servers:
            server.close()
        rt.close()


BAD_ADDRESSES = ["no-port", "host:99999", "[zz]:1", "a b:1", "x" * 300 + ":1", ":::", "h:0"]


async def test_an_unparsable_address_closes_only_its_connection(tmp_path: Path) -> None:
    """(d) The Hello's address is checked like a configured one; a bad one is a protocol
    error for that connection, never "Fatal error on transport"."""
    async with peer_cluster(tmp_path) as pc:
        leader = await pc.leader()
        port = pc.raft_port(leader)
        before = await pc.metrics(leader)
        bystander = await connect(port)
        await authenticate(*bystander, 77, leader, "127.0.0.1:9")
        for address in BAD_ADDRESSES:
            for nonce in (b"", os.urandom(32)):
                conn = await connect(port)
                conn[1].write(fake_hello(2, address, nonce))
                assert await closed_within(conn, 5), address
        assert not await closed_within(bystander, 0.3)
        await close_all([bystander])
        after = await pc.metrics(leader)
        assert after["handshake_failures"] - before["handshake_failures"] == 2 * len(BAD_ADDRESSES)
        assert after["reconnects"] == before["reconnects"]
        no_fatal_errors(pc)
        await pc.serves("after-bad-address", "ok")


async def test_an_idle_connection_after_the_handshake_is_closed(tmp_path: Path) -> None:
    """(e) With a 1.5 s idle timeout an authenticated but silent connection is closed, while
    the cluster's own quiet links (follower to follower) stay up on pings."""
    async with peer_cluster(tmp_path, ["--peer-idle-ms", "1500"]) as pc:
        leader = await pc.leader()
        before = {n: await pc.metrics(n) for n in pc.ids}  # startup dials may have failed
        conn = await connect(pc.raft_port(leader))
        await authenticate(*conn, 99, leader, "")
        started = time.monotonic()
        assert await closed_within(conn, 15)
        idle = time.monotonic() - started
        assert 1.0 < idle < 10, idle
        m = await pc.metrics(leader)
        assert m["idle_closed"] == 1
        # Several idle timeouts have passed: no link of the cluster itself was cut.
        for n in pc.ids:
            m = await pc.metrics(n)
            assert m["idle_closed"] == (1 if n == leader else 0), (n, m)
            assert m["connect_failures"] == before[n]["connect_failures"], (n, m)
            assert m["reconnects"] == before[n]["reconnects"], (n, m)
        print(f"\n[peer-port idle] silent authenticated connection closed after {idle:.2f} s")
        no_fatal_errors(pc)
        await pc.serves("after-idle", "ok")


async def test_admin_endpoints_need_the_token(tmp_path: Path) -> None:
    """(f) Raw HTTP: no token or a wrong one is a 401 JSON body; the token works; so does
    the ``aspen`` CLI with ``ASPEN_ADMIN_TOKEN``."""
    async with peer_cluster(tmp_path) as pc:
        leader = await pc.leader()
        url = pc.url(leader)
        requests = [
            ("/trigger-snapshot", {}, 200),
            ("/change-membership", {"voters": [1, 2, 3]}, 200),
            ("/add-peer", {"node_id": 3, "raft": pc.rt.endpoint(3, "raft").address,
                           "http": pc.rt.endpoint(3, "http").address}, 200),
            ("/add-learner", {"node_id": 9, "raft": "127.0.0.1:1", "http": "127.0.0.1:2"}, 401),
            ("/init", {"members": {"1": {"raft": "127.0.0.1:1", "http": "127.0.0.1:2"}}}, 409),
        ]  # fmt: skip
        async with aiohttp.ClientSession() as session:
            for path, body, ok_status in requests:
                for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": TOKEN}):
                    async with session.post(url + path, json=body, headers=headers) as r:
                        assert r.status == 401, (path, headers, await r.text())
                        assert (await r.json())["code"] == "unauthorized"
                if ok_status == 401:
                    continue  # adding a member that will never start is not tried for real
                auth = {"Authorization": f"Bearer {TOKEN}"}
                async with session.post(url + path, json=body, headers=auth) as r:
                    assert r.status == ok_status, (path, await r.text())
        members = await pc.client.membership()
        assert members.value is not None and members.value["voters"] == [1, 2, 3]
        assert members.value["learners"] == []

        def cli(*argv: str, token: str | None) -> subprocess.CompletedProcess[str]:
            env = {k: v for k, v in os.environ.items() if k != "ASPEN_ADMIN_TOKEN"}
            if token is not None:
                env["ASPEN_ADMIN_TOKEN"] = token
            cmd = [sys.executable, "-m", "aspen.cli", "--endpoints", url, *argv]
            return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=30)

        denied = await asyncio.to_thread(cli, "snapshot", token=None)
        assert denied.returncode == 1 and "401" in denied.stderr, denied
        allowed = await asyncio.to_thread(cli, "snapshot", token=TOKEN)
        assert allowed.returncode == 0, allowed
        backup = tmp_path / "backup.snap"  # the whole state: an operator's download
        denied = await asyncio.to_thread(cli, "snapshot", "save", str(backup), token=None)
        assert denied.returncode == 1 and "401" in denied.stderr and not backup.exists(), denied
        allowed = await asyncio.to_thread(cli, "snapshot", "save", str(backup), token=TOKEN)
        assert allowed.returncode == 0 and backup.stat().st_size > 0, allowed
        no_fatal_errors(pc)
        await pc.serves("after-admin", "ok")


async def test_a_ticket_from_an_admin_carries_the_secret_and_lets_a_node_join(
    tmp_path: Path,
) -> None:
    """The legitimate way in: ``aspen --token T ticket`` hands out a ticket with the secret;
    node 4, given only that ticket (and the admin token to ask to be added), joins and
    replicates. Node 5, given a ticket without the secret, is added over HTTP but never gets a
    single Raft frame accepted."""
    async with peer_cluster(tmp_path, spare=(4, 5)) as pc:
        await pc.serves("before-join", "ok")

        def cli_ticket(token: str | None) -> str:
            env = {k: v for k, v in os.environ.items() if not k.startswith("ASPEN_")}
            cmd = [sys.executable, "-m", "aspen.cli", "--endpoints", pc.url(1)[7:], "ticket"]
            if token:
                cmd[3:3] = ["--token", token]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=30)
            assert out.returncode == 0, out
            return out.stdout.strip()

        with_secret = await asyncio.to_thread(cli_ticket, TOKEN)
        without = await asyncio.to_thread(cli_ticket, None)
        assert Ticket.decode(with_secret).secret == SECRET
        assert Ticket.decode(without).secret == ""
        # Only ASPEN_ADMIN_TOKEN in the environment: the secret comes from the ticket alone.
        env = {"ASPEN_CLUSTER_SECRET": "", "ASPEN_ADMIN_TOKEN": TOKEN}
        pc.rt.start(4, NodeCommand([*node_argv_for(pc.rt, 4), "--ticket", with_secret], env))
        pc.rt.start(5, NodeCommand([*node_argv_for(pc.rt, 5), "--ticket", without], env))
        url4 = pc.url(4)

        async def replicated() -> bool:
            r = await pc.client.get("before-join", consistency="stale", endpoint=url4)
            return r.outcome is Outcome.OK and r.value == "ok"

        await eventually(replicated, timeout=30, what="node 4 joined and caught up")

        async def five_is_learner() -> bool:
            m = await pc.client.membership()
            return m.value is not None and 5 in m.value["learners"]

        await eventually(five_is_learner, what="node 5 added as a learner over HTTP")
        r5 = await pc.client.get("before-join", consistency="stale", endpoint=pc.url(5))
        assert r5.value is None  # not a frame got through

        async def five_refused() -> bool:
            counts = [(await pc.metrics(n))["handshake_failures"] for n in pc.ids]
            return sum(counts) >= 1

        await eventually(five_refused, what="node 5's Hellos without a proof refused")
        no_fatal_errors(pc)


def self_signed(directory: Path) -> tuple[Path, Path, Path]:
    """A self-signed certificate for 127.0.0.1, serving as its own CA: (cert, key, ca)."""
    cert, key = directory / "node.pem", directory / "node.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
            "-subj", "/CN=aspen-test", "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key, cert


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl binary to make a cert")
async def test_tls_on_peer_and_client_traffic(tmp_path: Path) -> None:
    """Peers talk mutual TLS, clients HTTPS; a plain-TCP stranger gets nowhere."""
    certs = self_signed(tmp_path)
    async with peer_cluster(tmp_path / "run", tls=certs) as pc:
        leader = await pc.leader()
        await pc.serves("over-tls", "ok")
        conn = await connect(pc.raft_port(leader))
        conn[1].write(fake_hello(2, "127.0.0.1:1"))
        assert await closed_within(conn, 15)
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.ClientError):
                async with session.get(pc.url(leader).replace("https", "http") + "/health"):
                    pass
        host_port = pc.rt.endpoint(leader, "http").address
        cmd = [sys.executable, "-m", "aspen.cli", "--endpoints", host_port]
        ok = await asyncio.to_thread(
            subprocess.run,
            [*cmd, "--cacert", str(certs[2]), "put", "via-cli", "tls"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert ok.returncode == 0, ok
        untrusted = await asyncio.to_thread(
            subprocess.run, [*cmd, "get", "via-cli"], capture_output=True, text=True, timeout=30
        )
        assert untrusted.returncode != 0  # plain HTTP to a TLS port, or an unknown CA
        no_fatal_errors(pc)
        await pc.serves("after-plain-tcp", "ok")
