"""Aspen's client library: :class:`AsyncClient` (asyncio) and :class:`Client` (blocking).

Every call returns a :class:`Result` whose ``outcome`` is OK, FAIL (definitely not done) or
UNKNOWN (may have been done); ``result.unwrap()`` returns the value or raises
:class:`OperationFailed` / :class:`OutcomeUnknown`. See :mod:`aspen.client.outcome` for how
statuses and transport errors are classified, and :mod:`aspen.client.async_client` for routing
and retries.
"""

from aspen.client.async_client import AsyncClient, CasReply, LeaderInfo, ScanReply
from aspen.client.outcome import (
    ClientError,
    OperationFailed,
    Outcome,
    OutcomeUnknown,
    Result,
    SendWatch,
    outcome_of_exception,
    outcome_of_status,
    send_tracing,
)
from aspen.client.sync import Client

__all__ = [
    "AsyncClient",
    "CasReply",
    "Client",
    "ClientError",
    "LeaderInfo",
    "OperationFailed",
    "Outcome",
    "OutcomeUnknown",
    "Result",
    "ScanReply",
    "SendWatch",
    "outcome_of_exception",
    "outcome_of_status",
    "send_tracing",
]
