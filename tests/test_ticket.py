"""Cluster tickets: round trip, canonical form, and a clear TicketError for every corruption."""

from __future__ import annotations

import base64
import struct
import zlib

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aspen.errors import AspenError
from aspen.ticket import MAX_PEERS, PREFIX, Ticket, TicketError, TicketPeer

hosts = st.one_of(
    st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z][a-z0-9-]{0,10}){0,3}", fullmatch=True),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda a: f"[{a}]"),
)
addresses = st.builds(lambda h, p: f"{h}:{p}", hosts, st.integers(1, 65535))


@st.composite
def tickets(draw: st.DrawFn) -> Ticket:
    ids = draw(st.lists(st.integers(1, (1 << 63) - 1), min_size=1, max_size=MAX_PEERS, unique=True))
    peers = tuple(TicketPeer(i, draw(addresses), draw(addresses)) for i in ids)
    return Ticket(draw(st.text(max_size=128)), peers)


def raw(version: int, body: object) -> str:
    """A ticket string with an arbitrary version and body, correctly checksummed."""
    payload = bytes([version]) + msgpack.packb(body)
    blob = payload + struct.pack(">I", zlib.crc32(payload))
    return PREFIX + base64.b32encode(blob).decode().rstrip("=").lower()


EXAMPLE = Ticket("prod", (TicketPeer(1, "10.0.0.1:7000", "10.0.0.1:8080"),))


@settings(max_examples=50)
@given(tickets())
def test_round_trip(ticket: Ticket) -> None:
    text = ticket.encode()
    assert text.startswith("aspen")
    assert text[5:] == text[5:].lower() and "=" not in text
    assert Ticket.decode(text) == ticket
    assert Ticket.decode(f"  {text}\n") == ticket  # pasted with whitespace


@settings(max_examples=50)
@given(tickets(), st.data())
def test_any_single_character_change_is_detected(ticket: Ticket, data: st.DataObject) -> None:
    text = ticket.encode()
    i = data.draw(st.integers(len(PREFIX), len(text) - 1))
    c = data.draw(
        st.sampled_from("abcdefghijklmnopqrstuvwxyz234567").filter(lambda c: c != text[i])
    )
    with pytest.raises(TicketError):
        Ticket.decode(text[:i] + c + text[i + 1 :])


@settings(max_examples=50)
@given(tickets(), st.data())
def test_truncation_and_extension_are_detected(ticket: Ticket, data: st.DataObject) -> None:
    text = ticket.encode()
    cut = data.draw(st.integers(0, len(text) - 1))
    with pytest.raises(TicketError):
        Ticket.decode(text[:cut])
    with pytest.raises(TicketError):
        Ticket.decode(text + data.draw(st.sampled_from("a2q")))


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "must start with 'aspen'"),
        ("ticket123", "must start with 'aspen'"),
        ("ASPENabc", "must start with 'aspen'"),
        ("aspen", "empty after the prefix"),
        ("aspenABCD", "lowercase base32"),
        ("aspen0189", "not valid base32"),
        ("aspené", "lowercase base32"),
        ("aspenaaaaaaa", "too short"),
        (EXAMPLE.encode()[:-1] + "q", "checksum"),
        (raw(3, ["prod", [[1, "a:1", "a:2"]]]), "unsupported ticket version 3"),
        (raw(2, ["prod", [[1, "a:1", "a:2"]]]), "must be [cluster_id, peers, secret]"),
        (raw(2, ["prod", [[1, "a:1", "a:2"]], ""]), "secret must be a non-empty"),
        (raw(2, ["prod", [[1, "a:1", "a:2"]], "short"]), "secret must be 16"),
        (raw(1, ["prod"]), "must be [cluster_id, peers]"),
        (raw(1, {"cluster": "prod"}), "must be [cluster_id, peers]"),
        (raw(1, ["prod", {}]), "peers must be a list"),
        (raw(1, ["prod", []]), "at least one peer"),
        (raw(1, ["prod", [[i, "a:1", "a:2"] for i in range(1, 18)]]), "at most 16 peers"),
        (raw(1, ["prod", [[1, "a:1"]]]), "[id, raft, http]"),
        (raw(1, ["prod", [[0, "a:1", "a:2"]]]), "peer id must be positive"),
        (raw(1, ["prod", [["1", "a:1", "a:2"]]]), "peer id must be an integer"),
        (raw(1, ["prod", [[True, "a:1", "a:2"]]]), "peer id must be an integer"),
        (raw(1, ["prod", [[1, "a:1", "a:0"]]]), "peer 1 http"),
        (raw(1, ["prod", [[1, "nohost", "a:2"]]]), "peer 1 raft"),
        (raw(1, ["prod", [[1, 7, "a:2"]]]), "must be a string"),
        (raw(1, ["prod", [[1, "a:1", "a:2"], [1, "b:1", "b:2"]]]), "unique"),
        (raw(1, [5, [[1, "a:1", "a:2"]]]), "cluster id must be a string"),
        (raw(1, ["x" * 129, [[1, "a:1", "a:2"]]]), "longer than 128"),
    ],
)
def test_decode_errors_say_what_is_wrong(text: str, fragment: str) -> None:
    with pytest.raises(TicketError) as e:
        Ticket.decode(text)
    assert fragment in str(e.value)
    assert isinstance(e.value, AspenError)


def test_non_canonical_base32_is_rejected() -> None:
    text = EXAMPLE.encode()
    # The last character may carry unused bits; a different character with the same used
    # bits decodes to the same bytes, so it is refused as non-canonical.
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    last = alphabet.index(text[-1])
    unused = (5 * len(text[5:])) % 8
    assert unused, "example must end with padding bits for this test"
    twin = alphabet[last ^ 1]
    with pytest.raises(TicketError, match="canonical"):
        Ticket.decode(text[:-1] + twin)


def test_constructor_validates() -> None:
    peer = TicketPeer(1, "a:1", "a:2")
    with pytest.raises(TicketError, match="at most 16"):
        Ticket("c", tuple(TicketPeer(i, "a:1", "a:2") for i in range(1, 18)))
    with pytest.raises(TicketError, match="at least one"):
        Ticket("c", ())
    with pytest.raises(TicketError, match="tuple"):
        Ticket("c", [peer])  # type: ignore[arg-type]
    with pytest.raises(TicketError, match="positive"):
        TicketPeer(-1, "a:1", "a:2")
    with pytest.raises(TicketError, match="not valid Unicode"):
        Ticket("\ud800", (peer,))
    assert str(EXAMPLE) == EXAMPLE.encode()


def test_a_ticket_may_carry_the_cluster_secret() -> None:
    peers = (TicketPeer(1, "a:1", "a:2"),)
    with_secret = Ticket("prod", peers, "s" * 32)
    text = with_secret.encode()
    assert Ticket.decode(text) == with_secret
    assert "s" * 32 not in repr(with_secret)
    assert Ticket.decode(Ticket("prod", peers).encode()).secret == ""
    with pytest.raises(TicketError, match="16"):
        Ticket("prod", peers, "short")


@settings(max_examples=50, deadline=None)
@given(st.text(min_size=16, max_size=64), st.data())
def test_a_ticket_with_a_secret_round_trips_and_detects_any_change(
    secret: str, data: st.DataObject
) -> None:
    ticket = Ticket(EXAMPLE.cluster_id, EXAMPLE.peers, secret)
    text = ticket.encode()
    assert Ticket.decode(text) == ticket
    i = data.draw(st.integers(len(PREFIX), len(text) - 1))
    c = data.draw(
        st.sampled_from("abcdefghijklmnopqrstuvwxyz234567").filter(lambda c: c != text[i])
    )
    with pytest.raises(TicketError):
        Ticket.decode(text[:i] + c + text[i + 1 :])
