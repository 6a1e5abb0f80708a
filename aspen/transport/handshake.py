"""Who is on the other end of a peer connection: the opening handshake, without I/O.

Without a cluster secret a connection opens with a :class:`~aspen.wire.Hello` and the acceptor
believes the id it names (the insecure default: anyone who can reach the Raft port can speak as
any node). With a secret both sides prove they hold it, challenge-response, before any Raft
frame is accepted::

    dialer                                              acceptor
      Hello(version, cluster, dialer_id, address, nonce_d)  ->
                          <-  Challenge(acceptor_id, nonce_a, proof_a)
      Auth(proof_d)                                        ->
      Raft frames ...                                      ->

    proof_X = HMAC-SHA256(secret, label_X | cluster | dialer_id | acceptor_id | nonce_d | nonce_a)

with distinct labels for the two directions, so an acceptor's proof can never be replayed as a
dialer's (nor one connection's proof on another: both nonces are fresh and random). The dialer
checks ``proof_a`` and that ``acceptor_id`` is the node it meant to dial; the acceptor checks
``proof_d``. Proofs are compared with :func:`hmac.compare_digest`. Every failure raises
:class:`~aspen.errors.RemoteProtocolError` and the caller closes that connection.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass

from aspen.config import parse_host_port
from aspen.errors import RemoteProtocolError
from aspen.wire import PROTOCOL_VERSION, Auth, Challenge, Hello

NONCE_BYTES = 32
MIN_SECRET_BYTES = 16
"""A shorter secret is refused when configured: it could be guessed offline from one proof."""
_DIALER = b"aspen-peer-dialer-v1"
_ACCEPTOR = b"aspen-peer-acceptor-v1"


def new_nonce() -> bytes:
    return os.urandom(NONCE_BYTES)


def proof(
    secret: bytes,
    label: bytes,
    cluster_id: str,
    dialer: int,
    acceptor: int,
    nonce_d: bytes,
    nonce_a: bytes,
) -> bytes:
    """HMAC-SHA256 over every value the two sides agree on (length-prefixed: unambiguous)."""
    mac = hmac.new(secret, digestmod=hashlib.sha256)
    for part in (
        label,
        cluster_id.encode(),
        dialer.to_bytes(8, "big"),
        acceptor.to_bytes(8, "big"),
        nonce_d,
        nonce_a,
    ):
        mac.update(len(part).to_bytes(4, "big"))
        mac.update(part)
    return mac.digest()


def check_hello(item: object, cluster_id: str, own_id: int) -> Hello:
    """The checks every Hello must pass, secret or not; returns it, or raises."""
    if not isinstance(item, Hello):
        raise RemoteProtocolError(f"expected Hello, got {type(item).__name__}")
    if item.version != PROTOCOL_VERSION:
        raise RemoteProtocolError(
            f"protocol version {item.version}, this node speaks {PROTOCOL_VERSION}"
        )
    if item.cluster_id != cluster_id:
        raise RemoteProtocolError(
            f"node {item.node_id} is in cluster {item.cluster_id!r}, not {cluster_id!r}"
        )
    if item.node_id == own_id or item.node_id == 0:
        raise RemoteProtocolError(f"peer claims node id {item.node_id}")
    if item.address:
        try:
            parse_host_port(item.address, allow_port_zero=False)
        except ValueError as e:
            raise RemoteProtocolError(f"Hello from node {item.node_id}: {e}") from None
    return item


@dataclass(slots=True)
class AcceptorHandshake:
    """The accepting side. Feed it the frames that arrive until ``done``.

    ``receive`` returns the frame to write back (the Challenge) or None; ``done`` turns true
    once the peer is authenticated, and ``hello`` then names it.
    """

    node_id: int
    cluster_id: str
    secret: bytes | None
    nonce: bytes = b""
    hello: Hello | None = None
    done: bool = False

    def receive(self, item: object) -> Challenge | None:
        if self.done:
            raise RemoteProtocolError("handshake already finished")
        if self.hello is None:
            hello = check_hello(item, self.cluster_id, self.node_id)
            self.hello = hello
            if self.secret is None:
                self.done = True
                return None
            if len(hello.nonce) != NONCE_BYTES:
                raise RemoteProtocolError(
                    f"node {hello.node_id} did not offer a {NONCE_BYTES}-byte nonce: "
                    "does it have the cluster secret configured?"
                )
            self.nonce = self.nonce or new_nonce()
            mine = self._proof(_ACCEPTOR)
            return Challenge(self.node_id, self.nonce, mine)
        if not isinstance(item, Auth):
            raise RemoteProtocolError(f"expected Auth, got {type(item).__name__}")
        if not hmac.compare_digest(item.proof, self._proof(_DIALER)):
            raise RemoteProtocolError(f"node {self.hello.node_id} failed to prove the secret")
        self.done = True
        return None

    def _proof(self, label: bytes) -> bytes:
        assert self.secret is not None and self.hello is not None
        h = self.hello
        return proof(
            self.secret, label, self.cluster_id, h.node_id, self.node_id, h.nonce, self.nonce
        )


@dataclass(slots=True)
class DialerHandshake:
    """The dialing side: ``hello()`` to send first, then ``receive(challenge)`` -> Auth.

    ``needs_reply`` says whether to wait for a Challenge (only with a secret).
    """

    node_id: int
    cluster_id: str
    peer_id: int
    secret: bytes | None
    address: str = ""
    nonce: bytes = b""

    def __post_init__(self) -> None:
        if self.secret is not None and not self.nonce:
            self.nonce = new_nonce()

    @property
    def needs_reply(self) -> bool:
        return self.secret is not None

    def hello(self) -> Hello:
        return Hello(PROTOCOL_VERSION, self.cluster_id, self.node_id, self.address, self.nonce)

    def receive(self, item: object) -> Auth:
        if self.secret is None:
            raise RemoteProtocolError("peer wrote on a connection without a handshake")
        if not isinstance(item, Challenge):
            raise RemoteProtocolError(f"expected Challenge, got {type(item).__name__}")
        if item.node_id != self.peer_id:
            raise RemoteProtocolError(f"dialled node {self.peer_id}, node {item.node_id} answered")
        if len(item.nonce) != NONCE_BYTES:
            raise RemoteProtocolError(
                f"node {item.node_id} sent a nonce of {len(item.nonce)} bytes"
            )
        expected = self._proof(_ACCEPTOR, item.nonce)
        if not hmac.compare_digest(item.proof, expected):
            raise RemoteProtocolError(f"node {item.node_id} failed to prove the secret")
        return Auth(self._proof(_DIALER, item.nonce))

    def _proof(self, label: bytes, nonce_a: bytes) -> bytes:
        assert self.secret is not None
        return proof(
            self.secret, label, self.cluster_id, self.node_id, self.peer_id, self.nonce, nonce_a
        )


__all__ = [
    "MIN_SECRET_BYTES",
    "NONCE_BYTES",
    "AcceptorHandshake",
    "DialerHandshake",
    "check_hello",
    "new_nonce",
    "proof",
]
