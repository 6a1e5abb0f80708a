"""Toxiproxy's toxics: what each does to the chunks of one link, and how its attributes decode.

Each toxic is a small dataclass of integer attributes (the JSON ``attributes`` object) with an
async ``pipe(stub)`` that moves chunks from ``stub.recv()`` to ``stub.send()`` until end of stream,
as the Go ``Pipe`` methods in Shopify/toxiproxy ``toxics/*.go`` do. ``pipe`` may be cancelled at
any await (the chain is being rebuilt): a toxic that holds a chunk then hands it on with
``stub.output.put_nowait`` before re-raising, so no data is dropped ("Don't drop any data on the
floor"). Times are milliseconds except ``slicer.delay`` (microseconds); ``bandwidth.rate`` is KB/s
with 1 KB = 1000 bytes. ``packet_loss``'s two attributes are probabilities (JSON numbers in
[0, 1]); every other attribute is a non-negative integer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import random
import time
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from lab.toxiproxy.errors import BAD_REQUEST_BODY, INVALID_TOXIC_TYPE
from lab.toxiproxy.stream import Chunk, Direction, Stub

INT64_MAX = 2**63 - 1


class Toxic(ABC):
    """A kind of damage to a stream; instances hold the attributes, stubs hold per-link state."""

    type_name: ClassVar[str]
    # Capacity of the stub's input channel (Go's BufferedToxic): latency queues chunks.
    buffer_size: ClassVar[int] = 0

    def attributes(self) -> dict[str, Any]:
        """The JSON ``attributes`` object."""
        return dataclasses.asdict(self)  # type: ignore[call-overload, no-any-return]

    def validate(self) -> str | None:
        """Why these attributes cannot work, or ``None``."""
        return None

    def new_state(self) -> object:
        """Fresh per-link state (Go's StatefulToxic); ``None`` for stateless toxics."""
        return None

    def cleanup(self, stub: Stub) -> None:  # noqa: B027 - optional hook, empty by default
        """Called when the toxic is removed from a live link (Go's CleanupToxic)."""

    @abstractmethod
    async def pipe(self, stub: Stub) -> None:
        """Move chunks through the stub until end of stream (then ``stub.close()``)."""


@dataclasses.dataclass(slots=True)
class Noop(Toxic):
    """Passes everything through: the hidden first stage of every chain."""

    type_name: ClassVar[str] = "noop"

    async def pipe(self, stub: Stub) -> None:
        while (chunk := await stub.recv()) is not None:
            await stub.send(chunk)
        stub.close()


@dataclasses.dataclass(slots=True)
class Latency(Toxic):
    """Delays each chunk by ``latency`` ± ``jitter`` ms, counted from when it was read.

    Chunks keep their order; a burst is delayed once, not once per chunk (the delay is measured
    from each chunk's read time).
    """

    type_name: ClassVar[str] = "latency"
    buffer_size: ClassVar[int] = 1024
    latency: int = 0
    jitter: int = 0

    def delay(self) -> float:
        """One sample of latency ± jitter, in seconds (Go: ``rand.Int63n(2j) - j``)."""
        ms = self.latency
        if self.jitter > 0:
            ms += random.randrange(-self.jitter, self.jitter)
        return ms / 1000

    async def pipe(self, stub: Stub) -> None:
        while (chunk := await stub.recv()) is not None:
            due = chunk.timestamp + self.delay()
            sleep = due - time.monotonic()
            try:
                await sleep_until(due)
            except asyncio.CancelledError:
                stub.output.put_nowait(chunk)  # interrupted: pass it on without the delay
                raise
            chunk.timestamp += sleep  # as Go does, for the toxics after this one
            await stub.send(chunk)
        stub.close()


async def sleep_until(due: float) -> None:
    """Return no sooner than `time.monotonic` ``due``, as Go's ``time.Sleep`` does.

    Event-loop timers may fire up to a clock tick early (uvloop's are millisecond-grained and
    its clock is cached per iteration); a latency toxic must never deliver before its delay.
    """
    while (left := due - time.monotonic()) > 0:
        await asyncio.sleep(left)


@dataclasses.dataclass(slots=True)
class Bandwidth(Toxic):
    """Limits the stream to ``rate`` KB/s (0 = unlimited); big chunks go out every 100 ms."""

    type_name: ClassVar[str] = "bandwidth"
    rate: int = 0

    async def pipe(self, stub: Stub) -> None:
        loop = asyncio.get_running_loop()
        sleep = 0.0  # seconds owed; negative after oversleeping, as in Go
        while (chunk := await stub.recv()) is not None:
            data, stamp = chunk.data, chunk.timestamp
            if self.rate <= 0:
                sleep = 0.0
            else:
                sleep += len(data) / (self.rate * 1000)
                step = self.rate * 100  # bytes per 100 ms
                while len(data) > step:
                    try:
                        await asyncio.sleep(0.1)
                    except asyncio.CancelledError:
                        stub.output.put_nowait(Chunk(data, stamp))
                        raise
                    await stub.send(Chunk(data[:step], stamp))
                    data = data[step:]
                    sleep -= 0.1
            start = loop.time()
            try:
                if sleep > 0:
                    await asyncio.sleep(sleep)
            except asyncio.CancelledError:
                stub.output.put_nowait(Chunk(data, stamp))
                raise
            sleep -= loop.time() - start
            await stub.send(Chunk(data, stamp))
        stub.close()


@dataclasses.dataclass(slots=True)
class SlowClose(Toxic):
    """Passes data through but delays the close by ``delay`` ms."""

    type_name: ClassVar[str] = "slow_close"
    delay: int = 0

    async def pipe(self, stub: Stub) -> None:
        while (chunk := await stub.recv()) is not None:
            await stub.send(chunk)
        await asyncio.sleep(self.delay / 1000)
        stub.close()


@dataclasses.dataclass(slots=True)
class Timeout(Toxic):
    """Drops all data; closes the connection after ``timeout`` ms without data (0 = never).

    As in Toxiproxy the timer restarts whenever a chunk arrives (and is dropped), and removing
    the toxic closes the connections it was applied to: their data is gone, so they cannot go on.
    """

    type_name: ClassVar[str] = "timeout"
    timeout: int = 0

    async def pipe(self, stub: Stub) -> None:
        while True:
            if self.timeout > 0:
                try:
                    async with asyncio.timeout(self.timeout / 1000):
                        chunk = await stub.recv()
                except TimeoutError:
                    break
            else:
                chunk = await stub.recv()
            if chunk is None:
                break
        stub.close()

    def cleanup(self, stub: Stub) -> None:
        stub.close()


@dataclasses.dataclass(slots=True)
class ResetPeer(Toxic):
    """On the first data (or end of stream) after it starts, waits ``timeout`` ms, then resets.

    The reset closes both sockets of the connection with SO_LINGER 0, so peers see a TCP RST
    (``ECONNRESET``). The chunk that triggered it is dropped.
    """

    type_name: ClassVar[str] = "reset_peer"
    timeout: int = 0

    async def pipe(self, stub: Stub) -> None:
        await stub.recv()
        await asyncio.sleep(self.timeout / 1000)
        stub.reset_connection()


@dataclasses.dataclass(slots=True)
class Slicer(Toxic):
    """Splits each chunk into slices of about ``average_size`` ± ``size_variation`` bytes,
    waiting ``delay`` microseconds after each slice."""

    type_name: ClassVar[str] = "slicer"
    average_size: int = 0
    size_variation: int = 0
    delay: int = 0

    def validate(self) -> str | None:
        if self.average_size < 1:
            return "slicer average_size must be at least 1"
        return None

    def cuts(self, start: int, end: int) -> list[int]:
        """Slice boundaries as Go's ``chunk``: pairs ``[s0, e0, s1, e1, ...]``, halving
        recursively until a piece is within ``size_variation`` of ``average_size``."""
        if (end - start) - self.average_size <= self.size_variation:
            return [start, end]
        mid = start + (end - start) // 2
        if self.size_variation > 0:
            mid += random.randrange(-self.size_variation, self.size_variation)
        mid = min(max(mid, start + 1), end - 1)  # Go can slice out of range here; we cannot
        return self.cuts(start, mid) + self.cuts(mid, end)

    async def pipe(self, stub: Stub) -> None:
        while (chunk := await stub.recv()) is not None:
            cuts = self.cuts(0, len(chunk.data))
            for i in range(1, len(cuts), 2):
                await stub.send(Chunk(chunk.data[cuts[i - 1] : cuts[i]], chunk.timestamp))
                try:
                    await asyncio.sleep(self.delay / 1_000_000)
                except asyncio.CancelledError:
                    rest = chunk.data[cuts[i] :]
                    if rest:
                        stub.output.put_nowait(Chunk(rest, chunk.timestamp))
                    raise
        stub.close()


@dataclasses.dataclass(slots=True)
class _LimitState:
    transmitted: int = 0


@dataclasses.dataclass(slots=True)
class LimitData(Toxic):
    """Passes the first ``bytes`` bytes of the link, then closes the connection."""

    type_name: ClassVar[str] = "limit_data"
    bytes: int = 0

    def new_state(self) -> object:
        return _LimitState()

    async def pipe(self, stub: Stub) -> None:
        state = stub.state
        assert isinstance(state, _LimitState)
        while (chunk := await stub.recv()) is not None:
            remaining = max(self.bytes - state.transmitted, 0)
            data = chunk.data[:remaining]
            if data:
                state.transmitted += len(data)
                await stub.send(Chunk(data, chunk.timestamp))
            if self.bytes - state.transmitted <= 0:
                break
        stub.close()


@dataclasses.dataclass(slots=True)
class _LossState:
    """Per-connection: whether the last chunk was dropped, and the connection's own RNG."""

    rng: random.Random
    dropped: bool = False


@dataclasses.dataclass(slots=True)
class PacketLoss(Toxic):
    """Drops each chunk with probability ``loss_rate``, or ``loss_rate + correlation`` (capped
    at 1) right after a dropped chunk: a two-state Gilbert-Elliott model over chunks.

    Toxiproxy's ``packet_loss`` (Shopify/toxiproxy PR #739, ``toxics/packet_loss.go``): a dropped
    chunk is gone, with no close and no RST, so the peer sees a hole in the byte stream, not a
    lost IP packet that TCP would resend. Mean burst length is ``1 / (1 - loss_rate -
    correlation)`` chunks. Defaults are the merged code's (its registered zero value: both 0),
    not the 0.1 the PR's description mentions. Toxiproxy clamps values outside [0, 1]; we refuse
    them with a 400.
    """

    type_name: ClassVar[str] = "packet_loss"
    loss_rate: float = 0.0
    correlation: float = 0.0

    def validate(self) -> str | None:
        for name in ("loss_rate", "correlation"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                return f"packet_loss attribute {name} must be between 0 and 1"
        return None

    def new_state(self) -> object:
        return _LossState(random.Random(random.getrandbits(64)))

    def drops(self, state: _LossState) -> bool:
        """Draw whether the next chunk is lost, and remember it for the burst model."""
        p = min(1.0, self.loss_rate + self.correlation) if state.dropped else self.loss_rate
        state.dropped = state.rng.random() < p
        return state.dropped

    async def pipe(self, stub: Stub) -> None:
        state = stub.state
        assert isinstance(state, _LossState)
        while (chunk := await stub.recv()) is not None:
            if not self.drops(state):
                await stub.send(chunk)
        stub.close()


NOOP = Noop()
REGISTRY: dict[str, type[Toxic]] = {
    cls.type_name: cls
    for cls in (
        Noop,
        Latency,
        Bandwidth,
        SlowClose,
        Timeout,
        ResetPeer,
        Slicer,
        LimitData,
        PacketLoss,
    )
}


@dataclasses.dataclass(slots=True)
class ToxicWrapper:
    """A named toxic as the API shows it: the fields shared by all toxics around one ``Toxic``."""

    name: str
    type: str
    stream: str
    toxicity: float
    direction: Direction
    toxic: Toxic

    def pick(self) -> Toxic:
        """The toxic to run on one link: ``toxic`` with probability ``toxicity``, else a noop."""
        return self.toxic if random.random() < self.toxicity else NOOP

    def to_json(self) -> dict[str, Any]:
        """The toxic as Toxiproxy serialises it."""
        return {
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
            "attributes": self.toxic.attributes(),
        }


def decode_toxic(type_name: str, attributes: object, base: Toxic | None = None) -> Toxic:
    """A ``type_name`` toxic from a JSON ``attributes`` value, starting from ``base``'s values.

    Like Go's decoder, unknown keys are ignored, keys match case-insensitively and ``null`` leaves
    a value as it was. Unlike Go, negative values are refused (they have no meaning), and so are
    probabilities outside [0, 1]. Raises ``ApiError`` (400) on an unknown type or a bad value.
    """
    cls = REGISTRY.get(type_name)
    if cls is None:
        raise INVALID_TOXIC_TYPE
    values: dict[str, Any] = base.attributes() if base is not None else cls().attributes()
    if attributes is not None:
        if not isinstance(attributes, dict):
            raise BAD_REQUEST_BODY.joined("attributes must be a JSON object")
        fields = {name.lower(): name for name in values}
        floats = {name for name, value in values.items() if isinstance(value, float)}
        for key, value in attributes.items():
            field = key if key in values else fields.get(key.lower())
            if field is None or value is None:
                continue
            decode = _attribute_float if field in floats else _attribute_int
            values[field] = decode(type_name, field, value)
    toxic = cls(**values)
    problem = toxic.validate()
    if problem is not None:
        raise BAD_REQUEST_BODY.joined(problem)
    return toxic


def _attribute_float(type_name: str, field: str, value: object) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise BAD_REQUEST_BODY.joined(f"{type_name} attribute {field} must be a number")
    return float(value)


def _attribute_int(type_name: str, field: str, value: object) -> int:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise BAD_REQUEST_BODY.joined(f"{type_name} attribute {field} must be an integer")
    if not 0 <= value <= INT64_MAX:
        raise BAD_REQUEST_BODY.joined(
            f"{type_name} attribute {field} must be between 0 and {INT64_MAX}"
        )
    return value
