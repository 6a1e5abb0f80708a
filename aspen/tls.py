"""TLS contexts for the Raft port and the HTTP API, from PEM files (standard library ``ssl``).

Peers authenticate each other twice when both are on: by certificate (mutual TLS, chained to the
cluster CA) and by the cluster secret's challenge-response (:mod:`aspen.transport.handshake`).
Peer certificates are not checked against host names: nodes are dialled by whatever address
they advertise (often an IP, or a proxy in the lab), so the CA is what says "a member".
"""

from __future__ import annotations

import ssl
from pathlib import Path

from aspen.errors import AspenError


class TlsError(AspenError):
    """A certificate, key or CA file cannot be used; ``field`` names the config field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _load_chain(ctx: ssl.SSLContext, cert: Path, key: Path) -> None:
    try:
        ctx.load_cert_chain(cert, key)
    except FileNotFoundError as e:
        field = "tls_key" if Path(str(e.filename or "")) == key else "tls_cert"
        raise TlsError(field, f"{e.filename or cert}: no such file") from None
    except (OSError, ssl.SSLError) as e:
        raise TlsError("tls_cert", f"cannot load {cert} with key {key}: {e}") from None


def _load_ca(ctx: ssl.SSLContext, ca: Path) -> None:
    try:
        ctx.load_verify_locations(cafile=ca)
    except (OSError, ssl.SSLError) as e:
        raise TlsError("tls_ca", f"cannot load {ca}: {e}") from None


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """For the HTTP API: serves ``cert``, asks nothing of clients."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    _load_chain(ctx, cert, key)
    return ctx


def peer_contexts(cert: Path, key: Path, ca: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """``(accepting, dialing)`` contexts for the Raft port: mutual TLS against ``ca``."""
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.minimum_version = ssl.TLSVersion.TLSv1_2
    _load_chain(server, cert, key)
    _load_ca(server, ca)
    server.verify_mode = ssl.CERT_REQUIRED
    client = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    client.minimum_version = ssl.TLSVersion.TLSv1_2
    client.check_hostname = False  # see the module docstring: the CA decides
    client.verify_mode = ssl.CERT_REQUIRED
    _load_ca(client, ca)
    _load_chain(client, cert, key)
    return server, client


def client_context(ca: Path | str | None) -> ssl.SSLContext:
    """For HTTP clients: verify the server against ``ca`` (else the system's trust store)."""
    ctx = ssl.create_default_context(cafile=str(ca) if ca else None)
    return ctx


__all__ = ["TlsError", "client_context", "peer_contexts", "server_context"]
