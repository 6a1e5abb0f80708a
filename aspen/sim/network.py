"""A simulated network between the nodes of one process: delay, loss, duplication, partitions.

Every message a node sends is handed to :meth:`Network.send`, which decides (with its own seeded
RNG) whether it is lost, how long it takes and whether it arrives twice, then schedules its
delivery on the :class:`~aspen.sim.scheduler.Scheduler`. With ``fifo`` (the default) each
directed link delivers in order, as the TCP transport does; ``reorder`` then holds single
messages back so later ones overtake them, and duplicates arrive whenever their own delay says
(a resend after a reconnect). Without ``fifo`` jitter alone reorders, as UDP would.

Partitions are sets of *blocked directed links* ``(frm, to)``, so any shape is expressible,
including one-way cuts (``frm`` can no longer reach ``to`` but hears from it). A message on a
blocked link is dropped when sent; messages already in flight still arrive (they were on the
wire before the cut).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from aspen.raft.messages import Message
from aspen.sim.scheduler import NS_PER_MS, Scheduler

Link = tuple[int, int]
"""A directed link ``(frm, to)``."""


@dataclass(slots=True)
class NetConfig:
    """Fault-free behaviour of every link; faults are layered on top by the nemesis."""

    min_delay_ns: int = NS_PER_MS // 2
    """No message arrives faster than this."""
    mean_jitter_ns: int = NS_PER_MS
    """Mean of the exponential extra delay (0 = every message takes ``min_delay_ns``)."""
    drop: float = 0.0
    """Probability that any message is lost."""
    duplicate: float = 0.0
    """Probability that a message is delivered twice (the copy takes its own delay)."""
    reorder: float = 0.0
    """Probability that a message is held back by up to ``reorder_max_ns`` more."""
    reorder_max_ns: int = 50 * NS_PER_MS
    fifo: bool = True
    """Deliver in send order on each directed link (except held-back and duplicate messages)."""


@dataclass(slots=True)
class NetStats:
    sent: int = 0
    delivered: int = 0
    dropped_blocked: int = 0
    dropped_random: int = 0
    dropped_dead: int = 0
    duplicated: int = 0


@dataclass(slots=True)
class Network:
    """Links between node ids; ``deliver(msg, epoch)`` is called when a message arrives.

    ``epoch`` is the receiver's incarnation when the message was sent (see ``epoch_of``): the
    cluster drops a message addressed to an incarnation that has since crashed.
    """

    sched: Scheduler
    rng: random.Random
    deliver: Callable[[Message, int], None]
    epoch_of: Callable[[int], int]
    config: NetConfig = field(default_factory=NetConfig)
    blocked: frozenset[Link] = frozenset()
    link_drop: dict[Link, float] = field(default_factory=dict)
    """Extra per-link loss probability, on top of ``config.drop``."""
    stats: NetStats = field(default_factory=NetStats)
    _last: dict[Link, int] = field(default_factory=dict)
    """FIFO: the delivery time of the last in-order message on each link."""
    on_blocked: Callable[[Message], None] | None = None
    """Told about each message dropped on a blocked link (a transport would see the failure)."""

    def send(self, msg: Message) -> None:
        stats = self.stats
        stats.sent += 1
        link = (msg.frm, msg.to)
        if link in self.blocked:
            stats.dropped_blocked += 1
            if self.on_blocked is not None:
                self.on_blocked(msg)
            return
        cfg = self.config
        rng = self.rng
        p = cfg.drop
        if self.link_drop:
            p += self.link_drop.get(link, 0.0)
        if p and rng.random() < p:
            stats.dropped_random += 1
            return
        epoch = self.epoch_of(msg.to)
        sched = self.sched
        at = sched.now + self._delay()
        if cfg.reorder and rng.random() < cfg.reorder:
            at += rng.randrange(cfg.reorder_max_ns + 1)  # held back: later messages overtake it
        elif cfg.fifo:
            last = self._last.get(link, 0)
            if at < last:
                at = last
            self._last[link] = at
        sched.at(at, self.deliver, msg, epoch)
        if cfg.duplicate and rng.random() < cfg.duplicate:
            stats.duplicated += 1
            sched.after(self._delay(), self.deliver, msg, epoch)

    def _delay(self) -> int:
        cfg = self.config
        d = cfg.min_delay_ns
        if cfg.mean_jitter_ns:
            d += int(self.rng.expovariate(1.0) * cfg.mean_jitter_ns)
        return d

    # --- faults ---------------------------------------------------------------------------------

    def block(self, links: Iterable[Link]) -> None:
        self.blocked = self.blocked | frozenset(links)

    def heal(self) -> None:
        """Unblock every link and forget per-link loss."""
        self.blocked = frozenset()
        self.link_drop = {}

    def reachable(self, frm: int, to: int) -> bool:
        return (frm, to) not in self.blocked
