"""Errors of our Toxiproxy server (what the HTTP API answers) and of the lab's client facade.

::

    AspenError                      (aspen.errors)
    └── ToxiproxyError              anything the facade (control.py) could not do
        ├── ServerUnavailable       no Toxiproxy server answers at the URL
        ├── AlreadyExists           a proxy or toxic with that name exists (HTTP 409)
        ├── NotFound                no proxy or toxic with that name (HTTP 404)
        └── BadRequest              the server refused the input (HTTP 400, or any other error)

    ApiError                        raised inside the server, turned into the JSON error body
                                    ``{"error": message, "status": code}`` by the API layer

``ApiError`` is not an ``AspenError``: it never leaves the server, it only picks the response.
The messages of the canned ``ApiError`` values are Toxiproxy's own (``api.go``).
"""

from __future__ import annotations

from aspen.errors import AspenError


class ApiError(Exception):
    """An HTTP error answer: ``status`` and the ``error`` message of the JSON body."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def joined(self, detail: str) -> ApiError:
        """This error with a detail appended, as Toxiproxy's ``joinError`` does."""
        return ApiError(f"{self.message}: {detail}", self.status)

    def body(self) -> dict[str, object]:
        """The JSON body Toxiproxy sends for this error."""
        return {"error": self.message, "status": self.status}


BAD_REQUEST_BODY = ApiError("bad request body", 400)
MISSING_FIELD = ApiError("missing required field", 400)
PROXY_NOT_FOUND = ApiError("proxy not found", 404)
PROXY_ALREADY_EXISTS = ApiError("proxy already exists", 409)
INVALID_STREAM = ApiError("stream was invalid, can be either upstream or downstream", 400)
INVALID_TOXIC_TYPE = ApiError("invalid toxic type", 400)
TOXIC_ALREADY_EXISTS = ApiError("toxic already exists", 409)
TOXIC_NOT_FOUND = ApiError("toxic not found", 404)


class ToxiproxyError(AspenError):
    """The lab could not do what it asked of a Toxiproxy server."""


class ServerUnavailable(ToxiproxyError):
    """Nothing answered at the Toxiproxy URL."""


class AlreadyExists(ToxiproxyError):
    """A proxy or toxic of that name already exists."""


class NotFound(ToxiproxyError):
    """No proxy or toxic of that name."""


class BadRequest(ToxiproxyError):
    """The server refused the request (bad attributes, address in use, unknown toxic type)."""
