"""Every directed peer link behind its own Toxiproxy proxy.

Node ``i`` reaches node ``j`` through proxy ``n<i>-n<j>``, so a fault on that proxy's upstream
stream affects exactly the messages ``i`` sends ``j`` (the transport opens one connection per
direction). A symmetric partition is two such cuts; a one-way partition is one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from lab.chaos.partition import Link
from lab.toxiproxy.control import ToxiproxyControl

if TYPE_CHECKING:
    from lab.runtime.base import Runtime


@dataclass(frozen=True)
class ToxiproxyPlacement:
    """Where a run's Toxiproxy is and how its proxies are laid out (a runtime decides)."""

    url: str
    """The API, as the lab reaches it."""
    listen: Callable[[int, int], str]
    """The listen address of the proxy for link (src, dst), as the server binds it."""
    advertise_host: str | None = None
    """The host nodes use to reach the proxies; None: the host part of each listen address."""


class Links(Protocol):
    """Faults on directed peer links, whatever enforces them: `Network` (Toxiproxy, one proxy
    per link) or `lab.runtime.nftlinks.NftLinks` (nftables in each node's own namespace or
    container)."""

    def links(self) -> list[Link]: ...

    def setup(self, upstream: Callable[[int], str]) -> None: ...

    def peer_address(self, src: int, dst: int) -> str: ...

    def add_toxic(
        self,
        links: Iterable[Link],
        name: str,
        type: str,
        attributes: Mapping[str, int],
        *,
        toxicity: float = 1.0,
    ) -> None: ...

    def remove_toxic(self, links: Iterable[Link], name: str) -> None: ...

    def heal(self) -> None: ...

    def close(self) -> None: ...


def proxy_name(src: int, dst: int) -> str:
    return f"n{src}-n{dst}"


class Network:
    def __init__(
        self,
        control: ToxiproxyControl,
        nodes: Sequence[int],
        *,
        listen: Callable[[int, int], str] = lambda _src, _dst: "127.0.0.1:0",
        advertise_host: str | None = None,
    ) -> None:
        self.control = control
        self.nodes = list(nodes)
        self._listen = listen
        self._advertise_host = advertise_host
        self._addresses: dict[Link, str] = {}

    def links(self) -> list[Link]:
        return [(i, j) for i in self.nodes for j in self.nodes if i != j]

    def setup(self, upstream: Callable[[int], str]) -> None:
        """Create one proxy per directed link, ``upstream(j)`` being node j's raft address."""
        for src, dst in self.links():
            info = self.control.create_proxy(
                proxy_name(src, dst), upstream(dst), listen=self._listen(src, dst)
            )
            address = info.listen
            if self._advertise_host is not None:
                address = f"{self._advertise_host}:{address.rpartition(':')[2]}"
            self._addresses[(src, dst)] = address

    def peer_address(self, src: int, dst: int) -> str:
        """What node ``src`` must use as ``dst``'s raft address."""
        return self._addresses[(src, dst)]

    def peer_addresses(self, src: int) -> Mapping[int, str]:
        return {dst: addr for (s, dst), addr in self._addresses.items() if s == src}

    def add_toxic(
        self,
        links: Iterable[Link],
        name: str,
        type: str,
        attributes: Mapping[str, int],
        *,
        toxicity: float = 1.0,
    ) -> None:
        for src, dst in links:
            self.control.add_toxic(
                proxy_name(src, dst),
                type,
                attributes=attributes,
                stream="upstream",
                toxicity=toxicity,
                name=name,
            )

    def remove_toxic(self, links: Iterable[Link], name: str) -> None:
        for src, dst in links:
            self.control.remove_toxic(proxy_name(src, dst), name, missing_ok=True)

    def heal(self) -> None:
        """Every proxy enabled, every toxic gone."""
        self.control.reset()

    def describe(self) -> dict[str, Any]:
        return {f"{s}->{d}": a for (s, d), a in sorted(self._addresses.items())}

    def close(self) -> None:
        for src, dst in self._addresses:
            self.control.delete_proxy(proxy_name(src, dst))
        self._addresses.clear()


def attach_network(stack: contextlib.ExitStack, runtime: Runtime, nodes: Sequence[int]) -> Network:
    """The run's Toxiproxy (from its runtime) and a Network over it; both undone by ``stack``."""
    from lab.toxiproxy.control import ToxiproxyControl

    place = runtime.provide_toxiproxy(stack)
    net = Network(
        ToxiproxyControl(place.url),
        nodes,
        listen=place.listen,
        advertise_host=place.advertise_host,
    )
    stack.callback(net.close)
    return net
