"""Channels and stubs: the guarantees the live chain rebuild relies on."""

from __future__ import annotations

import asyncio

from lab.toxiproxy.stream import Channel, Chunk, Direction, Stub
from lab.toxiproxy.toxics import NOOP, Latency, ToxicWrapper


def chunk(data: bytes) -> Chunk:
    return Chunk(data, asyncio.get_running_loop().time())


async def test_fifo_and_sticky_end_of_stream() -> None:
    channel = Channel(capacity=10)
    first, second = chunk(b"a"), chunk(b"b")
    await channel.put(first)
    await channel.put(second)
    await channel.put(None)
    assert [await channel.get(), await channel.get()] == [first, second]
    assert await channel.get() is None
    assert await channel.get() is None  # like a closed Go channel


async def test_put_waits_for_room() -> None:
    channel = Channel(capacity=1)
    await channel.put(chunk(b"1"))
    blocked = asyncio.create_task(channel.put(chunk(b"2")))
    await asyncio.sleep(0)
    assert not blocked.done() and len(channel) == 1
    assert (got := await channel.get()) is not None and got.data == b"1"
    await blocked
    assert len(channel) == 1


async def test_cancelled_put_still_delivers() -> None:
    channel = Channel(capacity=1)
    await channel.put(chunk(b"1"))
    blocked = asyncio.create_task(channel.put(chunk(b"2")))
    await asyncio.sleep(0)
    blocked.cancel()
    await asyncio.wait({blocked})
    assert blocked.cancelled()
    assert [c.data for c in channel.take_all() if c] == [b"1", b"2"]


async def test_discard_never_blocks() -> None:
    channel = Channel(capacity=1)
    await channel.put(chunk(b"1"))
    channel.discard()
    for _ in range(3):
        await asyncio.wait_for(channel.put(chunk(b"x")), 1)
    assert len(channel) == 0


async def test_toxicity_picks_the_toxic_or_a_noop() -> None:
    toxic = Latency(latency=5)
    always = ToxicWrapper("a", "latency", "downstream", 1.0, Direction.DOWNSTREAM, toxic)
    never = ToxicWrapper("n", "latency", "downstream", 0.0, Direction.DOWNSTREAM, toxic)
    assert all(always.pick() is toxic for _ in range(100))
    assert all(never.pick() is NOOP for _ in range(100))


async def test_interrupted_latency_hands_its_chunk_on() -> None:
    stub = Stub(Channel(), Channel(capacity=10), lambda: None)
    wrapper = ToxicWrapper("l", "latency", "downstream", 1.0, Direction.DOWNSTREAM, Latency(10_000))
    stub.start(wrapper)
    await stub.input.put(chunk(b"held"))
    await asyncio.sleep(0.01)
    assert len(stub.output) == 0
    await stub.interrupt()
    assert [c.data for c in stub.output.take_all() if c] == [b"held"]
    stub.start(wrapper)
    await stub.input.put(None)
    assert await asyncio.wait_for(stub.output.get(), 1) is None
    assert stub.closed
