"""The three outcomes of a client call, and how statuses and exceptions map to them.

The lab's checker relies on this classification, so it errs one way only: a call is FAIL only
when it *definitely* did not take effect; whenever that is not certain it is UNKNOWN.

============================================  ==========  ====================================
what happened                                 outcome     why
============================================  ==========  ====================================
2xx                                           OK          (a CAS mismatch is OK, ``ok=False``)
400, 404, 405, 409, 413, other 4xx            FAIL        refused while validating
421 not leader                                FAIL        refused before proposing
503 unavailable                               FAIL        by contract: definitely not done
507 storage full                              FAIL        refused before proposing
504 unknown outcome, 500, other 5xx           UNKNOWN     may have been applied
connection refused / DNS / connect timeout    FAIL        the request was never sent
timeout or connection lost after connecting   UNKNOWN     the request may have arrived
any error after an attempt sent its headers   UNKNOWN     (see :class:`SendWatch`)
============================================  ==========  ====================================
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import aiohttp

from aspen.errors import AspenError

T = TypeVar("T")


class Outcome(enum.Enum):
    OK = "ok"
    """It took effect (for a read: this is what was read)."""
    FAIL = "fail"
    """It definitely did not take effect."""
    UNKNOWN = "unknown"
    """It may or may not have taken effect (Jepsen's ``info``)."""


class ClientError(AspenError):
    """Raised by :meth:`Result.unwrap`; ``result`` is the call's full result."""

    def __init__(self, result: Result[Any]) -> None:
        super().__init__(result.describe())
        self.result = result


class OperationFailed(ClientError):
    """The operation definitely did not take effect."""


class OutcomeUnknown(ClientError):
    """The operation may or may not have taken effect."""


@dataclass(frozen=True, slots=True)
class Result(Generic[T]):
    """What one client call came to. ``value`` is meaningful only when ``outcome`` is OK."""

    outcome: Outcome
    value: T | None = None
    error: str | None = None
    """Why it failed or is unknown (the server's message, or the transport error)."""
    status: int | None = None
    """HTTP status of the last attempt; None when no response was received."""
    index: int | None = None
    """The Raft index the server reported, when it did."""
    endpoint: str | None = None
    """Base URL of the node that gave the last answer (or was last tried)."""
    attempts: int = 1
    body: Any = None
    """The decoded JSON body of the last response (None without one)."""

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK

    def unwrap(self) -> T:
        """The value, or raise :class:`OperationFailed` / :class:`OutcomeUnknown`."""
        if self.outcome is Outcome.OK:
            return self.value  # type: ignore[return-value]
        if self.outcome is Outcome.FAIL:
            raise OperationFailed(self)
        raise OutcomeUnknown(self)

    def describe(self) -> str:
        where = f" from {self.endpoint}" if self.endpoint else ""
        status = f" [{self.status}]" if self.status is not None else ""
        return f"{self.outcome.value}{status}{where}: {self.error or 'ok'}"


def outcome_of_status(status: int) -> Outcome:
    """Classify an HTTP status (see the module table)."""
    if 200 <= status < 300:
        return Outcome.OK
    if 400 <= status < 500 or status in (503, 507):
        return Outcome.FAIL
    return Outcome.UNKNOWN


class SendWatch:
    """Whether any attempt of one request put its headers on the wire.

    aiohttp resends an idempotent request (GET, HEAD, PUT, DELETE) once, on a new connection,
    when the connection of the first attempt broke, and raises what the resend raised. So a PUT
    the server received and applied before it crashed can end in "connection refused" from the
    resend: judged by the exception alone it was never sent. Pass a fresh watch as
    ``trace_request_ctx`` of each request on a session made with :func:`send_tracing`, and give
    it to :func:`was_sent`.
    """

    __slots__ = ("headers_sent",)

    def __init__(self) -> None:
        self.headers_sent = False


async def _on_headers_sent(
    session: aiohttp.ClientSession, context: Any, params: aiohttp.TraceRequestHeadersSentParams
) -> None:
    watch = context.trace_request_ctx
    if isinstance(watch, SendWatch):
        watch.headers_sent = True


def send_tracing() -> aiohttp.TraceConfig:
    """A trace config that marks the :class:`SendWatch` passed with a request when it is sent."""
    config = aiohttp.TraceConfig()
    config.on_request_headers_sent.append(_on_headers_sent)
    return config


def was_sent(exc: BaseException, watch: SendWatch | None = None) -> bool:
    """False only if the request surely never left: no attempt sent it (``watch``) and ``exc``
    proves the connection was not made.

    aiohttp raises ``ClientConnectorError`` (refused, unreachable, DNS, TLS handshake) and
    ``ConnectionTimeoutError`` (pool wait or connect timed out) before writing a byte; every
    other error (a read timeout, a reset, a disconnect) may come after the server got it all.
    """
    if watch is not None and watch.headers_sent:
        return True
    not_sent = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError, aiohttp.InvalidURL)
    return not isinstance(exc, not_sent)


def outcome_of_exception(exc: BaseException, watch: SendWatch | None = None) -> Outcome:
    return Outcome.UNKNOWN if was_sent(exc, watch) else Outcome.FAIL


TRANSPORT_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)
"""What a request may raise on the wire; anything else is a bug and propagates."""
