"""Turning request bytes into checked values, or a :class:`RequestError` that says what is wrong.

Bodies are decoded with msgspec into ``Struct`` types that reject unknown fields and wrong
JSON types (a number where a key belongs, ``true`` for a node id); the limits a type cannot
express (key and value sizes in UTF-8 bytes, key counts, node id range, address syntax) are
checked by the functions below. Nothing here touches the node.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Collection, Mapping
from typing import Any, TypeVar

import msgspec
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from aspen.config import MAX_NODE_ID, parse_host_port
from aspen.http.errors import RequestError
from aspen.http.limits import LIMITS, HttpLimits
from aspen.kv.commands import MAX_KEY_BYTES, MAX_MULTI_KEYS, MAX_VALUE_BYTES
from aspen.node.service import Consistency, PeerAddress

DEFAULT_SCAN_LIMIT = 100
MAX_SCAN_LIMIT = 1000

T = TypeVar("T")


class _Body(msgspec.Struct, forbid_unknown_fields=True):
    pass


class PutBody(_Body):
    key: str
    value: str


class DeleteBody(_Body):
    key: str


class CasBody(_Body):
    key: str
    expected: str | None
    """None: the key must be absent."""
    new: str


class SetMultiBody(_Body):
    items: dict[str, str]


class ReadBody(_Body):
    key: str
    consistency: str = Consistency.LINEARIZABLE.value


class ValueBody(_Body):
    value: str


class AddressBody(_Body):
    raft: str
    http: str


class InitBody(_Body):
    members: dict[str, AddressBody]


class NodeBody(_Body):
    node_id: int
    raft: str
    http: str


class VotersBody(_Body):
    voters: list[int]


class EmptyBody(_Body):
    pass


class TransferBody(_Body):
    to: int | None = None
    """The voter to hand leadership to; absent or null: the most caught-up one."""


# --- bodies -------------------------------------------------------------------------------------


ENCODINGS = frozenset({"", "identity", "gzip", "deflate"})
"""Content-Encodings of a request body that the server decodes; any other is a 415."""


async def read_body(request: web.Request) -> bytes:
    """The request body, decoded, within the app's size and time limits (413 / 408 / 415 / 400).

    A client that is too slow is cut off: the 408 closes the connection, since the rest of its
    body would otherwise be read as the next request.
    """
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ENCODINGS:
        raise RequestError(
            f"unsupported Content-Encoding {encoding[:40]!r} (use gzip, deflate or none)",
            status=415,
            code="unsupported_media_type",
        )
    declared = request.content_length
    if declared is not None and declared > request.client_max_size:
        raise RequestError(
            f"request body too large: {declared} bytes declared, the limit is "
            f"{request.client_max_size}",
            status=413,
            code="payload_too_large",
        )
    limits = request.app.get(LIMITS, HttpLimits())
    try:
        return await asyncio.wait_for(request.read(), limits.body_timeout)
    except TimeoutError:
        raise RequestError(
            f"request body not received within {limits.body_timeout:g} s",
            status=408,
            code="request_timeout",
        ) from None
    except HttpProcessingError as e:
        raise RequestError(f"request body cannot be decoded ({e.message})") from None
    except web.RequestPayloadError as e:  # a Content-Encoding that does not decode, a bad chunk
        cause = e.__cause__ if isinstance(e.__cause__, HttpProcessingError) else e
        reason = cause.message if isinstance(cause, HttpProcessingError) else str(cause)
        raise RequestError(f"request body cannot be decoded ({reason.strip()})") from None


async def read_json(request: web.Request, *, optional: bool = False) -> object:
    """The request body as JSON; an empty body is an error unless ``optional`` (then ``{}``)."""
    raw = await read_body(request)
    if not raw.strip():
        if optional:
            return {}
        raise RequestError("request body is empty; expected a JSON object")
    try:
        # Decoded here, not by msgspec, so the answer does not depend on its wording.
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RequestError(
            f"malformed JSON: the body is not valid UTF-8 (byte {e.start})", code="malformed_json"
        ) from None
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError as e:
        raise RequestError(f"malformed JSON: {e}", code="malformed_json") from None
    except RecursionError:
        raise RequestError("malformed JSON: nested too deeply", code="malformed_json") from None


def convert(data: object, kind: type[T], what: str = "body") -> T:
    """Check decoded JSON against a body Struct; the error names the offending field."""
    if not isinstance(data, dict):
        raise RequestError(f"{what} must be a JSON object, got {_json_type(data)}")
    try:
        return msgspec.convert(data, kind)
    except msgspec.ValidationError as e:
        raise RequestError(f"invalid {what}: {e}", field=_blamed_field(str(e))) from None


async def body(request: web.Request, kind: type[T], *, optional: bool = False) -> T:
    return convert(await read_json(request, optional=optional), kind)


_AT_PATH = re.compile(r" - at `(\$[^`]*)`$")
_NAMED_FIELD = re.compile(r"field `([^`]+)`")


def _blamed_field(message: str) -> str:
    """The JSON path a msgspec validation message blames (``$.key``, ``$.voters[0]``).

    msgspec puts the path of a wrong value after `` - at ``, and names a missing or unknown
    field in backticks relative to that path (the root when there is none). This is the one
    place that reads msgspec's wording; responses carry the path in their ``field``.
    """
    at = _AT_PATH.search(message)
    path = at.group(1) if at else "$"
    named = _NAMED_FIELD.search(message)
    return f"{path}.{named.group(1)}" if named else path


def _json_type(x: object) -> str:
    match x:
        case None:
            return "null"
        case bool():
            return "a boolean"
        case int() | float():
            return "a number"
        case str():
            return "a string"
        case list():
            return "an array"
    return "an object"


# --- values -------------------------------------------------------------------------------------


def _utf8_len(text: str, what: str) -> int:
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise RequestError(f"{what} is not valid Unicode (lone surrogate)") from None


def check_key(key: str, what: str = "key") -> str:
    n = _utf8_len(key, what)
    if n == 0:
        raise RequestError(f"{what} must not be empty")
    if n > MAX_KEY_BYTES:
        raise RequestError(
            f"{what} is {n} bytes in UTF-8; the limit is {MAX_KEY_BYTES}", code="key_too_large"
        )
    return key


def check_value(value: str, what: str = "value") -> str:
    n = _utf8_len(value, what)
    if n > MAX_VALUE_BYTES:
        raise RequestError(
            f"{what} is {n} bytes in UTF-8; the limit is {MAX_VALUE_BYTES}",
            code="value_too_large",
        )
    return value


def check_items(items: Mapping[str, str]) -> list[tuple[str, str]]:
    if not items:
        raise RequestError("items must not be empty")
    if len(items) > MAX_MULTI_KEYS:
        raise RequestError(
            f"items has {len(items)} keys; the limit is {MAX_MULTI_KEYS}", code="too_many_keys"
        )
    return [(check_key(k, "items key"), check_value(x, "items value")) for k, x in items.items()]


def check_node_id(node_id: object, what: str = "node_id") -> int:
    if isinstance(node_id, bool) or not isinstance(node_id, int):
        raise RequestError(f"{what} must be an integer")
    if not 0 < node_id <= MAX_NODE_ID:
        raise RequestError(f"{what} must be in 1..{MAX_NODE_ID}, got {node_id}")
    return node_id


def parse_node_id(text: str, what: str = "node id") -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        raise RequestError(f"{what} must be a positive integer, got {text[:40]!r}")
    return check_node_id(int(text), what)


def check_address(text: str, what: str) -> str:
    try:
        parse_host_port(text, allow_port_zero=False)
    except ValueError as e:
        raise RequestError(f"{what}: {e}") from None
    return text


def peer_address(raft: str, http: str, what: str = "") -> PeerAddress:
    prefix = f"{what} " if what else ""
    return PeerAddress(check_address(raft, f"{prefix}raft"), check_address(http, f"{prefix}http"))


def check_voters(voters: list[int]) -> frozenset[int]:
    if not voters:
        raise RequestError("voters must not be empty")
    ids = [check_node_id(v, "voter id") for v in voters]
    if len(set(ids)) != len(ids):
        raise RequestError(f"voters must not repeat a node id, got {ids}")
    return frozenset(ids)


# --- query strings ------------------------------------------------------------------------------


def query(request: web.Request, allowed: Collection[str]) -> dict[str, str]:
    """The query parameters, refusing unknown or repeated ones (a typo must not be ignored)."""
    params: dict[str, str] = {}
    for name, value in request.query.items():
        if name not in allowed:
            known = ", ".join(sorted(allowed)) or "none"
            raise RequestError(f"unknown query parameter {name!r} (known: {known})")
        if name in params:
            raise RequestError(f"query parameter {name!r} given more than once")
        params[name] = value
    return params


def consistency(text: str | None) -> Consistency:
    if text is None:
        return Consistency.LINEARIZABLE
    try:
        return Consistency(text)
    except ValueError:
        options = " or ".join(repr(c.value) for c in Consistency)
        raise RequestError(f"consistency must be {options}, got {text!r}") from None


def scan_limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_SCAN_LIMIT
    ok = text.isascii() and text.isdigit() and len(text) <= 4
    if not ok or not 1 <= int(text) <= MAX_SCAN_LIMIT:
        raise RequestError(f"limit must be an integer in 1..{MAX_SCAN_LIMIT}, got {text[:40]!r}")
    return int(text)


def scan_prefix(text: str | None) -> str:
    if text is None:
        return ""
    if _utf8_len(text, "prefix") > MAX_KEY_BYTES:
        raise RequestError(f"prefix is longer than a key may be ({MAX_KEY_BYTES} bytes)")
    return text


def write_op(data: object) -> tuple[str, Any]:
    """Split a ``POST /write`` body into its op (default ``put``) and the op's checked body."""
    if not isinstance(data, dict):
        raise RequestError(f"body must be a JSON object, got {_json_type(data)}")
    rest = dict(data)
    op = rest.pop("op", "put")
    kinds: dict[str, type[_Body]] = {
        "put": PutBody,
        "delete": DeleteBody,
        "cas": CasBody,
        "set-multi": SetMultiBody,
    }
    if not isinstance(op, str) or op not in kinds:
        raise RequestError(f"op must be one of {', '.join(kinds)}, got {op!r}")
    return op, convert(rest, kinds[op], f"{op} body")
