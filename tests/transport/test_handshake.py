"""The peer handshake, sans I/O: who may speak Raft to a node, and what each refusal says."""

from __future__ import annotations

import contextlib
import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aspen.errors import RemoteProtocolError
from aspen.transport.handshake import (
    NONCE_BYTES,
    AcceptorHandshake,
    DialerHandshake,
    check_hello,
)
from aspen.wire import PROTOCOL_VERSION, Auth, Challenge, Hello, decode_body, encode

CLUSTER = "c1"
SECRET = b"s" * 32


def pair(
    dialer_secret: bytes | None = SECRET,
    acceptor_secret: bytes | None = SECRET,
    dialer_id: int = 2,
    acceptor_id: int = 1,
    expected_peer: int = 1,
) -> tuple[DialerHandshake, AcceptorHandshake]:
    d = DialerHandshake(dialer_id, CLUSTER, expected_peer, dialer_secret, "127.0.0.1:7002")
    a = AcceptorHandshake(acceptor_id, CLUSTER, acceptor_secret)
    return d, a


def over_the_wire(item: object) -> object:
    """Every frame goes through the codec, as it would on a socket."""
    frame = encode(item)  # type: ignore[arg-type]
    return decode_body(frame[4:])


def run(d: DialerHandshake, a: AcceptorHandshake) -> None:
    challenge = a.receive(over_the_wire(d.hello()))
    assert challenge is not None
    auth = d.receive(over_the_wire(challenge))
    assert a.receive(over_the_wire(auth)) is None


def test_both_sides_with_the_secret_authenticate() -> None:
    d, a = pair()
    run(d, a)
    assert a.done and a.hello is not None and a.hello.node_id == 2
    assert a.hello.address == "127.0.0.1:7002"


def test_without_a_secret_the_hello_alone_is_believed() -> None:
    d, a = pair(None, None)
    assert not d.needs_reply and d.hello().nonce == b""
    assert a.receive(d.hello()) is None
    assert a.done


def test_an_acceptor_with_a_secret_refuses_a_dialer_without_one() -> None:
    d, a = pair(dialer_secret=None)
    with pytest.raises(RemoteProtocolError, match="nonce"):
        a.receive(d.hello())
    assert not a.done


def test_a_dialer_with_the_wrong_secret_is_refused_by_the_acceptor() -> None:
    d, a = pair(dialer_secret=b"x" * 32)
    challenge = a.receive(d.hello())
    assert challenge is not None
    # The dialer notices first: the acceptor's proof does not match its (wrong) secret...
    with pytest.raises(RemoteProtocolError, match="failed to prove"):
        d.receive(challenge)
    # ...and an attacker that skips that check cannot forge an Auth either.
    with pytest.raises(RemoteProtocolError, match="failed to prove"):
        a.receive(Auth(b"\x00" * 32))
    assert not a.done


def test_an_acceptor_with_the_wrong_secret_is_refused_by_the_dialer() -> None:
    d, a = pair(acceptor_secret=b"y" * 32)
    challenge = a.receive(d.hello())
    with pytest.raises(RemoteProtocolError, match="failed to prove"):
        d.receive(challenge)


def test_the_acceptors_proof_cannot_be_replayed_as_the_dialers() -> None:
    """A stranger makes the acceptor compute an HMAC for it; echoing it back does not pass."""
    _, a = pair()
    stranger = Hello(PROTOCOL_VERSION, CLUSTER, 2, "", b"n" * NONCE_BYTES)
    challenge = a.receive(stranger)
    assert challenge is not None
    with pytest.raises(RemoteProtocolError):
        a.receive(Auth(challenge.proof))


def test_a_proof_from_another_connection_does_not_pass() -> None:
    d1, a1 = pair()
    challenge1 = a1.receive(d1.hello())
    assert challenge1 is not None
    auth1 = d1.receive(challenge1)
    # Same Hello replayed on a second connection: the acceptor picks a fresh nonce.
    a2 = AcceptorHandshake(1, CLUSTER, SECRET)
    a2.receive(d1.hello())
    with pytest.raises(RemoteProtocolError, match="failed to prove"):
        a2.receive(auth1)


def test_the_proof_binds_the_claimed_node_id() -> None:
    """A real node 3's Auth cannot be reused to speak as node 2."""
    d, a = pair(dialer_id=3)
    challenge = a.receive(d.hello())
    assert challenge is not None
    auth = d.receive(challenge)
    a2 = AcceptorHandshake(1, CLUSTER, SECRET, nonce=challenge.nonce)
    a2.receive(dataclasses.replace(d.hello(), node_id=2))
    with pytest.raises(RemoteProtocolError):
        a2.receive(auth)


def test_the_dialer_refuses_a_node_other_than_the_one_it_dialled() -> None:
    d, a = pair(expected_peer=5)
    challenge = a.receive(d.hello())
    with pytest.raises(RemoteProtocolError, match="dialled node 5, node 1 answered"):
        d.receive(challenge)


def test_raft_frames_before_the_proof_are_refused() -> None:
    d, a = pair()
    a.receive(d.hello())
    with pytest.raises(RemoteProtocolError, match="expected Auth"):
        a.receive(Hello(PROTOCOL_VERSION, CLUSTER, 2))


def test_a_dialer_refuses_an_unexpected_frame_or_a_short_nonce() -> None:
    d, _ = pair()
    with pytest.raises(RemoteProtocolError, match="expected Challenge"):
        d.receive(Auth(b""))
    with pytest.raises(RemoteProtocolError, match="nonce"):
        d.receive(Challenge(1, b"short", b""))
    plain, _ = pair(dialer_secret=None)
    with pytest.raises(RemoteProtocolError):
        plain.receive(Challenge(1, b"n" * NONCE_BYTES, b""))


@pytest.mark.parametrize(
    ("hello", "fragment"),
    [
        (Auth(b""), "expected Hello"),
        (Hello(PROTOCOL_VERSION + 1, CLUSTER, 2), "protocol version"),
        (Hello(PROTOCOL_VERSION, "other", 2), "cluster"),
        (Hello(PROTOCOL_VERSION, CLUSTER, 1), "node id 1"),
        (Hello(PROTOCOL_VERSION, CLUSTER, 0), "node id 0"),
        (Hello(PROTOCOL_VERSION, CLUSTER, 2, "not an address"), "bad address"),
        (Hello(PROTOCOL_VERSION, CLUSTER, 2, "host:99999"), "port"),
        (Hello(PROTOCOL_VERSION, CLUSTER, 2, "[zz]:1"), "IPv6"),
        (Hello(PROTOCOL_VERSION, CLUSTER, 2, "h:0"), "port"),
    ],
)
def test_bad_hellos_are_protocol_errors(hello: object, fragment: str) -> None:
    with pytest.raises(RemoteProtocolError, match=fragment):
        check_hello(hello, CLUSTER, 1)


@settings(deadline=None)  # a loaded CI machine must not turn slowness into a failure
@given(st.text(max_size=40))
def test_any_address_text_is_accepted_or_a_protocol_error(address: str) -> None:
    """An unparsable address never escapes as anything but a RemoteProtocolError."""
    with contextlib.suppress(RemoteProtocolError):
        check_hello(Hello(PROTOCOL_VERSION, CLUSTER, 2, address), CLUSTER, 1)


@settings(deadline=None)
@given(st.binary(max_size=64), st.binary(max_size=64))
def test_random_proofs_never_pass(nonce: bytes, proof: bytes) -> None:
    d, a = pair()
    a.receive(d.hello())
    with pytest.raises(RemoteProtocolError):
        a.receive(Auth(proof))
    with pytest.raises(RemoteProtocolError):
        d.receive(Challenge(1, nonce, proof))
