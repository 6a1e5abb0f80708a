"""Codec throughput: ``python -m aspen.wire.bench`` prints messages/s for encode+decode."""

from __future__ import annotations

import time

from aspen.raft.messages import (
    AppendEntries,
    AppendEntriesResponse,
    Entry,
    Heartbeat,
    Message,
    RequestVote,
)
from aspen.wire.codec import FrameDecoder, encode

CASES: dict[str, Message] = {
    "heartbeat": Heartbeat(7, 1, 2, 1000),
    "append_response": AppendEntriesResponse(7, 2, 1, 1000),
    "request_vote": RequestVote(7, 1, 2, 1000, 6),
    "append_1x100B": AppendEntries(7, 1, 2, 999, 7, (Entry(7, 1000, data=b"x" * 100),), 999),
    "append_16x100B": AppendEntries(
        7, 1, 2, 999, 7, tuple(Entry(7, 1000 + i, data=b"x" * 100) for i in range(16)), 999
    ),
}


def bench(msg: Message, rounds: int = 7, seconds: float = 0.15, batch: int = 256) -> float:
    """Messages/s through encode and a streaming decode, ``batch`` frames per feed: the best of
    ``rounds`` short runs (the least disturbed by whatever else the machine is doing).
    """
    best = 0.0
    for _ in range(rounds):
        dec = FrameDecoder()
        done = 0
        start = time.perf_counter()
        deadline = start + seconds
        while time.perf_counter() < deadline:
            out = dec.feed(b"".join([encode(msg) for _ in range(batch)]))
            assert len(out) == batch
            done += batch
        best = max(best, done / (time.perf_counter() - start))
    return best


def main() -> None:
    for name, msg in CASES.items():
        print(f"{name:16} {bench(msg):>12,.0f} msgs/s (encode + decode)")


if __name__ == "__main__":
    main()
