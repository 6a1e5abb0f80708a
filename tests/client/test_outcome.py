"""Status codes and transport errors to outcomes: FAIL only when certainly not done."""

from __future__ import annotations

import aiohttp
import pytest

from aspen.client import OperationFailed, Outcome, OutcomeUnknown, Result
from aspen.client.outcome import SendWatch, outcome_of_exception, outcome_of_status, was_sent


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.OK),
        (204, Outcome.OK),
        (400, Outcome.FAIL),
        (404, Outcome.FAIL),
        (405, Outcome.FAIL),
        (409, Outcome.FAIL),
        (413, Outcome.FAIL),
        (421, Outcome.FAIL),
        (503, Outcome.FAIL),
        (507, Outcome.FAIL),
        (500, Outcome.UNKNOWN),
        (502, Outcome.UNKNOWN),
        (504, Outcome.UNKNOWN),
        (301, Outcome.UNKNOWN),
    ],
)
def test_status(status: int, outcome: Outcome) -> None:
    assert outcome_of_status(status) is outcome


class _Key:
    host, port, ssl = "127.0.0.1", 1, None


@pytest.mark.parametrize(
    ("exc", "outcome"),
    [
        (aiohttp.ClientConnectorError(_Key(), OSError(111, "refused")), Outcome.FAIL),  # type: ignore[arg-type]
        (aiohttp.ConnectionTimeoutError("connect"), Outcome.FAIL),
        (aiohttp.InvalidURL("x"), Outcome.FAIL),
        (aiohttp.SocketTimeoutError("read"), Outcome.UNKNOWN),
        (aiohttp.ServerTimeoutError("?"), Outcome.UNKNOWN),
        (TimeoutError(), Outcome.UNKNOWN),
        (aiohttp.ServerDisconnectedError(), Outcome.UNKNOWN),
        (aiohttp.ClientOSError(104, "reset"), Outcome.UNKNOWN),
        (aiohttp.ClientPayloadError("truncated"), Outcome.UNKNOWN),
        (ConnectionResetError(), Outcome.UNKNOWN),
    ],
)
def test_exception(exc: BaseException, outcome: Outcome) -> None:
    assert outcome_of_exception(exc) is outcome
    assert was_sent(exc) is (outcome is Outcome.UNKNOWN)


def test_an_error_after_any_attempt_sent_the_request_is_unknown() -> None:
    refused = aiohttp.ClientConnectorError(_Key(), OSError(111, "refused"))  # type: ignore[arg-type]
    watch = SendWatch()
    assert outcome_of_exception(refused, watch) is Outcome.FAIL
    watch.headers_sent = True  # an earlier attempt went out; the resend was refused
    assert outcome_of_exception(refused, watch) is Outcome.UNKNOWN


def test_unwrap() -> None:
    assert Result(Outcome.OK, 5).unwrap() == 5
    with pytest.raises(OperationFailed, match=r"fail \[503\] from http://a:1: no leader") as e:
        Result(Outcome.FAIL, error="no leader", status=503, endpoint="http://a:1").unwrap()
    assert e.value.result.status == 503
    with pytest.raises(OutcomeUnknown, match="unknown: timed out"):
        Result(Outcome.UNKNOWN, error="timed out").unwrap()
