"""A node's configuration, layered: defaults < ``ASPEN_*`` environment < TOML file < flags.

Every layer yields raw values keyed by field name; one function per field turns a raw value
into its typed form, so a bad value is reported the same way whichever layer it came from::

    $ aspen-node --node-id 0
    aspen-node: config error: node_id: must be a positive integer, got 0

The file is named by ``--config PATH`` (or ``ASPEN_CONFIG``); its keys are the field names
below, and a key it does not know is an error (a typo must not silently fall back to a
default). Unknown ``ASPEN_*`` variables are ignored: the environment is shared with other tools.

Fields (TOML key / flag / variable):

=====================  ========================  =========================  ================
field                  flag                      variable                   default
=====================  ========================  =========================  ================
node_id                ``--node-id``             ``ASPEN_NODE_ID``          (required)
data_dir               ``--data-dir``            ``ASPEN_DATA_DIR``         ``./data``
raft_addr              ``--raft-addr``           ``ASPEN_RAFT_ADDR``        ``127.0.0.1:7000``
http_addr              ``--http-addr``           ``ASPEN_HTTP_ADDR``        ``127.0.0.1:8080``
advertise_raft         ``--advertise-raft``      ``ASPEN_ADVERTISE_RAFT``   = raft_addr
advertise_http         ``--advertise-http``      ``ASPEN_ADVERTISE_HTTP``   = http_addr
cluster_id             ``--cluster-id``          ``ASPEN_CLUSTER_ID``       ``""`` (from ticket)
tick_ms                ``--tick-ms``             ``ASPEN_TICK_MS``          50
heartbeat_ms           ``--heartbeat-ms``        ``ASPEN_HEARTBEAT_MS``     100
election_ms            ``--election-ms``         ``ASPEN_ELECTION_MS``      1000
fsync                  ``--fsync``               ``ASPEN_FSYNC``            ``always``
map_size               ``--map-size``            ``ASPEN_MAP_SIZE``         1 GiB
snapshot_threshold     ``--snapshot-threshold``  ``ASPEN_SNAPSHOT_...``     10000 entries
max_proposal_batch     ``--max-proposal-batch``  ``ASPEN_MAX_PROPOSAL_...``  256
promote_max_lag        ``--promote-max-lag``     ``ASPEN_PROMOTE_MAX_LAG``  1000 entries
ticket                 ``--ticket``              ``ASPEN_TICKET``           none
log_level              ``--log-level``           ``ASPEN_LOG_LEVEL``        ``INFO``
peers                  ``--peer`` (repeatable)   ``ASPEN_PEERS`` (a,b,...)  none
cluster_secret         ``--cluster-secret``      ``ASPEN_CLUSTER_SECRET``   none (insecure)
cluster_secret_file    ``--cluster-secret-file`` ``ASPEN_CLUSTER_SECRET_...``  none
admin_token            ``--admin-token``         ``ASPEN_ADMIN_TOKEN``      none (open)
admin_token_file       ``--admin-token-file``    ``ASPEN_ADMIN_TOKEN_FILE`` none
tls_cert               ``--tls-cert``            ``ASPEN_TLS_CERT``         none (plain TCP)
tls_key                ``--tls-key``             ``ASPEN_TLS_KEY``          none
tls_ca                 ``--tls-ca``              ``ASPEN_TLS_CA``           none
peer_max_connections   ``--peer-max-connections``  ``ASPEN_PEER_MAX_...``   64
peer_handshake_ms      ``--peer-handshake-ms``   ``ASPEN_PEER_HANDSHAKE_MS``  5000
peer_idle_ms           ``--peer-idle-ms``        ``ASPEN_PEER_IDLE_MS``     60000
http_header_timeout_ms ``--http-header-...``     ``ASPEN_HTTP_HEADER_...``  10000
http_body_timeout_ms   ``--http-body-...``       ``ASPEN_HTTP_BODY_...``    30000
http_idle_timeout_ms   ``--http-idle-...``       ``ASPEN_HTTP_IDLE_...``    60000
http_max_connections   ``--http-max-...``        ``ASPEN_HTTP_MAX_...``     1024
=====================  ========================  =========================  ================

A peer is written ``ID=RAFT@HTTP`` (``2=10.0.0.2:7000@10.0.0.2:8080``); in TOML it may also
be a table ``{id = 2, raft = "...", http = "..."}``. ``map_size`` takes an integer or a size
with a unit (``64MiB``, ``1GiB``). Timeouts are in milliseconds and are counted in whole
ticks by the driver (:attr:`NodeConfig.heartbeat_ticks`, :attr:`NodeConfig.election_ticks`).

Security (see the README's threat model): ``cluster_secret`` (at least 16 characters; or
``cluster_secret_file``, or carried in a ``--ticket``) makes peers prove it before they may
speak Raft; ``admin_token`` (or ``admin_token_file``) guards the admin endpoints; ``tls_cert``
+ ``tls_key`` serve both the Raft port and the HTTP API over TLS, and peers then verify each
other's certificates against ``tls_ca`` (required with them). Prefer the ``*_file`` forms or
the environment to flags: a flag is visible to every user of the machine in ``ps``.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import os
import re
import sys
import tempfile
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, NoReturn

from aspen.errors import ConfigError
from aspen.version import VersionAction

FsyncMode = Literal["always", "never"]
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MAX_NODE_ID = (1 << 63) - 1
"""Node ids travel as signed 64-bit integers on the wire."""

DEFAULT_RAFT_ADDR = "127.0.0.1:7000"
DEFAULT_HTTP_ADDR = "127.0.0.1:8080"

_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_-]{1,63})*\.?$"
)


# --- addresses ----------------------------------------------------------------------------------


def parse_host_port(text: str, *, allow_port_zero: bool = True) -> tuple[str, int]:
    """Split ``host:port`` (IPv6 as ``[::1]:port``) and check both parts.

    The host is a hostname, an IPv4 address or a bracketed IPv6 address; the port is a decimal
    integer in 0..65535 (1..65535 with ``allow_port_zero=False``). Raises ``ValueError`` with a
    message fit for a user.
    """
    if not isinstance(text, str) or not text:
        raise ValueError("address must be a non-empty 'host:port' string")
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or text[end + 1 : end + 2] != ":":
            raise ValueError(f"bad address {text!r}: expected '[ipv6]:port'")
        host, port_text = text[1:end], text[end + 2 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"bad address {text!r}: {host!r} is not an IPv6 address") from None
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep or not host:
            raise ValueError(f"bad address {text!r}: expected 'host:port'")
        if ":" in host:
            raise ValueError(f"bad address {text!r}: write IPv6 hosts as '[addr]:port'")
        if not _HOSTNAME.fullmatch(host):
            raise ValueError(f"bad address {text!r}: {host!r} is not a valid host name")
    if not port_text.isascii() or not port_text.isdigit() or len(port_text) > 5:
        raise ValueError(f"bad address {text!r}: port must be a number in 0..65535")
    port = int(port_text)
    if port > 65535 or (port == 0 and not allow_port_zero):
        low = 0 if allow_port_zero else 1
        raise ValueError(f"bad address {text!r}: port must be in {low}..65535")
    return host, port


def check_address(text: str, *, allow_port_zero: bool = True) -> str:
    """Return ``text`` unchanged if it is a valid ``host:port``; raise ``ValueError`` if not."""
    parse_host_port(text, allow_port_zero=allow_port_zero)
    return text


@dataclass(frozen=True, slots=True)
class PeerSpec:
    """A statically configured peer: ``ID=RAFT@HTTP``."""

    id: int
    raft: str
    http: str

    @classmethod
    def parse(cls, text: str) -> PeerSpec:
        """Parse ``ID=RAFT@HTTP``; raises ``ValueError``."""
        ident, eq, rest = text.partition("=")
        raft, at, http = rest.partition("@")
        if not eq or not at:
            raise ValueError(f"bad peer {text!r}: expected ID=RAFT@HTTP")
        return cls(_node_id(ident.strip()), check_address(raft), check_address(http))

    def __str__(self) -> str:
        return f"{self.id}={self.raft}@{self.http}"


# --- the configuration --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """Everything a node needs to start. Build it with :func:`load_config`, which validates."""

    node_id: int
    data_dir: Path = Path("data")
    raft_addr: str = DEFAULT_RAFT_ADDR
    """Where the Raft transport listens (port 0: any free port)."""
    http_addr: str = DEFAULT_HTTP_ADDR
    """Where the HTTP API listens (port 0: any free port)."""
    advertise_raft: str = ""
    """The Raft address peers should dial; empty means ``raft_addr``."""
    advertise_http: str = ""
    """The HTTP address clients are redirected to; empty means ``http_addr``."""
    cluster_id: str = ""
    tick_ms: int = 50
    heartbeat_ms: int = 100
    election_ms: int = 1000
    """The minimum election timeout; the core randomizes in [election, 2 * election)."""
    fsync: FsyncMode = "always"
    map_size: int = 1 << 30
    """LMDB map size in bytes: the most the data file may grow to."""
    snapshot_threshold: int = 10_000
    """Snapshot and compact once this many entries were applied since the last snapshot."""
    max_proposal_batch: int = 256
    """The most proposals the driver puts in one Raft append."""
    promote_max_lag: int = 1000
    """A learner becomes a voter only within this many entries of the leader's last index
    (0: fully caught up); otherwise change-membership answers 409 with how far behind it is."""
    ticket: str | None = None
    log_level: str = "INFO"
    peers: tuple[PeerSpec, ...] = ()
    cluster_secret: str = field(default="", repr=False)
    """Peers must prove they know it (challenge-response); empty: the insecure default."""
    cluster_secret_file: Path | None = None
    """Where ``cluster_secret`` was read from (its content is trimmed of whitespace)."""
    admin_token: str = field(default="", repr=False)
    """Bearer token the admin endpoints require; empty: they are open."""
    admin_token_file: Path | None = None
    tls_cert: Path | None = None
    """PEM certificate (chain) for the Raft port and the HTTP API; None: plain TCP."""
    tls_key: Path | None = None
    tls_ca: Path | None = None
    """PEM CA bundle that peer certificates must chain to (both directions)."""
    peer_max_connections: int = 64
    """Inbound peer connections held at once; more are closed at once."""
    peer_handshake_ms: int = 5000
    """Time an inbound peer connection has to finish its handshake."""
    peer_idle_ms: int = 60_000
    """An inbound peer connection silent this long is closed (dialers ping at a quarter)."""
    http_header_timeout_ms: int = 10_000
    """A new HTTP connection must complete its first request's headers in this time."""
    http_body_timeout_ms: int = 30_000
    """A request body must arrive in this time (408 and the connection closed otherwise)."""
    http_idle_timeout_ms: int = 60_000
    """An idle keep-alive HTTP connection is closed after this time."""
    http_max_connections: int = 1024
    """Open HTTP connections beyond this are answered 503 and closed."""

    @property
    def raft_advertised(self) -> str:
        return self.advertise_raft or self.raft_addr

    @property
    def http_advertised(self) -> str:
        return self.advertise_http or self.http_addr

    @property
    def secret_bytes(self) -> bytes | None:
        """The cluster secret as the handshake uses it; None without one."""
        return self.cluster_secret.encode() if self.cluster_secret else None

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    @property
    def heartbeat_ticks(self) -> int:
        return self.heartbeat_ms // self.tick_ms

    @property
    def election_ticks(self) -> int:
        return self.election_ms // self.tick_ms


FIELDS: tuple[str, ...] = tuple(f.name for f in fields(NodeConfig))

# --- per-field conversion: raw value (str from env/flags, anything from TOML) -> typed -------


def _node_id(raw: object) -> int:
    n = _int(raw)
    if not 0 < n <= MAX_NODE_ID:
        raise ValueError(f"must be a positive integer, got {raw!r}")
    return n


def _int(raw: object) -> int:
    if isinstance(raw, bool):
        raise ValueError(f"must be an integer, got {raw!r}")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and re.fullmatch(r"\s*[+-]?\d+\s*", raw):
        return int(raw)
    raise ValueError(f"must be an integer, got {raw!r}")


def _positive_int(raw: object) -> int:
    n = _int(raw)
    if n <= 0:
        raise ValueError(f"must be positive, got {n}")
    return n


def _non_negative_int(raw: object) -> int:
    n = _int(raw)
    if n < 0:
        raise ValueError(f"must be 0 or more, got {n}")
    return n


def _str(raw: object) -> str:
    if not isinstance(raw, str):
        raise ValueError(f"must be a string, got {type(raw).__name__}")
    return raw


def _address(raw: object) -> str:
    return check_address(_str(raw).strip())


def _optional_address(raw: object) -> str:
    text = _str(raw).strip()
    return check_address(text) if text else ""


def _fsync(raw: object) -> str:
    text = _str(raw).strip().lower()
    if text not in ("always", "never"):
        raise ValueError(f"must be 'always' or 'never', got {raw!r}")
    return text


_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mib": 1 << 20}
_UNITS |= {"g": 1 << 30, "gib": 1 << 30, "t": 1 << 40, "tib": 1 << 40}


def _size(raw: object) -> int:
    if isinstance(raw, str):
        m = re.fullmatch(r"\s*(\d+)\s*([A-Za-z]*)\s*", raw)
        if not m or m.group(2).lower() not in _UNITS:
            raise ValueError(f"must be a size like 1073741824, 64MiB or 1GiB, got {raw!r}")
        n = int(m.group(1)) * _UNITS[m.group(2).lower()]
    else:
        n = _int(raw)
    if n < 1 << 20:
        raise ValueError(f"must be at least 1 MiB, got {n} bytes")
    return n


def _log_level(raw: object) -> str:
    text = _str(raw).strip().upper()
    if text not in LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}, got {raw!r}")
    return text


def _ticket(raw: object) -> str | None:
    text = _str(raw).strip()
    if not text:
        return None
    from aspen.ticket import Ticket, TicketError  # here: aspen.ticket imports this module

    try:
        Ticket.decode(text)
    except TicketError as e:
        raise ValueError(str(e)) from None
    return text


def _cluster_id(raw: object) -> str:
    text = _str(raw).strip()
    if len(text) > 128:
        raise ValueError("must be at most 128 characters")
    return text


def _peer(raw: object) -> PeerSpec:
    if isinstance(raw, Mapping):
        unknown = set(raw) - {"id", "raft", "http"}
        if unknown or not {"id", "raft", "http"} <= set(raw):
            raise ValueError("a peer table needs exactly the keys id, raft, http")
        return PeerSpec(_node_id(raw["id"]), _address(raw["raft"]), _address(raw["http"]))
    return PeerSpec.parse(_str(raw).strip())


def _peers(raw: object) -> tuple[PeerSpec, ...]:
    if isinstance(raw, str):
        items: Sequence[object] = [p for p in raw.split(",") if p.strip()]
    elif isinstance(raw, list | tuple):
        items = raw
    else:
        raise ValueError(f"must be a list of ID=RAFT@HTTP, got {type(raw).__name__}")
    peers = tuple(_peer(p) for p in items)
    ids = [p.id for p in peers]
    if len(set(ids)) != len(ids):
        raise ValueError(f"node ids must be unique, got {ids}")
    return peers


def _path(raw: object) -> Path:
    text = _str(raw)
    if not text.strip():
        raise ValueError("must not be empty")
    return Path(text).expanduser()


MIN_SECRET_CHARS = 16


def _secret(raw: object) -> str:
    text = _str(raw).strip()
    if text and len(text.encode()) < MIN_SECRET_CHARS:
        raise ValueError(
            f"must be at least {MIN_SECRET_CHARS} bytes (try: aspen gen-secret), "
            f"got {len(text.encode())}"
        )
    return text


def _token(raw: object) -> str:
    text = _str(raw).strip()
    if any(c.isspace() or not c.isprintable() for c in text) or not text.isascii():
        raise ValueError("must be printable ASCII without spaces")
    return text


def _optional_path(raw: object) -> Path | None:
    text = _str(raw).strip()
    return Path(text).expanduser() if text else None


def _peer_connections(raw: object) -> int:
    n = _positive_int(raw)
    if n > 65536:
        raise ValueError(f"must be at most 65536, got {n}")
    return n


def _read_text(name: str, path: Path) -> str:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError) as e:
        why = e.strerror if isinstance(e, OSError) and e.strerror else e
        raise ConfigError(name, f"cannot read {path}: {why}") from None


_CONVERT: dict[str, Callable[[object], Any]] = {
    "node_id": _node_id,
    "data_dir": _path,
    "raft_addr": _address,
    "http_addr": _address,
    "advertise_raft": _optional_address,
    "advertise_http": _optional_address,
    "cluster_id": _cluster_id,
    "tick_ms": _positive_int,
    "heartbeat_ms": _positive_int,
    "election_ms": _positive_int,
    "fsync": _fsync,
    "map_size": _size,
    "snapshot_threshold": _positive_int,
    "max_proposal_batch": _positive_int,
    "promote_max_lag": _non_negative_int,
    "ticket": _ticket,
    "log_level": _log_level,
    "peers": _peers,
    "cluster_secret": _secret,
    "cluster_secret_file": _optional_path,
    "admin_token": _token,
    "admin_token_file": _optional_path,
    "tls_cert": _optional_path,
    "tls_key": _optional_path,
    "tls_ca": _optional_path,
    "peer_max_connections": _peer_connections,
    "peer_handshake_ms": _positive_int,
    "peer_idle_ms": _positive_int,
    "http_header_timeout_ms": _positive_int,
    "http_body_timeout_ms": _positive_int,
    "http_idle_timeout_ms": _positive_int,
    "http_max_connections": _positive_int,
}
assert set(_CONVERT) == set(FIELDS), "every NodeConfig field needs a converter"


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


# --- the layers ---------------------------------------------------------------------------------


def config_parser(prog: str = "aspen-node") -> argparse.ArgumentParser:
    """The node's command-line flags. Unset flags are absent from the namespace (SUPPRESS) so
    they do not override lower layers; values stay strings and are checked by load_config."""
    p = argparse.ArgumentParser(
        prog=prog,
        description="Run an Aspen node. Precedence: defaults < ASPEN_* < --config file < flags.",
        argument_default=argparse.SUPPRESS,
    )
    p.add_argument("--version", action=VersionAction)
    p.add_argument("--config", metavar="PATH", help="TOML file (also ASPEN_CONFIG)")
    helps = {
        "node_id": "this node's id (> 0)",
        "data_dir": "directory for the data files (created if missing)",
        "raft_addr": "host:port the Raft transport listens on",
        "http_addr": "host:port the HTTP API listens on",
        "advertise_raft": "host:port peers dial",
        "advertise_http": "host:port clients are sent to",
        "cluster_id": "the cluster this node belongs to",
        "tick_ms": "Raft tick length in ms",
        "heartbeat_ms": "leader heartbeat interval in ms",
        "election_ms": "minimum election timeout in ms",
        "fsync": "always | never",
        "map_size": "LMDB map size (bytes, or 64MiB, 1GiB)",
        "snapshot_threshold": "entries applied between snapshots",
        "max_proposal_batch": "most proposals per Raft append",
        "promote_max_lag": "most entries a learner may lag and still be promoted to voter",
        "ticket": "a cluster ticket (aspen...) to join with",
        "log_level": "DEBUG | INFO | WARNING | ERROR | CRITICAL",
        "cluster_secret": "secret peers must prove (prefer the file or ASPEN_CLUSTER_SECRET)",
        "cluster_secret_file": "file holding the cluster secret",
        "admin_token": "bearer token the admin endpoints require (prefer the env or file)",
        "admin_token_file": "file holding the admin token",
        "tls_cert": "PEM certificate: serve the Raft port and HTTP API over TLS",
        "tls_key": "PEM private key for --tls-cert",
        "tls_ca": "PEM CA that peer certificates must chain to",
        "peer_max_connections": "inbound peer connections held at once",
        "peer_handshake_ms": "time an inbound peer has to finish its handshake, in ms",
        "peer_idle_ms": "close an inbound peer connection silent this long, in ms",
        "http_header_timeout_ms": "ms for a new HTTP connection's first request headers",
        "http_body_timeout_ms": "ms for a request body to arrive (then 408)",
        "http_idle_timeout_ms": "ms an idle keep-alive HTTP connection is kept",
        "http_max_connections": "open HTTP connections beyond which new ones get 503",
    }
    for name, text in helps.items():
        help_text = f"{text} [{_env(name)}; default: {_default_text(name)}]"
        p.add_argument(_flag(name), dest=name, metavar=name.upper(), help=help_text)
    p.add_argument(
        "--peer",
        dest="peers",
        action="append",
        metavar="ID=RAFT@HTTP",
        help="a static peer (repeatable) [ASPEN_PEERS, comma-separated; default: none]",
    )
    return p


def _env(name: str) -> str:
    return "ASPEN_" + name.upper()


def _default_text(name: str) -> str:
    """A field's default as ``--help`` shows it: sizes in binary units, unset ones as none."""
    f = next(f for f in fields(NodeConfig) if f.name == name)
    if f.default is MISSING:
        return "required"
    value = f.default
    if name.startswith("advertise_"):
        return "the listen address"
    if value in ("", None):
        return "none"
    if name == "map_size" and isinstance(value, int):
        for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
            if value % (1 << shift) == 0:
                return f"{value >> shift}{unit}"
    return str(value)


def _from_env(environ: Mapping[str, str]) -> dict[str, object]:
    raw: dict[str, object] = {}
    for name in FIELDS:
        value = environ.get(_env(name))
        if value is not None:
            raw[name] = value
    return raw


def _from_toml(path: Path) -> dict[str, object]:
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise ConfigError("config", f"cannot read {path}: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError("config", f"{path} is not valid TOML: {e}") from None
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise ConfigError(unknown[0], f"unknown key in {path} (known: {', '.join(FIELDS)})")
    return dict(data)


def load_config(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> NodeConfig:
    """Build and validate a :class:`NodeConfig` from flags, file, environment and defaults.

    Raises :class:`aspen.errors.ConfigError` naming the offending field; a usage error in the
    flags themselves (an unknown flag) exits 2 through argparse. Creates ``data_dir`` if it is
    missing and checks it is writable.
    """
    argv = sys.argv[1:] if argv is None else argv
    environ = os.environ if environ is None else environ
    args = vars(config_parser().parse_args(list(argv)))
    config_path = args.pop("config", None) or environ.get("ASPEN_CONFIG")

    raw: dict[str, object] = _from_env(environ)
    if config_path:
        raw.update(_from_toml(Path(config_path)))
    raw.update(args)

    values: dict[str, Any] = {}
    for name, value in raw.items():
        try:
            values[name] = _CONVERT[name](value)
        except ValueError as e:
            raise ConfigError(name, str(e)) from None
    if "node_id" not in values:
        raise ConfigError("node_id", "is required (--node-id, ASPEN_NODE_ID or node_id = N)")
    for name, target, convert in (
        ("cluster_secret_file", "cluster_secret", _secret),
        ("admin_token_file", "admin_token", _token),
    ):
        path = values.get(name)
        if path is None:
            continue
        if values.get(target):
            raise ConfigError(name, f"give either {target} or {name}, not both")
        try:
            values[target] = convert(_read_text(name, path))
        except ValueError as e:
            raise ConfigError(name, f"{path}: {e}") from None
    config = NodeConfig(**values)
    validate(config)
    return config


def validate(config: NodeConfig) -> None:
    """Cross-field checks, and the data directory (created if missing, must be writable)."""
    if config.heartbeat_ms < config.tick_ms:
        raise ConfigError("heartbeat_ms", f"must be at least tick_ms ({config.tick_ms})")
    if config.heartbeat_ticks >= config.election_ticks:
        raise ConfigError(
            "election_ms",
            f"must be more ticks than heartbeat_ms ({config.heartbeat_ms} ms = "
            f"{config.heartbeat_ticks} ticks of {config.tick_ms} ms), got {config.election_ms}",
        )
    if config.ticket:
        from aspen.ticket import Ticket

        ticket = Ticket.decode(config.ticket)
        if config.cluster_id and config.cluster_id != ticket.cluster_id:
            raise ConfigError(
                "cluster_id",
                f"{config.cluster_id!r} differs from the ticket's {ticket.cluster_id!r}",
            )
        if ticket.secret and config.cluster_secret and ticket.secret != config.cluster_secret:
            raise ConfigError("cluster_secret", "differs from the secret the ticket carries")
    _check_tls(config)
    _check_data_dir(config.data_dir)


def _check_tls(config: NodeConfig) -> None:
    if (config.tls_cert is None) != (config.tls_key is None):
        missing = "tls_key" if config.tls_key is None else "tls_cert"
        raise ConfigError(missing, "tls_cert and tls_key go together")
    if config.tls_cert is None:
        if config.tls_ca is not None:
            raise ConfigError("tls_ca", "needs tls_cert and tls_key")
        return
    if config.tls_ca is None:
        raise ConfigError("tls_ca", "is required with tls_cert (peers verify each other)")
    from aspen.tls import TlsError, peer_contexts, server_context

    try:
        server_context(config.tls_cert, config.tls_key)  # type: ignore[arg-type]
        peer_contexts(config.tls_cert, config.tls_key, config.tls_ca)  # type: ignore[arg-type]
    except TlsError as e:
        raise ConfigError(e.field, str(e)) from None


def _check_data_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise ConfigError(
            "data_dir", f"{path} is not a writable directory: {e.strerror or e}"
        ) from None


@contextlib.contextmanager
def exit_on_config_error(prog: str = "aspen-node") -> Iterator[None]:
    """Turn a :class:`ConfigError` into one line on stderr and exit status 2.

    Usable as ``with exit_on_config_error(): config = load_config()`` or as a decorator.
    """
    try:
        yield
    except ConfigError as e:
        _die(prog, e)


def _die(prog: str, e: ConfigError) -> NoReturn:
    line = " ".join(str(e).split())
    print(f"{prog}: config error: {line}", file=sys.stderr)
    raise SystemExit(2)


__all__ = [
    "DEFAULT_HTTP_ADDR",
    "DEFAULT_RAFT_ADDR",
    "FIELDS",
    "NodeConfig",
    "PeerSpec",
    "check_address",
    "config_parser",
    "exit_on_config_error",
    "load_config",
    "parse_host_port",
    "validate",
]
