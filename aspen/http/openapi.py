"""The OpenAPI 3.1 description of the HTTP API, served at ``GET /openapi.json``.

Kept as Python data beside the handlers (not a JSON file) so it ships with the package and
can be checked against the routes; ``tests/http/test_openapi.py`` fuzzes the app against it
with schemathesis. Limits in bytes (keys 4 KiB, values 1 MiB, both UTF-8) cannot be said in
JSON Schema, which counts characters: the schema states character bounds that are implied by
them, and the byte limits in the descriptions.
"""

from __future__ import annotations

from typing import Any

from aspen.config import MAX_NODE_ID
from aspen.http.validation import DEFAULT_SCAN_LIMIT, MAX_SCAN_LIMIT
from aspen.kv.commands import MAX_KEY_BYTES, MAX_MULTI_KEYS, MAX_VALUE_BYTES

JSON = "application/json"
_STR = {"type": "string"}
_INT_LIST = {"type": "array", "items": {"type": "integer"}}
_ADDRESS_PATTERN = r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):[0-9]{1,5}$"

_ERROR_TEXT = {
    400: "Bad input: malformed JSON, wrong types, unknown fields, limits exceeded",
    401: "Admin endpoint without the admin token (Authorization: Bearer ...), or a wrong one",
    408: "The request body did not arrive in time (the connection is closed)",
    415: "Unsupported Content-Encoding",
    404: "No such endpoint",
    409: (
        "Conflicts with the cluster's state (change in flight, already initialized, a learner"
        " not caught up, a live member's address, a transfer that did not happen)"
    ),
    413: "Request body too large",
    421: "This node is not the leader; replay the request at `location`",
    503: "Definitely not carried out (no leader, not initialized): retry later",
    504: "Sent to Raft, but no answer in time: the outcome is unknown",
    507: "Storage full: writes refused",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` or null (OpenAPI 3.1 is JSON Schema 2020-12: no ``nullable``)."""
    if isinstance(schema.get("type"), str):
        return {**schema, "type": [schema["type"], "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def _obj(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    props = {**required, **(optional or {})}
    return {
        "type": "object",
        "properties": props,
        "required": list(required),
        "additionalProperties": False,
    }


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _responses(ok: dict[str, Any], *errors: int) -> dict[str, Any]:
    out: dict[str, Any] = {"200": _json(ok)}
    for status in sorted({400, *errors, *(_BODY_ERRORS if 413 in errors else ())}):
        schema = _ref("NotLeader") if status == 421 else _ref("Error")
        out[str(status)] = _json(schema, _ERROR_TEXT[status])
    return out


def _body(schema: dict[str, Any], *, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {JSON: {"schema": schema}}}


_BODY_ERRORS = (408, 415)
"""Any endpoint that reads a body may answer these (see ``aspen.http.validation.read_body``)."""
_WRITE_ERRORS = (413, 421, 503, 504, 507)
_READ_ERRORS = (421, 503, 504)
_ADMIN_ERRORS = (401, 409, 413, 421, 503, 504, 507)

_CONSISTENCY = {
    "name": "consistency",
    "in": "query",
    "required": False,
    "schema": {"type": "string", "enum": ["linearizable", "stale"], "default": "linearizable"},
}
_KEY_PARAM = {
    "name": "key",
    "in": "path",
    "required": True,
    "schema": _ref("Key"),
}

_SCHEMAS: dict[str, Any] = {
    "Key": {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_KEY_BYTES // 4,
        "pattern": "^[^\\u0000]",
        "description": (
            f"Non-empty; at most {MAX_KEY_BYTES} bytes in UTF-8 (so any {MAX_KEY_BYTES // 4} "
            "characters); keys starting with U+0000 are reserved for Aspen."
        ),
    },
    "Value": {
        "type": "string",
        "maxLength": MAX_VALUE_BYTES // 4,
        "description": (
            f"At most {MAX_VALUE_BYTES} bytes in UTF-8 (so any {MAX_VALUE_BYTES // 4} characters)."
        ),
    },
    "NodeId": {"type": "integer", "minimum": 1, "maximum": MAX_NODE_ID},
    "HostPort": {"type": "string", "pattern": _ADDRESS_PATTERN, "examples": ["127.0.0.1:8080"]},
    "Address": _obj({"raft": _ref("HostPort"), "http": _ref("HostPort")}),
    "Index": {"type": "integer", "minimum": 0, "description": "The Raft log index."},
    "Error": {
        "type": "object",
        "properties": {"error": {"type": "string"}, "code": {"type": "string"}},
        "required": ["error", "code"],
    },
    "NotLeader": {
        "type": "object",
        "properties": {
            "error": {"type": "string"},
            "code": {"type": "string", "enum": ["not_leader"]},
            "leader_id": _nullable({"type": "integer"}),
            "leader": _nullable(_ref("Address")),
            "location": _nullable(_STR),
        },
        "required": ["error", "code", "leader_id", "leader", "location"],
    },
    "PutBody": _obj(
        {"key": _ref("Key"), "value": _ref("Value")},
        {"op": {"type": "string", "enum": ["put"]}},
    ),
    "DeleteOp": _obj({"op": {"type": "string", "enum": ["delete"]}, "key": _ref("Key")}),
    "CasBody": _obj(
        {
            "key": _ref("Key"),
            "expected": _nullable(_ref("Value")),
            "new": _ref("Value"),
        }
    ),
    "CasOp": _obj(
        {
            "op": {"type": "string", "enum": ["cas"]},
            "key": _ref("Key"),
            "expected": _nullable(_ref("Value")),
            "new": _ref("Value"),
        }
    ),
    "Items": {
        "type": "object",
        "minProperties": 1,
        "maxProperties": MAX_MULTI_KEYS,
        "additionalProperties": _ref("Value"),
        "propertyNames": _ref("Key"),
        "description": f"At most {MAX_MULTI_KEYS} keys (each a Key), written atomically.",
    },
    "SetMultiOp": _obj({"op": {"type": "string", "enum": ["set-multi"]}, "items": _ref("Items")}),
    "ReadResult": _obj(
        {
            "key": {"type": "string"},
            "value": _nullable(_STR),
            "found": {"type": "boolean"},
            "index": _ref("Index"),
        }
    ),
    "CasResult": _obj(
        {
            "key": {"type": "string"},
            "ok": {"type": "boolean"},
            "current": _nullable(_STR),
            "index": _ref("Index"),
        }
    ),
    "Membership": _obj(
        {
            "voters": {"type": "array", "items": {"type": "integer"}},
            "learners": {"type": "array", "items": {"type": "integer"}},
            "voters_outgoing": {"type": "array", "items": {"type": "integer"}},
            "joint": {"type": "boolean"},
            "members": {
                "type": "object",
                "additionalProperties": _nullable(_ref("Address")),
            },
        }
    ),
    "Health": _obj(
        {
            "status": {"type": "string", "enum": ["healthy", "degraded", "unhealthy"]},
            "node_id": {"type": "integer"},
            "removed": {
                "type": "boolean",
                "description": "This node is no longer a voter or learner (never healthy)",
            },
            "checks": {
                "type": "array",
                "items": _obj(
                    {
                        "name": {"type": "string"},
                        "status": {"type": "string", "enum": ["ok", "degraded", "fail"]},
                        "detail": {"type": "string"},
                    }
                ),
            },
        }
    ),
}

_WRITE_RESULT = {
    "type": "object",
    "properties": {
        "op": {"type": "string", "enum": ["put", "delete", "cas", "set-multi"]},
        "key": {"type": "string"},
        "index": _ref("Index"),
        "existed": {"type": "boolean"},
        "ok": {"type": "boolean"},
        "current": _nullable(_STR),
        "count": {"type": "integer"},
    },
    "required": ["op", "index"],
    "additionalProperties": False,
}
_NODE_BODY = _obj({"node_id": _ref("NodeId"), "raft": _ref("HostPort"), "http": _ref("HostPort")})
_NODE_RESULT = _obj({"node_id": {"type": "integer"}, "index": _ref("Index")})
_FREE_OBJECT = {"type": "object"}


def _op(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "responses": responses, **extra}


_PATHS: dict[str, Any] = {
    "/write": {
        "post": _op(
            "Write: a put ({key, value}) or {op: put|delete|cas|set-multi, ...}",
            _responses(_WRITE_RESULT, *_WRITE_ERRORS),
            requestBody=_body(
                {
                    "oneOf": [
                        _ref("PutBody"),
                        _ref("DeleteOp"),
                        _ref("CasOp"),
                        _ref("SetMultiOp"),
                    ]
                }
            ),
        )
    },
    "/read": {
        "post": _op(
            "Read one key",
            _responses(_ref("ReadResult"), *_READ_ERRORS, 413),
            requestBody=_body(
                _obj(
                    {"key": _ref("Key")},
                    {"consistency": {"type": "string", "enum": ["linearizable", "stale"]}},
                )
            ),
        )
    },
    "/kv": {
        "get": _op(
            "Scan keys with a prefix, in key order",
            _responses(
                _obj(
                    {
                        "prefix": {"type": "string"},
                        "items": {
                            "type": "array",
                            "items": _obj({"key": {"type": "string"}, "value": {"type": "string"}}),
                        },
                        "count": {"type": "integer"},
                        "truncated": {"type": "boolean"},
                        "index": _ref("Index"),
                    }
                ),
                *_READ_ERRORS,
            ),
            parameters=[
                {"name": "prefix", "in": "query", "schema": {"type": "string"}},
                {"name": "start_after", "in": "query", "schema": {"type": "string"}},
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_SCAN_LIMIT,
                        "default": DEFAULT_SCAN_LIMIT,
                    },
                },
                _CONSISTENCY,
            ],
        )
    },
    "/kv/cas": {
        "post": _op(
            "Compare-and-set; a mismatch is 200 with ok=false",
            _responses(_ref("CasResult"), *_WRITE_ERRORS),
            requestBody=_body(_ref("CasBody")),
        )
    },
    "/kv/set-multi": {
        "post": _op(
            "Set up to 100 keys atomically",
            _responses(
                _obj({"count": {"type": "integer"}, "index": _ref("Index")}), *_WRITE_ERRORS
            ),
            requestBody=_body(_obj({"items": _ref("Items")})),
        )
    },
    "/kv/{key}": {
        "parameters": [_KEY_PARAM],
        "get": _op(
            "Read one key: 200 with found=false when absent",
            _responses(_ref("ReadResult"), *_READ_ERRORS, 404),
            parameters=[_CONSISTENCY],
        ),
        "put": _op(
            "Put one key",
            _responses(_obj({"key": {"type": "string"}, "index": _ref("Index")}), *_WRITE_ERRORS),
            requestBody=_body(_obj({"value": _ref("Value")})),
        ),
        "delete": _op(
            "Delete one key",
            _responses(
                _obj({"key": _STR, "existed": {"type": "boolean"}, "index": _ref("Index")}),
                *_WRITE_ERRORS,
                404,
            ),
        ),
    },
    "/init": {
        "post": _op(
            "Bootstrap a new cluster with these voters",
            _responses(
                _obj(
                    {
                        "initialized": {"type": "boolean"},
                        "voters": {"type": "array", "items": {"type": "integer"}},
                    }
                ),
                *_ADMIN_ERRORS,
            ),
            requestBody=_body(
                _obj(
                    {
                        "members": {
                            "type": "object",
                            "minProperties": 1,
                            "additionalProperties": _ref("Address"),
                        }
                    }
                )
            ),
        )
    },
    "/add-learner": {
        "post": _op(
            "Add a non-voting member",
            _responses(_NODE_RESULT, *_ADMIN_ERRORS),
            requestBody=_body(_NODE_BODY),
        )
    },
    "/add-peer": {
        "post": _op(
            "Record a current member's addresses without changing membership (400 for a "
            "non-member; 409 if it would replace the addresses of a live member)",
            _responses(_NODE_RESULT, *_ADMIN_ERRORS),
            requestBody=_body(_NODE_BODY),
        )
    },
    "/peers/{node_id}": {
        "parameters": [
            {"name": "node_id", "in": "path", "required": True, "schema": _ref("NodeId")}
        ],
        "delete": _op(
            "Delete a node's address record, undoing an add-peer (404 if there is none, "
            "409 for a live member)",
            _responses(
                _obj(
                    {"node_id": {"type": "integer"}, "removed": {"type": "boolean"}},
                    {"index": _ref("Index")},
                ),
                *_ADMIN_ERRORS,
                404,
            ),
        ),
    },
    "/transfer-leadership": {
        "post": _op(
            "Hand leadership to a voter (default: the most caught-up one); answered once the "
            "new leader is known, 409 if the transfer did not happen",
            _responses(
                _obj(
                    {
                        "previous": {"type": "integer"},
                        "leader_id": {"type": "integer"},
                        "term": {"type": "integer"},
                    }
                ),
                *_ADMIN_ERRORS,
            ),
            requestBody=_body(
                _obj({}, {"to": {**_ref("NodeId"), "nullable": True}}), required=False
            ),
        )
    },
    "/change-membership": {
        "post": _op(
            "Make this set the voters (joint consensus); 409 with `behind` if a learner to "
            "promote is not caught up",
            _responses(
                _obj({"voters": _INT_LIST, "index": _ref("Index")}),
                *_ADMIN_ERRORS,
            ),
            requestBody=_body(
                _obj(
                    {
                        "voters": {
                            "type": "array",
                            "items": _ref("NodeId"),
                            "minItems": 1,
                            "uniqueItems": True,
                        }
                    }
                )
            ),
        )
    },
    "/trigger-snapshot": {
        "post": _op(
            "Snapshot the state machine and compact the log now",
            _responses(_obj({"index": _ref("Index")}), *_ADMIN_ERRORS),
            requestBody=_body(_obj({}), required=False),
        )
    },
    "/snapshot": {
        "get": _op(
            "A consistent snapshot file of this node's state machine (aspen snapshot save)",
            {
                "200": {
                    "description": "The snapshot file",
                    "content": {"application/octet-stream": {"schema": _STR}},
                },
                "400": _json(_ref("Error"), _ERROR_TEXT[400]),
                "401": _json(_ref("Error"), _ERROR_TEXT[401]),
            },
        )
    },
    "/leader": {
        "get": _op(
            "The leader this node knows of (503 when none)",
            _responses(
                _obj(
                    {
                        "leader_id": {"type": "integer"},
                        "http": _nullable(_STR),
                        "raft": _nullable(_STR),
                        "is_self": {"type": "boolean"},
                    }
                ),
                503,
            ),
        )
    },
    "/membership": {"get": _op("Voters, learners, addresses", _responses(_ref("Membership")))},
    "/raft-metrics": {"get": _op("Raft state of this node", _responses(_FREE_OBJECT))},
    "/node-info": {"get": _op("Identity and addresses of this node", _responses(_FREE_OBJECT))},
    "/cluster-ticket": {
        "get": _op(
            "A ticket naming the cluster and up to 16 members",
            _responses(
                _obj(
                    {
                        "ticket": {"type": "string", "pattern": "^aspen[a-z2-7]+$"},
                        "cluster_id": {"type": "string"},
                        "secret": {"type": "boolean"},
                        "peers": {
                            "type": "array",
                            "items": _obj(
                                {
                                    "id": {"type": "integer"},
                                    "raft": {"type": "string"},
                                    "http": {"type": "string"},
                                }
                            ),
                        },
                    }
                ),
                503,
            ),
        )
    },
    "/health": {
        "get": _op(
            "Health checks: 200 healthy/degraded, 503 unhealthy",
            {
                "200": _json(_ref("Health")),
                "400": _json(_ref("Error"), _ERROR_TEXT[400]),
                "503": _json(_ref("Health"), "At least one check failed"),
            },
        )
    },
    "/metrics": {
        "get": _op(
            "Prometheus text exposition",
            {"200": {"description": "OK", "content": {"text/plain": {"schema": _STR}}}},
        )
    },
    "/openapi.json": {"get": _op("This document", {"200": _json(_FREE_OBJECT)})},
}


def openapi_document(server_url: str | None = None) -> dict[str, Any]:
    """The API description; ``server_url`` fills ``servers`` when given."""
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Aspen node HTTP API",
            "version": "1",
            "description": __doc__ or "",
        },
        "paths": _PATHS,
        "components": {"schemas": _SCHEMAS},
    }
    if server_url:
        doc["servers"] = [{"url": server_url}]
    return doc
