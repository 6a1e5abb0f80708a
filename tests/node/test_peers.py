from __future__ import annotations

from aspen.node.peers import AddressBook, decode_peer_record, encode_peer, peer_key
from aspen.node.service import PeerAddress

A = PeerAddress("10.0.0.1:1", "10.0.0.1:2")
B = PeerAddress("10.0.0.2:1", "10.0.0.2:2")


def test_record_round_trip() -> None:
    assert decode_peer_record(peer_key(7), encode_peer(A)) == (7, A)


def test_bad_record_is_ignored() -> None:
    assert decode_peer_record(peer_key(7), "not json") is None
    assert decode_peer_record("\x00peer/x", encode_peer(A)) is None
    assert decode_peer_record(peer_key(7), '{"raft": "x"}') is None


def test_precedence_static_over_replicated_over_learned() -> None:
    changes: list[tuple[int, str | None]] = []
    book = AddressBook(1, {}, lambda i, a: changes.append((i, a)))
    book.learn(2, "learned:1")
    assert book.raft(2) == "learned:1"
    book.load_replicated([(peer_key(2), encode_peer(A))])
    assert book.raft(2) == A.raft and book.http(2) == A.http
    book.set_static(2, B)
    assert book.raft(2) == B.raft
    # replicated http wins over static http: it is what the cluster agreed on for redirects
    assert book.http(2) == A.http
    assert changes == [(2, "learned:1"), (2, A.raft), (2, B.raft)]


def test_no_change_no_callback_and_self_is_ignored() -> None:
    changes: list[tuple[int, str | None]] = []
    book = AddressBook(1, {2: A}, lambda i, a: changes.append((i, a)))
    book.load_replicated([(peer_key(2), encode_peer(B)), (peer_key(1), encode_peer(B))])
    book.learn(1, "me:1")
    assert changes == []
    assert book.known_ids() == {2}
