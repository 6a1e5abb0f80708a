"""Request bodies decoded the way Toxiproxy's Go ``encoding/json`` decoder reads them.

Go decodes the first JSON value of the body and ignores what follows; object keys match struct
fields case-insensitively; ``null`` leaves a field at its default. Every failure is an
``ApiError`` 400 "bad request body: ...", never an exception that would become a 500.
"""

from __future__ import annotations

import json
import math

from lab.toxiproxy.errors import BAD_REQUEST_BODY


def _no_constants(name: str) -> object:
    raise ValueError(f"invalid JSON value {name}")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} is out of range")
    return value


_DECODER = json.JSONDecoder(parse_constant=_no_constants, parse_float=_finite_float)


def parse(raw: bytes) -> object:
    """The first JSON value in ``raw``."""
    try:
        text = raw.decode("utf-8").lstrip(" \t\r\n")
    except UnicodeDecodeError:
        raise BAD_REQUEST_BODY.joined("body is not UTF-8") from None
    if not text:
        raise BAD_REQUEST_BODY.joined("EOF")
    try:
        value, _ = _DECODER.raw_decode(text)
    except json.JSONDecodeError as exc:
        raise BAD_REQUEST_BODY.joined(f"{exc.msg} at offset {exc.pos}") from None
    except (ValueError, RecursionError) as exc:
        raise BAD_REQUEST_BODY.joined(str(exc) or "JSON nested too deeply") from None
    return value


def fields(body: object, *names: str) -> dict[str, object]:
    """The non-null values of ``names`` in a JSON object (keys matched as Go matches them)."""
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise BAD_REQUEST_BODY.joined(f"expected a JSON object, got {_kind(body)}")
    found: dict[str, object] = {}
    for name in names:
        if name in body:
            value = body[name]
        else:
            value = next((v for k, v in body.items() if k.lower() == name.lower()), None)
        if value is not None:
            found[name] = value
    return found


def as_str(values: dict[str, object], name: str, default: str) -> str:
    """A string field."""
    value = values.get(name, default)
    if not isinstance(value, str):
        raise BAD_REQUEST_BODY.joined(f"{name} must be a string, got {_kind(value)}")
    return value


def as_bool(values: dict[str, object], name: str, default: bool) -> bool:
    """A boolean field."""
    value = values.get(name, default)
    if not isinstance(value, bool):
        raise BAD_REQUEST_BODY.joined(f"{name} must be a boolean, got {_kind(value)}")
    return value


def as_float(values: dict[str, object], name: str, default: float) -> float:
    """A number field."""
    value = values.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BAD_REQUEST_BODY.joined(f"{name} must be a number, got {_kind(value)}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise BAD_REQUEST_BODY.joined(f"{name} is out of range")
    return number


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "number", float: "number", str: "string", list: "array"}.get(
        type(value), "object"
    )
