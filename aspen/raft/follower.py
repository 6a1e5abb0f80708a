"""What a follower does with its leader's AppendEntries, Heartbeat and InstallSnapshot."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aspen.raft.messages import (
    AppendEntries,
    AppendEntriesResponse,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    InstallSnapshotResponse,
)
from aspen.raft.snapshot_transfer import SnapshotReceiver

if TYPE_CHECKING:
    from aspen.raft.raft import Raft


def handle_append_entries(r: Raft, m: AppendEntries) -> None:
    """Raft §5.3: accept if our log has ``prev``; else reject with a hint for fast backtracking."""
    log = r.log
    if m.prev_index < log.committed:
        # Everything up to our commit is settled; tell the leader where we really are.
        r.send(AppendEntriesResponse(r.term, r.id, m.frm, log.committed))
        return
    last = log.maybe_append(m.prev_index, m.prev_term, m.commit, m.entries)
    if last is not None:
        r.send(AppendEntriesResponse(r.term, r.id, m.frm, last))
        return
    hint_index, hint_term = log.find_conflict_by_term(
        min(m.prev_index, log.last_index()), m.prev_term
    )
    r.send(AppendEntriesResponse(r.term, r.id, m.frm, m.prev_index, True, hint_index, hint_term))


def handle_heartbeat(r: Raft, m: Heartbeat) -> None:
    """Learn the commit index (the leader sends at most what it knows we hold)."""
    log = r.log
    if m.commit <= log.last_index():
        log.commit_to(m.commit)
    else:
        # The leader believes we hold entries we do not have: our log was lost (a wiped disk).
        # Committing nothing is the safe answer; the reject makes the leader re-probe us.
        hint_index, hint_term = log.find_conflict_by_term(log.last_index(), r.term)
        r.send(AppendEntriesResponse(r.term, r.id, m.frm, m.commit, True, hint_index, hint_term))
    r.send(HeartbeatResponse(r.term, r.id, m.frm, m.context))


def handle_snapshot_chunk(r: Raft, m: InstallSnapshot) -> None:
    """Accumulate chunks in memory; on the last one hand the snapshot to the driver."""
    meta = m.meta
    if meta.index <= r.log.committed:
        # We already hold everything it covers: no need for the rest of the stream.
        r.snap_recv = None
        r.send(InstallSnapshotResponse(r.term, r.id, m.frm, meta.index, m.offset, done=True))
        return
    recv = r.snap_recv
    if m.offset == 0:
        recv = r.snap_recv = SnapshotReceiver(m.frm, m.term, meta, [])
    elif recv is None or not recv.matches(m.frm, m.term, meta):
        r.send(InstallSnapshotResponse(r.term, r.id, m.frm, meta.index, 0, reject=True))
        return
    if m.offset != recv.received:
        # A duplicate or a gap: our cumulative ack tells the leader where to resume.
        r.send(InstallSnapshotResponse(r.term, r.id, m.frm, meta.index, recv.received))
        return
    recv.add(m.data)
    if not m.done:
        r.send(InstallSnapshotResponse(r.term, r.id, m.frm, meta.index, recv.received))
        return
    r.snap_recv = None
    if r.log.applying > r.log.applied:
        # The driver is applying committed entries of a Ready it was handed, membership
        # changes among them: a snapshot must not replace the log and the configuration under
        # them (applying a change to the snapshot's configuration broke the node's invariant).
        # The leader starts the stream over; by then they are applied.
        r.send(InstallSnapshotResponse(r.term, r.id, m.frm, meta.index, 0, reject=True))
        return
    snap = recv.build()
    if r.restore(meta.index, meta.term):
        r.log.restore(snap)
        r.switch_to_config(meta.conf_state)
    r.send(InstallSnapshotResponse(r.term, r.id, m.frm, meta.index, recv.received, done=True))
