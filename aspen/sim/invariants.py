"""Raft's safety properties, checked incrementally as the simulated nodes persist and apply.

The node driver (:mod:`aspen.sim.node`) calls a hook at every point where durable state or the
state machine changes, so each check costs O(entries touched), never a scan of every log:

* election safety: at most one leader per term (``on_leader``);
* log matching: an ``(index, term)`` pair names one entry, and one predecessor term, in every
  node's persisted log -- by induction, identical prefixes (``after_append``);
* leader completeness: an entry committed in term ``t`` is in the log of every leader of a term
  ``> t`` (``on_leader`` and ``on_commit``);
* state machine safety: no two nodes apply different entries at one index (``on_apply``);
* durability: no persisted write ever removes a committed entry (``before_append``,
  ``on_snapshot``), and after a restart the node still holds everything its persisted commit
  index covers (``on_restart``).

A violation raises :class:`SafetyViolation` whose message starts with the run's replay command.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from aspen.raft.errors import Compacted, Unavailable
from aspen.raft.messages import Entry, Snapshot
from aspen.raft.storage import MemoryStorage


class SafetyViolation(AssertionError):
    """A Raft safety property failed. The message names the seed and how to replay it."""


LeaderView = Callable[[], Iterator[tuple[int, int, MemoryStorage]]]
"""Yields ``(node_id, term, storage)`` for each node that currently believes it is leader."""


def stored_term(storage: MemoryStorage, index: int) -> int | None:
    """The term of ``index`` in ``storage``; None if compacted away or past the end."""
    try:
        return storage.term(index)
    except (Compacted, Unavailable):
        return None


class Invariants:
    def __init__(self, context: str, leaders: LeaderView) -> None:
        self.context = context
        """Prefixed to every violation: the seed and the replay command."""
        self._leaders = leaders
        self.leader_of_term: dict[int, int] = {}
        self.committed: dict[int, Entry] = {}
        """Every entry known committed, by index."""
        self.commit_term: dict[int, int] = {}
        """The lowest term in which a node was seen to hold ``index`` as committed."""
        self.max_committed = 0
        self._seen: dict[tuple[int, int], tuple[Entry, int | None]] = {}
        """(index, term) -> (entry, term of index-1) as first seen in some persisted log."""
        self.checks = 0

    def fail(self, what: str) -> None:
        raise SafetyViolation(f"{self.context}: {what}")

    # --- elections ------------------------------------------------------------------------------

    def on_leader(self, node: int, term: int, storage: MemoryStorage) -> None:
        """``node`` became leader of ``term`` (its new Ready has been persisted)."""
        self.checks += 1
        other = self.leader_of_term.setdefault(term, node)
        if other != node:
            self.fail(f"election safety: nodes {other} and {node} both leader of term {term}")
        self._check_complete(node, term, storage, 1, self.max_committed)

    def _check_complete(
        self, node: int, term: int, storage: MemoryStorage, lo: int, hi: int
    ) -> None:
        first = storage.first_index()
        for index in range(max(lo, first), hi + 1):
            commit_term = self.commit_term.get(index)
            if commit_term is None or commit_term >= term:
                continue
            want = self.committed[index]
            have = stored_term(storage, index)
            if have != want.term:
                self.fail(
                    f"leader completeness: leader {node} of term {term} has term {have} at "
                    f"index {index}, committed with term {want.term} in term {commit_term}"
                )
        if lo < first - 1 and first - 1 <= hi:
            snap = storage.snapshot().meta
            at_snap = self.committed.get(snap.index)
            if at_snap is not None and at_snap.term != snap.term:
                self.fail(f"leader completeness: leader {node} snapshot {snap} vs {at_snap}")

    # --- the log --------------------------------------------------------------------------------

    def before_append(self, node: int, storage: MemoryStorage, entries: list[Entry]) -> None:
        """Persisting ``entries`` must not replace a committed entry."""
        if not entries:
            return
        self.checks += 1
        first = max(entries[0].index, storage.first_index())
        last = min(storage.last_index(), entries[-1].index)
        committed = self.committed
        base = entries[0].index
        for index in range(first, last + 1):
            want = committed.get(index)
            if want is None:
                break
            new = entries[index - base]
            if new.term != want.term or new != want:
                self.fail(
                    f"durability: node {node} overwrites committed {want} with {new} "
                    f"(storage last {storage.last_index()})"
                )

    def after_append(self, node: int, storage: MemoryStorage, entries: list[Entry]) -> None:
        """Log matching for the entries ``node`` just persisted."""
        if not entries:
            return
        self.checks += 1
        seen = self._seen
        first = storage.first_index()
        prev_term = stored_term(storage, entries[0].index - 1)
        for e in entries:
            if e.index >= first:
                key = (e.index, e.term)
                got = seen.get(key)
                if got is None:
                    seen[key] = (e, prev_term)
                else:
                    other, other_prev = got
                    if other is not e and other != e:
                        self.fail(f"log matching: node {node} has {e}, another node {other}")
                    if prev_term is not None and other_prev is not None and prev_term != other_prev:
                        self.fail(
                            f"log matching: node {node} has {e} after term {prev_term}, "
                            f"another node after term {other_prev}"
                        )
            prev_term = e.term

    def before_snapshot(self, node: int, storage: MemoryStorage, snap: Snapshot) -> None:
        """Installing ``snap`` must not discard committed entries the node holds after it."""
        meta = snap.meta
        if meta.index <= storage.snapshot().meta.index:
            return
        if stored_term(storage, meta.index) == meta.term:
            return  # entries after the snapshot are kept
        for index in range(meta.index + 1, storage.last_index() + 1):
            want = self.committed.get(index)
            if want is not None and stored_term(storage, index) == want.term:
                self.fail(
                    f"durability: node {node} installs snapshot {meta.index}/{meta.term} that "
                    f"discards committed {want}"
                )

    def on_snapshot(self, node: int, snap: Snapshot) -> None:
        """A snapshot, taken or installed, must agree with what is known committed."""
        self.checks += 1
        meta = snap.meta
        want = self.committed.get(meta.index)
        if want is not None and want.term != meta.term:
            self.fail(f"durability: node {node} snapshot at {meta.index}/{meta.term} vs {want}")
        if meta.index > self.max_committed:
            self.fail(
                f"node {node} holds a snapshot at {meta.index} beyond the highest committed "
                f"index {self.max_committed}"
            )

    # --- commitment -----------------------------------------------------------------------------

    def on_commit(self, node: int, term: int, storage: MemoryStorage, old: int, new: int) -> None:
        """``node``'s persisted commit index moved from ``old`` to ``new`` while in ``term``."""
        self.checks += 1
        if new < old:
            self.fail(f"node {node} commit index went back from {old} to {new}")
        last = storage.last_index()
        if new > last:
            self.fail(f"node {node} persisted commit {new} beyond its persisted last index {last}")
        first = storage.first_index()
        lo = max(old + 1, first)
        if lo <= new:
            ents = storage.entries(lo, new + 1)
            committed = self.committed
            commit_term = self.commit_term
            for e in ents:
                want = committed.get(e.index)
                if want is None:
                    committed[e.index] = e
                    commit_term[e.index] = term
                else:
                    if want is not e and want != e:
                        self.fail(
                            f"state machine safety: node {node} commits {e}, another committed "
                            f"{want}"
                        )
                    if term < commit_term[e.index]:
                        commit_term[e.index] = term
        if new > self.max_committed:
            prev_max = self.max_committed
            self.max_committed = new
            for leader, lterm, lstorage in self._leaders():
                if lterm > term:
                    self._check_complete(leader, lterm, lstorage, prev_max + 1, new)

    def on_apply(self, node: int, entry: Entry) -> None:
        want = self.committed.get(entry.index)
        if want is None:
            self.fail(f"node {node} applies {entry} which no node has persisted as committed")
        elif want is not entry and want != entry:
            self.fail(f"state machine safety: node {node} applies {entry}, committed is {want}")

    def on_restart(self, node: int, storage: MemoryStorage) -> None:
        """After a restart the node must still hold every entry its commit index covers."""
        self.checks += 1
        commit = storage.hard_state.commit
        snap = storage.snapshot().meta.index
        if commit > storage.last_index():
            self.fail(f"node {node} restarted with commit {commit} > last {storage.last_index()}")
        for index in range(max(storage.first_index(), 1), commit + 1):
            want = self.committed.get(index)
            have = stored_term(storage, index)
            if want is None or have != want.term:
                self.fail(
                    f"durability: node {node} restarted with term {have} at committed index "
                    f"{index} (committed {want}, snapshot {snap})"
                )
