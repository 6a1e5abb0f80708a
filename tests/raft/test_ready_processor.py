"""The Ready processor honours ``Ready``'s order, and decides membership and invariants once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from aspen.raft import (
    ConfChange,
    ConfChangeKind,
    ConfState,
    Entry,
    EntryKind,
    HardState,
    InvariantViolation,
    Message,
    ReadState,
    Ready,
    Role,
    Snapshot,
    SnapshotMeta,
    SoftState,
)
from aspen.raft.messages import AppendEntriesResponse, Heartbeat
from aspen.raft.ready_processor import ReadyProcessor
from tests.raft.harness import Scripted, ScriptedCore

VOTERS = ConfState(voters=frozenset({1, 2, 3}))
ADD_4 = ConfChange(((ConfChangeKind.ADD_LEARNER, 4),))


class Recorder:
    """Store, transport and outcomes in one, logging every call into ``events`` (shared with
    the core's, so the log shows the order across all of them)."""

    def __init__(self, events: list[tuple[str, object]]) -> None:
        self.events = events

    def write_ready(
        self, hard_state: HardState | None, entries: Sequence[Entry], *rest: Any
    ) -> list[str]:
        _snapshot, committed, conf_state = rest
        self.events.append(("write", (hard_state, [e.index for e in entries], conf_state)))
        return [f"result {e.index}" for e in committed]

    def send(self, msg: Message) -> None:
        self.events.append(("send", msg))

    def applied(self, applied: int, entries: Sequence[Entry], results: Sequence[str]) -> None:
        self.events.append(("applied", (applied, list(results))))

    def proposal_applied(self, waiter: str, entry: Entry, result: str) -> None:
        self.events.append(("ok", (waiter, result)))

    def proposal_replaced(self, waiter: str, entry: Entry) -> None:
        self.events.append(("replaced", waiter))

    def read_ready(self, context: bytes, index: int) -> None:
        self.events.append(("read", (context, index)))

    def role_changed(self, soft: SoftState, term: int) -> None:
        self.events.append(("role", (soft.role, term)))


def processor(
    *readies: Ready, term: int = 2, conf: ConfState = VOTERS, applied: int = 0
) -> tuple[ReadyProcessor[ScriptedCore, str, str], ScriptedCore, list[tuple[str, object]]]:
    core = ScriptedCore([Scripted(rd, term, conf) for rd in readies])
    return ReadyProcessor(core, *[Recorder(core.events)] * 3, applied=applied), core, core.events


def kinds(events: list[tuple[str, object]]) -> list[str]:
    return [kind for kind, _ in events]


def conf_entry(index: int, change: ConfChange = ADD_4) -> Entry:
    return Entry(2, index, EntryKind.CONF_CHANGE, change.encode())


def test_one_ready_is_handled_in_the_documented_order() -> None:
    early, late = Heartbeat(2, 1, 2, 0), AppendEntriesResponse(2, 1, 2, 2)
    rd = Ready(
        soft_state=SoftState(1, Role.LEADER),
        hard_state=HardState(2, 1, 2),
        entries=[Entry(2, 2)],
        messages=[early],
        persisted_messages=[late],
        committed_entries=[Entry(1, 1), Entry(2, 2)],
        read_states=[ReadState(2, b"r")],
    )
    proc, _, events = processor(rd)
    proc.expect(2, 2, "mine")
    proc.run()
    assert events == [
        ("ready", 0),
        ("send", early),  # 1. may leave before anything is durable
        ("write", (HardState(2, 1, 2), [2], None)),  # 2. persist (and apply) in one write
        ("send", late),  # 3. only once durable
        ("applied", (2, ["result 1", "result 2"])),  # 4. apply
        ("ok", ("mine", "result 2")),  # the proposal answered with what applying it did
        ("read", (b"r", 2)),  # 5. the read, its index applied
        ("advance", 0),  # 6.
        ("role", (Role.LEADER, 2)),
    ]
    assert proc.applied == 2


def test_a_ready_with_nothing_durable_skips_the_write() -> None:
    proc, _, events = processor(Ready(messages=[Heartbeat(2, 1, 2, 0)]))
    proc.run()
    assert kinds(events) == ["ready", "send", "advance"]


def test_a_crash_before_the_write_sends_nothing_that_promises_durability() -> None:
    rd = Ready(
        entries=[Entry(2, 1)],
        messages=[Heartbeat(2, 1, 2, 0)],
        persisted_messages=[AppendEntriesResponse(2, 1, 2, 1)],
    )
    proc, _, events = processor(rd)
    step = proc.begin()
    assert step is not None and step.durable
    # The process dies here, in the fsync window: finish() is never called.
    assert kinds(events) == ["ready", "send"]


def test_a_membership_change_reaches_the_core_after_the_write_that_records_it() -> None:
    proc, core, events = processor(
        Ready(hard_state=HardState(2, 1, 3), committed_entries=[Entry(2, 1), conf_entry(2)])
    )
    proc.run()
    after = ConfState(voters=VOTERS.voters, learners=frozenset({4}))
    assert kinds(events) == ["ready", "write", "conf", "applied", "advance"]
    assert events[1] == ("write", (HardState(2, 1, 3), [], after))
    assert core.conf_state == after


def test_several_membership_changes_in_one_ready_apply_in_log_order() -> None:
    joint = ConfChange(((ConfChangeKind.ADD_VOTER, 4),))
    proc, _, events = processor(
        Ready(committed_entries=[conf_entry(1, joint), Entry(2, 2), conf_entry(3, ConfChange())])
    )
    proc.run()
    confs = [value for kind, value in events if kind == "conf"]
    assert confs == [
        ConfState(voters=frozenset({1, 2, 3, 4}), voters_outgoing=VOTERS.voters),
        ConfState(voters=frozenset({1, 2, 3, 4})),
    ]
    assert ("write", (None, [], confs[-1])) in events


def test_a_core_that_disagrees_with_the_written_configuration_is_an_invariant_violation() -> None:
    class Stubborn(ScriptedCore):
        def apply_conf_change(self, change: ConfChange) -> ConfState:
            return self.conf_state  # ignores the change

    proc, _, _ = processor(Ready(committed_entries=[conf_entry(1)]))
    stubborn = Stubborn(proc.node.script)
    proc.node = stubborn
    with pytest.raises(InvariantViolation, match="wrote"):
        proc.run()
    assert ("advance", 0) not in stubborn.events


def test_entries_handed_out_of_order_are_an_invariant_violation_nobody_catches() -> None:
    proc, _, events = processor(Ready(committed_entries=[Entry(1, 3)]), applied=1)
    with pytest.raises(InvariantViolation, match="applied 1, handed entry 3"):
        proc.run()
    assert ("advance", 0) not in events


def test_a_proposal_whose_index_another_leader_took_is_replaced() -> None:
    proc, _, events = processor(Ready(committed_entries=[Entry(3, 1), Entry(3, 2)]), term=3)
    proc.expect(1, 2, "old term")
    proc.expect(2, 3, "this term")
    proc.run()
    assert [e for e in events if e[0] in ("ok", "replaced")] == [
        ("replaced", "old term"),
        ("ok", ("this term", "result 2")),
    ]
    assert proc.take_waiters() == []


def test_giving_up_forgets_only_ones_own_waiter() -> None:
    proc, _, _ = processor()
    proc.expect(5, 2, "first")
    proc.expect(5, 4, "second")  # the index was proposed again by a later leader
    proc.forget(5, "first")
    assert proc.take_waiters() == ["second"]


def test_a_read_waits_until_its_index_is_applied() -> None:
    proc, _, events = processor(
        Ready(read_states=[ReadState(2, b"r")], committed_entries=[Entry(2, 1)]),
        Ready(committed_entries=[Entry(2, 2)]),
    )
    proc.run()
    assert [e for e in events if e[0] in ("read", "advance")] == [
        ("advance", 0),
        ("read", (b"r", 2)),
        ("advance", 1),
    ]


def test_a_snapshot_moves_the_applied_index_and_its_configuration_is_written() -> None:
    conf = ConfState(voters=frozenset({1, 2}))
    snap = Snapshot(SnapshotMeta(7, 2, conf), b"image")
    proc, _, events = processor(Ready(snapshot=snap, hard_state=HardState(2, 0, 7)))
    proc.run()
    assert ("write", (HardState(2, 0, 7), [], conf)) in events
    assert ("applied", (7, [])) in events
    assert proc.applied == 7
