"""The lab's one way to drive Toxiproxy: a small typed facade over toxiproxy-python.

Everything goes through toxiproxy-python 0.1.1, so the real ``toxiproxy-server`` and ours are
interchangeable. That client is thin, and this facade papers over it:

- its host and port are class attributes (``APIConsumer``): every call here sets them, under a
  process-wide lock, so several ``ToxiproxyControl`` objects on different servers can coexist;
- it cannot update a toxic: ``update_toxic`` deletes and re-adds it (so, unlike a real update,
  the toxicity is re-drawn, ``limit_data`` counts from zero again, and a ``timeout`` toxic being
  replaced closes the connections it held, as removing it does in Toxiproxy);
- its errors are bytes in three exception types, and a 5xx is not an error at all: they become
  ``errors.ToxiproxyError`` subclasses here.

Proxies are "links" of the lab's network: ``create_proxy("n1->n2", upstream=n2_addr)`` and the
lab points n1's connections to n2 at the returned ``listen`` address.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import requests
import toxiproxy
from toxiproxy import exceptions as client_errors

from lab.toxiproxy.errors import (
    AlreadyExists,
    BadRequest,
    NotFound,
    ServerUnavailable,
    ToxiproxyError,
)

Stream = Literal["upstream", "downstream"]
DEFAULT_PORT = 8474

# toxiproxy-python keeps host/port on a class: one call at a time, process-wide.
_CLIENT_LOCK = threading.RLock()


@dataclass(frozen=True, slots=True)
class ProxyInfo:
    """A proxy as the server reports it; ``listen`` is the bound address."""

    name: str
    listen: str
    upstream: str
    enabled: bool

    @property
    def host(self) -> str:
        """The host clients connect to (brackets stripped from IPv6)."""
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        """The port clients connect to."""
        return int(self.listen.rpartition(":")[2])


@dataclass(frozen=True, slots=True)
class ProxySpec:
    """A proxy to have: for ``populate``."""

    name: str
    upstream: str
    listen: str = "127.0.0.1:0"


@dataclass(frozen=True, slots=True)
class ToxicInfo:
    """A toxic as the server reports it."""

    name: str
    type: str
    stream: str
    toxicity: float
    attributes: Mapping[str, Any]


class ToxiproxyControl:
    """Drive the Toxiproxy server at ``url`` (``http://host:port``) through toxiproxy-python."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"toxiproxy-python speaks plain http://host:port, not {url!r}")
        host = parts.hostname
        self.url = url
        self.host = f"[{host}]" if ":" in host else host
        self.port = parts.port or DEFAULT_PORT

    # -- server ---------------------------------------------------------------------------

    def running(self) -> bool:
        """Whether something accepts connections at the API address."""
        with self._client() as client:
            return bool(client.running())

    def version(self) -> str:
        """The server's version string (``/version``, JSON or plain text)."""
        with self._client() as client:
            raw = client.version()
        if raw is None:
            raise ServerUnavailable(f"no toxiproxy at {self.url}")
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        try:
            return str(json.loads(text)["version"])
        except (ValueError, KeyError, TypeError):
            return text.strip()

    def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        with self._client() as client:
            client.reset()

    # -- proxies --------------------------------------------------------------------------

    def create_proxy(
        self, name: str, upstream: str, listen: str = "127.0.0.1:0", *, enabled: bool = True
    ) -> ProxyInfo:
        """A new proxy ``listen`` -> ``upstream``; port 0 picks a free port (see ``.listen``)."""
        with self._client() as client:
            proxy = client.create(upstream=upstream, name=name, listen=listen, enabled=enabled)
        return _proxy_info(proxy)

    def populate(self, specs: Iterable[ProxySpec]) -> dict[str, ProxyInfo]:
        """Make sure these proxies exist (same listen and upstream), replacing others of the
        same name, as toxiproxy-python's client-side ``populate``; returns all of them."""
        wanted = [{"name": s.name, "upstream": s.upstream, "listen": s.listen} for s in specs]
        with self._client() as client:
            client.populate(wanted)
        found = self.proxies()
        return {spec["name"]: found[spec["name"]] for spec in wanted}

    def proxies(self) -> dict[str, ProxyInfo]:
        """Every proxy by name."""
        with self._client() as client:
            return {name: _proxy_info(p) for name, p in client.proxies().items()}

    def proxy(self, name: str) -> ProxyInfo:
        """One proxy; ``NotFound`` if there is none."""
        with self._client() as client:
            proxy = client.get_proxy(name)
        if proxy is None:
            raise NotFound(f"proxy {name!r} not found")
        return _proxy_info(proxy)

    def delete_proxy(self, name: str) -> None:
        """Remove a proxy, closing its listener and connections."""
        with self._client():
            _handle(name).destroy()

    def delete_all(self) -> None:
        """Remove every proxy."""
        with self._client() as client:
            client.destroy_all()

    def enable(self, name: str) -> None:
        """Listen again (on the same address) after ``disable``."""
        with self._client():
            _handle(name).enable()

    def disable(self, name: str) -> None:
        """Stop listening and close every connection of the proxy: the link is down."""
        with self._client():
            _handle(name).disable()

    # -- toxics ---------------------------------------------------------------------------

    def toxics(self, proxy: str) -> dict[str, ToxicInfo]:
        """The proxy's toxics by name."""
        with self._client():
            found = _handle(proxy).toxics()
        return {name: _toxic_info(t) for name, t in found.items()}

    def add_toxic(
        self,
        proxy: str,
        type: str,
        *,
        attributes: Mapping[str, float] | None = None,
        stream: Stream = "downstream",
        toxicity: float = 1.0,
        name: str | None = None,
    ) -> str:
        """Add a toxic (it also acts on open connections); returns its name, by default
        ``<type>_<stream>``."""
        toxic_name = name or f"{type}_{stream}"
        with self._client():
            _handle(proxy).add_toxic(
                type=type,
                name=toxic_name,
                stream=stream,
                toxicity=toxicity,
                attributes=dict(attributes or {}),
            )
        return toxic_name

    def remove_toxic(self, proxy: str, name: str, *, missing_ok: bool = False) -> None:
        """Remove a toxic; data it held moves on (a ``timeout`` closes its connections)."""
        try:
            with self._client():
                _handle(proxy).destroy_toxic(name)
        except NotFound:
            if not missing_ok:
                raise

    def update_toxic(
        self,
        proxy: str,
        name: str,
        *,
        attributes: Mapping[str, float] | None = None,
        toxicity: float | None = None,
    ) -> None:
        """Change a toxic's attributes (merged into the current ones) and/or toxicity.

        Delete + add, since toxiproxy-python cannot update: see the module docstring.
        """
        current = self.toxics(proxy).get(name)
        if current is None:
            raise NotFound(f"toxic {name!r} not found on proxy {proxy!r}")
        merged = {**current.attributes, **(attributes or {})}
        self.remove_toxic(proxy, name)
        self.add_toxic(
            proxy,
            current.type,
            attributes=merged,
            stream="upstream" if current.stream == "upstream" else "downstream",
            toxicity=current.toxicity if toxicity is None else toxicity,
            name=name,
        )

    # -- typed toxics: each returns the toxic's name ----------------------------------------

    def latency(
        self,
        proxy: str,
        latency_ms: int,
        *,
        jitter_ms: int = 0,
        stream: Stream = "downstream",
        toxicity: float = 1.0,
        name: str | None = None,
    ) -> str:
        """Delay data by ``latency_ms`` ± ``jitter_ms``."""
        attributes = {"latency": latency_ms, "jitter": jitter_ms}
        return self.add_toxic(
            proxy, "latency", attributes=attributes, stream=stream, toxicity=toxicity, name=name
        )

    def bandwidth(
        self,
        proxy: str,
        rate_kb_per_s: int,
        *,
        stream: Stream = "downstream",
        toxicity: float = 1.0,
        name: str | None = None,
    ) -> str:
        """Limit throughput to ``rate_kb_per_s`` KB/s (1 KB = 1000 bytes)."""
        attributes = {"rate": rate_kb_per_s}
        return self.add_toxic(
            proxy, "bandwidth", attributes=attributes, stream=stream, toxicity=toxicity, name=name
        )

    def timeout(
        self,
        proxy: str,
        timeout_ms: int = 0,
        *,
        stream: Stream = "downstream",
        toxicity: float = 1.0,
        name: str | None = None,
    ) -> str:
        """Drop all data; close after ``timeout_ms`` without data, or never if 0 (black hole)."""
        attributes = {"timeout": timeout_ms}
        return self.add_toxic(
            proxy, "timeout", attributes=attributes, stream=stream, toxicity=toxicity, name=name
        )

    def reset_peer(
        self,
        proxy: str,
        timeout_ms: int = 0,
        *,
        stream: Stream = "downstream",
        toxicity: float = 1.0,
        name: str | None = None,
    ) -> str:
        """On the next data, wait ``timeout_ms`` then reset the connection (TCP RST)."""
        attributes = {"timeout": timeout_ms}
        return self.add_toxic(
            proxy, "reset_peer", attributes=attributes, stream=stream, toxicity=toxicity, name=name
        )

    def slow_close(
        self,
        proxy: str,
        delay_ms: int,
        *,
        stream: Stream = "downstream",
        toxicity: float = 1.0,
        name: str | None = None,
    ) -> str:
        """Delay the close of the stream by ``delay_ms``."""
        attributes = {"delay": delay_ms}
        return self.add_toxic(
            proxy, "slow_close", attributes=attributes, stream=stream, toxicity=toxicity, name=name
        )

    def slicer(
        self,
        proxy: str,
        average_size: int,
        *,
        size_variation: int = 0,
        delay_us: int = 0,
        stream: Stream = "downstream",
        toxicity: float = 1.0,
        name: str | None = None,
    ) -> str:
        """Cut data into ``average_size`` ± ``size_variation`` byte pieces, ``delay_us`` apart."""
        attributes = {
            "average_size": average_size,
            "size_variation": size_variation,
            "delay": delay_us,
        }
        return self.add_toxic(
            proxy, "slicer", attributes=attributes, stream=stream, toxicity=toxicity, name=name
        )

    def limit_data(
        self,
        proxy: str,
        nbytes: int,
        *,
        stream: Stream = "downstream",
        toxicity: float = 1.0,
        name: str | None = None,
    ) -> str:
        """Close the connection once ``nbytes`` have passed in ``stream``."""
        attributes = {"bytes": nbytes}
        return self.add_toxic(
            proxy, "limit_data", attributes=attributes, stream=stream, toxicity=toxicity, name=name
        )

    def packet_loss(
        self,
        proxy: str,
        loss_rate: float,
        *,
        correlation: float = 0.0,
        stream: Stream = "downstream",
        toxicity: float = 1.0,
        name: str | None = None,
    ) -> str:
        """Drop each chunk with probability ``loss_rate`` (``+ correlation`` right after a drop:
        bursts). A real server built before Toxiproxy PR #739 answers "invalid toxic type"."""
        attributes = {"loss_rate": loss_rate, "correlation": correlation}
        return self.add_toxic(
            proxy, "packet_loss", attributes=attributes, stream=stream, toxicity=toxicity, name=name
        )

    # -- plumbing -------------------------------------------------------------------------

    @contextmanager
    def _client(self) -> Iterator[Any]:
        """toxiproxy-python pointed at this server, with its errors translated."""
        with _CLIENT_LOCK:
            client = toxiproxy.Toxiproxy()
            client.update_api_consumer(self.host, self.port)
            try:
                yield client
            except client_errors.ProxyExists as exc:
                raise AlreadyExists(_message(exc)) from exc
            except client_errors.NotFound as exc:
                raise NotFound(_message(exc)) from exc
            except client_errors.InvalidToxic as exc:
                raise BadRequest(_message(exc)) from exc
            except requests.ConnectionError as exc:
                raise ServerUnavailable(f"no toxiproxy at {self.url}: {exc}") from exc
            except requests.RequestException as exc:
                raise ToxiproxyError(f"toxiproxy at {self.url}: {exc}") from exc
            except (KeyError, ValueError, TypeError) as exc:
                # toxiproxy-python does not raise on 403/405/5xx; it trips over the error body.
                raise BadRequest(f"unexpected answer from toxiproxy at {self.url}: {exc}") from exc


def _handle(name: str) -> Any:
    """A toxiproxy-python ``Proxy`` for ``name`` without fetching it (its calls need the name)."""
    return toxiproxy.Proxy(name=name, upstream="", enabled=False, listen="")


def _proxy_info(proxy: Any) -> ProxyInfo:
    return ProxyInfo(proxy.name, proxy.listen, proxy.upstream, bool(proxy.enabled))


def _toxic_info(toxic: Any) -> ToxicInfo:
    return ToxicInfo(
        toxic.name, toxic.type, toxic.stream, float(toxic.toxicity), dict(toxic.attributes)
    )


def _message(exc: Exception) -> str:
    """The ``error`` field of the JSON body toxiproxy-python put in ``exc``, else its text."""
    raw = exc.args[0] if exc.args else b""
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    try:
        return str(json.loads(text)["error"])
    except (ValueError, KeyError, TypeError):
        return text.strip()
