"""A proxy's toxics: one chain per direction, applied live to every link of the proxy.

Mirrors Toxiproxy's ``toxic_collection.go``: the chain of each direction starts with a hidden
noop; new toxics are appended; each change is applied to every open link of that direction
(adding, updating and removing all affect existing connections). One lock serialises changes
and link creation, so a link always matches the chain it was built from.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from lab.toxiproxy import jsonbody
from lab.toxiproxy.errors import (
    INVALID_STREAM,
    INVALID_TOXIC_TYPE,
    TOXIC_ALREADY_EXISTS,
    TOXIC_NOT_FOUND,
)
from lab.toxiproxy.link import Connection, ToxicLink
from lab.toxiproxy.stream import Direction
from lab.toxiproxy.toxics import NOOP, REGISTRY, ToxicWrapper, decode_toxic


class ToxicCollection:
    """The toxics of one proxy and the links they act on."""

    def __init__(self) -> None:
        self.chains: dict[Direction, list[ToxicWrapper]] = {
            d: [ToxicWrapper("", "noop", d.label, 1.0, d, NOOP)] for d in Direction
        }
        self.links: set[ToxicLink] = set()
        self.lock = asyncio.Lock()

    def toxics(self) -> list[ToxicWrapper]:
        """All toxics, upstream ones first, each direction in chain order."""
        return [w for d in Direction for w in self.chains[d][1:]]

    def get(self, name: str) -> ToxicWrapper | None:
        """The toxic called ``name``, if any."""
        return next((w for w in self.toxics() if w.name == name), None)

    async def add(self, body: object) -> ToxicWrapper:
        """Create a toxic from a JSON body (``POST /proxies/{proxy}/toxics``).

        Checks in Toxiproxy's order: body shape, stream, type, duplicate name, attributes.
        """
        fields = jsonbody.fields(body, "name", "type", "stream", "toxicity", "attributes")
        name = jsonbody.as_str(fields, "name", "")
        type_name = jsonbody.as_str(fields, "type", "")
        stream = jsonbody.as_str(fields, "stream", "downstream")
        toxicity = jsonbody.as_float(fields, "toxicity", 1.0)
        direction = Direction.parse(stream)
        if direction is None:
            raise INVALID_STREAM
        if not name:
            name = f"{type_name}_{stream}"
        if type_name not in REGISTRY:
            raise INVALID_TOXIC_TYPE
        async with self.lock:
            if self.get(name) is not None:
                raise TOXIC_ALREADY_EXISTS
            toxic = decode_toxic(type_name, fields.get("attributes"))
            wrapper = ToxicWrapper(name, type_name, stream, toxicity, direction, toxic)
            self.chains[direction].append(wrapper)
            for link in self._links(direction):
                link.add_toxic(wrapper)
        return wrapper

    async def update(self, name: str, body: object) -> ToxicWrapper:
        """Change a toxic's attributes and/or toxicity; other fields cannot change."""
        async with self.lock:
            wrapper = self.get(name)
            if wrapper is None:
                raise TOXIC_NOT_FOUND
            fields = jsonbody.fields(body, "attributes", "toxicity")
            toxicity = jsonbody.as_float(fields, "toxicity", wrapper.toxicity)
            wrapper.toxic = decode_toxic(wrapper.type, fields.get("attributes"), wrapper.toxic)
            wrapper.toxicity = toxicity
            index = self._index(wrapper)
            await self._each(wrapper.direction, lambda link: link.update_toxic(index, wrapper))
        return wrapper

    async def remove(self, name: str) -> None:
        """Delete a toxic; links holding data in it pass that data on (a timeout closes them)."""
        async with self.lock:
            wrapper = self.get(name)
            if wrapper is None:
                raise TOXIC_NOT_FOUND
            await self._remove(wrapper)

    async def reset(self) -> None:
        """Remove every toxic."""
        async with self.lock:
            for wrapper in self.toxics():
                await self._remove(wrapper)

    async def attach(self, conn: Connection) -> None:
        """Build and start both links of a new connection from the current chains."""
        async with self.lock:
            if conn.closed:  # the proxy stopped while this connection waited for the lock
                return
            ends = {
                Direction.UPSTREAM: (conn.client_reader, conn.upstream_writer),
                Direction.DOWNSTREAM: (conn.upstream_reader, conn.client_writer),
            }
            for direction, (source, dest) in ends.items():
                chain = self.chains[direction]
                link = ToxicLink(conn, direction, chain, source, dest, self.links.discard)
                conn.links.append(link)
                self.links.add(link)
            for link in conn.links:
                link.start(self.chains[link.direction])

    def to_json(self) -> list[dict[str, Any]]:
        """The toxics as the API lists them."""
        return [w.to_json() for w in self.toxics()]

    async def _remove(self, wrapper: ToxicWrapper) -> None:
        chain = self.chains[wrapper.direction]
        index = self._index(wrapper)
        del chain[index]
        prev = chain[index - 1]
        await self._each(wrapper.direction, lambda link: link.remove_toxic(index, wrapper, prev))

    def _index(self, wrapper: ToxicWrapper) -> int:
        chain = self.chains[wrapper.direction]
        return next(i for i, w in enumerate(chain) if w is wrapper)

    def _links(self, direction: Direction) -> list[ToxicLink]:
        return [link for link in self.links if link.direction == direction and not link.finished]

    async def _each(self, direction: Direction, op: Callable[[ToxicLink], Awaitable[None]]) -> None:
        links = self._links(direction)
        if links:
            await asyncio.gather(*(op(link) for link in links))
