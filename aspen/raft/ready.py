"""The batch of work the Raft core hands its driver, and the order the driver must do it in."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from aspen.raft.messages import NONE, Entry, HardState, Message, Snapshot


class Role(enum.Enum):
    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre_candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"


@dataclass(frozen=True, slots=True)
class SoftState:
    """Volatile state worth reporting (metrics, redirects); never persisted."""

    leader: int = NONE
    role: Role = Role.FOLLOWER


@dataclass(frozen=True, slots=True)
class ReadState:
    """A linearizable read that is now safe to serve once ``applied >= index``.

    ``context`` is the caller's opaque id from ``read_index(ctx)``.
    """

    index: int
    context: bytes


@dataclass(slots=True)
class Ready:
    """Everything the core wants done since the last ``advance``.

    THE DRIVER MUST HANDLE A READY IN THIS ORDER:

    1. ``messages`` MAY BE SENT AT ONCE, even before anything is persisted (a leader's
       AppendEntries and heartbeats, pre-vote requests: losing them is harmless).
    2. PERSIST ``snapshot`` (if any), THEN ``entries`` (appending them; an entry whose index is
       already in the log REPLACES that entry and EVERYTHING AFTER IT), THEN ``hard_state`` (if
       not None), AS ONE DURABLE WRITE WHERE POSSIBLE.
    3. ONLY AFTER STEP 2 IS DURABLE, SEND ``persisted_messages`` (votes, vote requests, append
       and snapshot responses: each promises something about what is on disk).
    4. APPLY ``snapshot`` to the state machine (if any), then ``committed_entries`` in order.
       Committed entries are always already persisted (they come from stable storage or from a
       previous Ready), so applying may run concurrently with step 2 of the NEXT Ready.
    5. Serve each of ``read_states`` once the state machine's applied index reaches its index.
    6. CALL ``advance(ready)`` WITH THIS VERY OBJECT. Only then may ``ready()`` be called again.

    ``soft_state`` is not None when the leader or role changed.

    A committed CONF_CHANGE entry reaches the core (``apply_conf_change``) in step 4, when it
    is applied. ``aspen.raft.ready_processor`` is the one implementation of this order: every
    driver (production, simulator, tests) hands its Readies to it.
    """

    soft_state: SoftState | None = None
    hard_state: HardState | None = None
    entries: list[Entry] = field(default_factory=list)
    snapshot: Snapshot | None = None
    messages: list[Message] = field(default_factory=list)
    persisted_messages: list[Message] = field(default_factory=list)
    committed_entries: list[Entry] = field(default_factory=list)
    read_states: list[ReadState] = field(default_factory=list)

    def empty(self) -> bool:
        return not (
            self.soft_state
            or self.hard_state
            or self.entries
            or self.snapshot
            or self.messages
            or self.persisted_messages
            or self.committed_entries
            or self.read_states
        )
