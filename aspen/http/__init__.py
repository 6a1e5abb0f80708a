"""The node's HTTP API: :func:`build_app` wraps a :class:`aspen.node.service.NodeService`."""

from aspen.http.app import DEFAULT_MAX_BODY_BYTES, HttpServer, build_app, serve
from aspen.http.openapi import openapi_document

__all__ = ["DEFAULT_MAX_BODY_BYTES", "HttpServer", "build_app", "openapi_document", "serve"]
