"""The ``aspen`` CLI, run in-process against fake-backed nodes served from a thread."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from aspen.cli import main
from aspen.node.service import (
    ConflictError,
    PeerAddress,
    UnavailableError,
    UnknownOutcomeError,
)
from aspen.storage.errors import StorageFullError
from aspen.ticket import Ticket
from tests.client.servers import refusing_port
from tests.http.fake_service import FakeService
from tests.http.support import LiveServers


@pytest.fixture
def node() -> Iterator[tuple[LiveServers, FakeService]]:
    service = FakeService(1)
    with LiveServers(service) as live:
        yield live, service


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, object]]:
    code, out, _ = run(capsys, "--json", *argv)
    return code, json.loads(out)


def test_put_get_delete(
    node: tuple[LiveServers, FakeService], capsys: pytest.CaptureFixture[str]
) -> None:
    live, service = node
    ep = ["--endpoints", live.url]
    assert run(capsys, *ep, "put", "greeting", "hello world") == (0, "ok (index 1)\n", "")
    assert run(capsys, *ep, "get", "greeting") == (0, "hello world\n", "")
    assert run(capsys, *ep, "get", "--stale", "greeting")[1] == "hello world\n"
    assert run(capsys, *ep, "delete", "greeting") == (0, "deleted\n", "")
    assert run(capsys, *ep, "get", "greeting") == (0, "", "(key not found)\n")
    assert run(capsys, *ep, "delete", "greeting")[1] == "(key was absent)\n"
    assert service.data == {}


def test_json_output(
    node: tuple[LiveServers, FakeService], capsys: pytest.CaptureFixture[str]
) -> None:
    live, _ = node
    ep = ["--endpoints", live.url]
    assert run_json(capsys, *ep, "put", "k", "v") == (0, {"outcome": "ok", "key": "k", "index": 1})
    code, out = run_json(capsys, *ep, "get", "k")
    assert out == {"outcome": "ok", "key": "k", "value": "v", "found": True, "index": 1}
    code, out = run_json(capsys, *ep, "get", "nope")
    assert (code, out["found"], out["value"]) == (0, False, None)


def test_cas(node: tuple[LiveServers, FakeService], capsys: pytest.CaptureFixture[str]) -> None:
    live, service = node
    ep = ["--endpoints", live.url]
    assert run(capsys, *ep, "cas", "--expect-absent", "k", "1")[0] == 0
    assert run(capsys, *ep, "cas", "k", "1", "2")[0] == 0
    code, out, err = run(capsys, *ep, "cas", "k", "1", "3")
    assert (code, out, err) == (1, "", "not applied: the value is '2'\n")
    code, out, err = run(capsys, *ep, "cas", "--expect-absent", "k", "9")
    assert (code, err) == (1, "not applied: the value is '2'\n")
    code, data = run_json(capsys, *ep, "cas", "k", "x", "y")
    assert (code, data["applied"], data["current"]) == (1, False, "2")
    assert service.data == {"k": "2"}
    assert run(capsys, *ep, "cas", "k", "only-one")[0] == 2
    assert run(capsys, *ep, "cas", "--expect-absent", "k", "a", "b")[0] == 2


def test_init_and_membership(capsys: pytest.CaptureFixture[str]) -> None:
    service = FakeService(1, initialized=False)
    with LiveServers(service) as live:
        ep = ["--endpoints", live.url]
        me = f"1=127.0.0.1:7001@{live.url.removeprefix('http://')}"
        assert run(capsys, *ep, "init", me) == (0, "initialized with voters [1]\n", "")
        assert run(capsys, *ep, "init", me)[0] == 1  # 409: already initialized
        code, out, _ = run(capsys, *ep, "add-learner", "2", "h2:7000", "h2:8080")
        assert (code, out) == (0, "node 2 added as learner (index 1)\n")
        assert run(capsys, *ep, "promote", "2") == (0, "voters are now [1, 2] (index 2)\n", "")
        assert run(capsys, *ep, "promote", "2")[1] == "node 2 is already a voter\n"
        assert run(capsys, *ep, "change-membership", "2", "1")[0] == 0
        code, _, err = run(capsys, *ep, "change-membership", "1", "7")
        assert code == 1 and "[HTTP 400]" in err and "not members" in err
        assert service.voters == {1, 2}


def test_status(capsys: pytest.CaptureFixture[str]) -> None:
    a, b = FakeService(1), FakeService(2)
    with refusing_port() as dead, LiveServers(a, b) as live:

        def shape() -> None:
            a.voters = {1, 2}
            a.learners = {3}
            a.addresses[2] = b.address
            a.addresses[3] = PeerAddress("h3:7000", dead.removeprefix("http://"))
            a.term = b.term = 4
            b.become_follower(1, a.address)

        live.call(shape)
        code, out, _ = run(capsys, "--endpoints", live.urls[1], "status")
        assert code == 0
        assert f"leader: 1 ({a.address.http})" in out
        assert "term: 4" in out and "voters: 1 2" in out and "learners: 3" in out
        rows = [line.split() for line in out.splitlines() if line[:1].isdigit()]
        assert [r[:3] for r in rows[:2]] == [["1", "voter", "leader"], ["2", "voter", "follower"]]
        assert rows[2][:4] == ["3", "learner", "-", "-"]
        assert rows[0][-1] == "ok" and "unreachable:" in rows[2]
        code, data = run_json(capsys, "--endpoints", live.urls[1], "status")
        assert data["leader"] == {"id": 1, "http": a.address.http}
        nodes = data["nodes"]
        assert isinstance(nodes, list)
        assert [n["reachable"] for n in nodes] == [True, True, False]


def test_ticket_and_snapshot(
    node: tuple[LiveServers, FakeService], capsys: pytest.CaptureFixture[str]
) -> None:
    live, service = node
    code, out, _ = run(capsys, "--endpoints", live.url, "ticket")
    ticket = out.strip()
    assert code == 0 and Ticket.decode(ticket).peers[0].http == service.address.http
    assert run(capsys, "--ticket", ticket, "put", "k", "v")[0] == 0  # connect with a ticket
    assert run(capsys, "--ticket", ticket, "snapshot") == (0, "snapshot at index 1\n", "")


def test_follows_the_leader(capsys: pytest.CaptureFixture[str]) -> None:
    a, b = FakeService(1), FakeService(2)
    with LiveServers(a, b) as live:
        live.call(lambda: a.become_follower(2, b.address))
        assert run(capsys, "--endpoints", live.urls[0], "put", "k", "v")[0] == 0
        assert (a.data, b.data) == ({}, {"k": "v"})


@pytest.mark.parametrize(
    ("error", "code", "fragment"),
    [
        (UnavailableError("no leader"), 1, "put failed [HTTP 503]: no leader"),
        (StorageFullError("disk full"), 1, "[HTTP 507]"),
        (ConflictError("busy"), 1, "[HTTP 409]"),
        (UnknownOutcomeError("lost leadership"), 3, "put outcome unknown [HTTP 504]"),
    ],
)
def test_exit_codes_follow_outcomes(
    node: tuple[LiveServers, FakeService],
    capsys: pytest.CaptureFixture[str],
    error: Exception,
    code: int,
    fragment: str,
) -> None:
    live, service = node
    live.call(lambda: service.on("put", error, times=None))  # type: ignore[arg-type]
    got, out, err = run(capsys, "--endpoints", live.url, "--timeout", "2", "put", "k", "v")
    assert (got, out) == (code, "")
    assert fragment in err
    got, data = run_json(capsys, "--endpoints", live.url, "put", "k", "v")
    assert got == code and data["outcome"] == ("unknown" if code == 3 else "fail")


def test_transfer_leader(
    node: tuple[LiveServers, FakeService], capsys: pytest.CaptureFixture[str]
) -> None:
    live, service = node
    live.call(lambda: service.voters.update({2, 3}))
    ep = ["--endpoints", live.url]
    assert run(capsys, *ep, "transfer-leader", "--to", "3") == (0, "node 3 is the leader now\n", "")
    assert run_json(capsys, *ep, "transfer-leader") == (0, {"outcome": "ok", "leader_id": 2})
    code, _, err = run(capsys, *ep, "transfer-leader", "--to", "9")
    assert code == 1 and "not a voter" in err


def test_unreachable_cluster_is_failed(capsys: pytest.CaptureFixture[str]) -> None:
    with refusing_port() as dead:
        code, _, err = run(capsys, "--endpoints", dead, "get", "k")
        assert code == 1 and "Connect" in err


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["put", "k"],
        ["frobnicate"],
        ["add-learner", "0", "h:1", "h:2"],
        ["add-learner", "x", "h:1", "h:2"],
        ["add-learner", "2", "h", "h:2"],
        ["init", "1=h:1"],
        ["init", "1=h:1@h:0"],
        ["promote", "-1"],
        ["transfer-leader", "--to", "0"],
        ["--endpoints", "ftp://x:1", "get", "k"],
        ["--ticket", "aspenjunk", "get", "k"],
        ["--timeout", "0", "get", "k"],
        ["--timeout", "soon", "get", "k"],
    ],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == "" and err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "promote" in out and "exit status" in out


def test_admin_commands_send_the_token_from_the_flag_or_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with LiveServers(FakeService(1), admin_token="adm-token-1") as live:
        code, _, err = run(capsys, "--endpoints", live.url, "snapshot")
        assert code == 1 and "401" in err
        assert run(capsys, "--endpoints", live.url, "--token", "adm-token-1", "snapshot")[0] == 0
        monkeypatch.setenv("ASPEN_ADMIN_TOKEN", "adm-token-1")
        assert run(capsys, "--endpoints", live.url, "snapshot")[0] == 0


def test_gen_secret_prints_a_fresh_secret_long_enough_for_a_node(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, first, _ = run(capsys, "gen-secret")
    _, second, _ = run(capsys, "gen-secret")
    assert code == 0 and first != second and len(first.strip()) >= 32


def test_a_bad_cacert_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--cacert", "/nonexistent.pem", "status")
    assert code == 2 and "cacert" in err
