from __future__ import annotations

from lab.db.base import NodeStatus, agreed_leader


def st(leader: int) -> NodeStatus:
    return NodeStatus(node_id=0, role="x", term=1, leader=leader, commit=0, applied=0)


def test_agreed_leader_needs_a_majority_of_the_answering_nodes() -> None:
    assert agreed_leader([st(2), st(2), st(3)]) == 2
    assert agreed_leader([st(2), None, None]) == 2
    assert agreed_leader([st(2), st(3)]) is None
    assert agreed_leader([st(0), None]) is None
