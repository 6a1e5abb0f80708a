"""The leader's side of log replication: what to send each follower, and what its answers mean.

Flow control follows etcd: a follower in PROBE gets one AppendEntries per heartbeat until it
answers; in REPLICATE the leader pipelines up to ``max_inflight_msgs``; in SNAPSHOT it streams
chunks and sends no entries.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from aspen.raft.errors import Compacted
from aspen.raft.messages import (
    NONE,
    AppendEntries,
    AppendEntriesResponse,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    InstallSnapshotResponse,
    TimeoutNow,
)
from aspen.raft.progress import Progress, ProgressState
from aspen.raft.quorum import VoteResult, joint_vote
from aspen.raft.ready import ReadState
from aspen.raft.snapshot_transfer import SnapshotSender

if TYPE_CHECKING:
    from aspen.raft.raft import Raft


# --- sending -------------------------------------------------------------------------------------


def maybe_send_append(r: Raft, to: int, send_if_empty: bool = True) -> bool:
    """Send ``to`` the entries from its ``next`` (or a snapshot if they are compacted).

    An empty AppendEntries still carries the commit index and probes ``next - 1``.
    """
    pr = r.tracker.progress[to]
    if pr.is_paused():
        return False
    log = r.log
    prev_index = pr.next - 1
    try:
        prev_term = log.term(prev_index)
        if pr.state is not ProgressState.REPLICATE or not pr.inflights.full():
            ents = log.entries_from(pr.next, r.cfg.max_size_per_msg, r.cfg.max_entries_per_msg)
        else:
            ents = []
    except Compacted:
        return maybe_send_snapshot(r, to, pr)
    if not ents and not send_if_empty:
        return False
    r.send(AppendEntries(r.term, r.id, to, prev_index, prev_term, tuple(ents), log.committed))
    if ents:
        pr.sent_entries(len(ents), ents[-1].index)
    return True


def send_append(r: Raft, to: int) -> None:
    maybe_send_append(r, to, send_if_empty=True)


def bcast_append(r: Raft) -> None:
    """Send every follower what it lacks (at least the commit index), filling its window."""
    flush_appends(r, True, ())


def flush_appends(r: Raft, everyone: bool, owed: Collection[int]) -> None:
    """Send ``owed`` followers their new entries; with ``everyone``, every follower gets at
    least an empty AppendEntries carrying the commit index. Fills each pipeline window."""
    for node in r.tracker.progress:
        if node == r.id or not (everyone or node in owed):
            continue
        if maybe_send_append(r, node, send_if_empty=everyone):
            pr = r.tracker.progress[node]
            last = r.log.last_index()
            while pr.next <= last and not pr.is_paused():
                if not maybe_send_append(r, node, send_if_empty=False):
                    break


def maybe_send_snapshot(r: Raft, to: int, pr: Progress) -> bool:
    """Start streaming the storage's snapshot, if it is recent enough to help.

    It must reach at least ``first_index - 1``: an older one would leave the follower short of
    entries we no longer have. Without one, wait: the driver will snapshot soon.
    """
    if not pr.recent_active:
        return False
    snap = r.log.storage.snapshot()
    if snap.empty or snap.meta.index < r.log.first_index() - 1 or snap.meta.index <= pr.match:
        return False
    sender = SnapshotSender(snap, r.cfg.snapshot_chunk_size, r.cfg.max_inflight_snapshot_chunks)
    pr.become_snapshot(snap.meta.index, sender)
    send_snapshot_chunks(r, to, pr)
    return True


def send_snapshot_chunks(r: Raft, to: int, pr: Progress) -> None:
    sender = pr.sender
    if sender is None:
        return
    meta = sender.snapshot.meta
    for offset, data, done in sender.next_chunks():
        r.send(InstallSnapshot(r.term, r.id, to, meta, offset, data, done))


def bcast_heartbeat(r: Raft, context: bytes) -> None:
    commit = r.log.committed
    for node, pr in r.tracker.progress.items():
        if node == r.id:
            continue
        # Never tell a follower to commit past what it is known to hold: its log may diverge.
        r.send(Heartbeat(r.term, r.id, node, min(pr.match, commit), context))
        sender = pr.sender
        if sender is not None and sender.rewind_if_stalled():
            send_snapshot_chunks(r, node, pr)


def send_timeout_now(r: Raft, to: int) -> None:
    r.send(TimeoutNow(r.term, r.id, to))


def caught_up_voter(r: Raft) -> int:
    """A voter other than us holding our whole log (NONE if there is none)."""
    last = r.log.last_index()
    for node in sorted(r.tracker.conf.voters):
        pr = r.tracker.progress.get(node)
        if node != r.id and pr is not None and pr.match == last:
            return node
    return NONE


# --- handling answers ----------------------------------------------------------------------------


def handle_append_response(r: Raft, m: AppendEntriesResponse) -> None:
    pr = r.tracker.progress.get(m.frm)
    if pr is None:
        return
    pr.recent_active = True
    if m.reject:
        _handle_reject(r, m, pr)
        return
    old_paused = pr.is_paused()
    if not (pr.maybe_update(m.index) or (pr.match == m.index and pr.state is ProgressState.PROBE)):
        return
    if pr.state is ProgressState.PROBE:
        pr.become_replicate()
    elif pr.state is ProgressState.SNAPSHOT:
        if pr.match + 1 >= r.log.first_index():
            # It caught up through the log after all: the snapshot stream is moot.
            pr.become_probe()
            pr.become_replicate()
    else:
        pr.inflights.free_le(m.index)
    if pr.match > r.log.committed and r.maybe_commit():
        r.bcast_pending = True
    elif old_paused:
        send_append(r, m.frm)
    # The window may have room again: send the rest with the next Ready, batched.
    r.send_pending.add(m.frm)
    if m.frm == r.lead_transferee and pr.match == r.log.last_index():
        # Raft thesis §3.10: the target has our whole log; let it campaign at once.
        send_timeout_now(r, m.frm)


def _handle_reject(r: Raft, m: AppendEntriesResponse, pr: Progress) -> None:
    """Move ``next`` back, skipping whole conflicting terms using the follower's hint."""
    if m.index < pr.match:
        # Stale: it rejects an append below what the follower has acknowledged since
        # (a reordered or duplicated reply). Acting on it would throw that knowledge away.
        return
    if m.hint_index < pr.match:
        # A current reject from a follower whose log ends before what it once acknowledged:
        # its disk was wiped. Trusting it is safe (a lower match can only delay a commit), and
        # it is the only way a wiped follower ever catches up again.
        pr.match = 0
        pr.become_probe()
        pr.next = m.index + 1
    next_probe = m.hint_index
    if m.hint_term > 0:
        next_probe, _ = r.log.find_conflict_by_term(m.hint_index, m.hint_term)
    if pr.maybe_decr_to(m.index, next_probe):
        if pr.state is ProgressState.REPLICATE:
            pr.become_probe()
        send_append(r, m.frm)


def handle_heartbeat_response(r: Raft, m: HeartbeatResponse) -> None:
    pr = r.tracker.progress.get(m.frm)
    if pr is None:
        return
    pr.recent_active = True
    pr.paused = False
    # Also sends an empty append when the window is full, so a pipeline whose messages were all
    # dropped recovers (the follower rejects, we fall back to probing).
    if pr.state is not ProgressState.SNAPSHOT and (
        pr.match < r.log.last_index() or pr.state is ProgressState.PROBE
    ):
        send_append(r, m.frm)
    if not m.context:
        return
    acks = r.read_only.recv_ack(m.frm, m.context)
    if acks is None:
        return
    if joint_vote(r.tracker.conf.voters, r.tracker.conf.voters_outgoing, acks.__contains__) is (
        VoteResult.WON
    ):
        for rs in r.read_only.advance(m.context):
            r.read_states.append(ReadState(rs.index, rs.context))


def handle_snapshot_response(r: Raft, m: InstallSnapshotResponse) -> None:
    pr = r.tracker.progress.get(m.frm)
    if pr is None:
        return
    pr.recent_active = True
    sender = pr.sender
    if pr.state is not ProgressState.SNAPSHOT or sender is None:
        return
    if m.snapshot_index != pr.pending_snapshot:
        return  # about an older stream
    if m.done:
        # The follower holds everything up to the snapshot (installed, or had it already).
        pr.maybe_update(m.snapshot_index)
        pr.become_probe()
        send_append(r, m.frm)
        return
    if m.reject:
        # The follower lost the stream (it restarted, or could not store the snapshot): start
        # over, with the newest snapshot if one was taken since (it may be the one that fits).
        if maybe_send_snapshot(r, m.frm, pr):
            return
        sender.restart()
    else:
        sender.ack(m.offset)
    send_snapshot_chunks(r, m.frm, pr)
