"""Error mapping: status codes, Google's error body, Retry-After/RetryInfo, transport failures."""

from __future__ import annotations

import email.utils
from typing import Any

import httpx
import pytest

from tests.unit.vertex.helpers import JOB, PARENT, google_error, make_client, raising
from vbq.errors import (
    VertexAmbiguousError,
    VertexError,
    VertexPermanentError,
    VertexRetryableError,
)
from vbq.vertex import parse_retry_after, parse_retry_delay
from vbq.vertex.error_mapping import error_from_operation

RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"


def _answer(status: int, body: Any = None, **headers: str) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(body, (dict, list)):
            return httpx.Response(status, json=body, headers=headers)
        return httpx.Response(status, content=(body or "").encode(), headers=headers)

    return handler


def _create(handler: Any) -> VertexError:
    client = make_client(handler)
    with pytest.raises(VertexError) as info:
        client.create_batch_prediction_job(PARENT, {"displayName": "d"})
    return info.value


def _get(handler: Any) -> VertexError:
    client = make_client(handler)
    with pytest.raises(VertexError) as info:
        client.get_batch_prediction_job(JOB)
    return info.value


# -- Retry-After and RetryInfo -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("3", 3.0), ("1.5", 1.5), (" 0 ", 0.0), ("-4", 0.0), (None, None), ("", None), ("soon", None)],
)
def test_retry_after_seconds(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_retry_after_http_date() -> None:
    now_s = 1_700_000_000.0
    future = email.utils.formatdate(now_s + 42, usegmt=True)
    past = email.utils.formatdate(now_s - 42, usegmt=True)
    assert parse_retry_after(future, now_s=now_s) == pytest.approx(42.0)
    assert parse_retry_after(past, now_s=now_s) == 0.0


def test_retry_after_nan_and_inf_are_ignored() -> None:
    assert parse_retry_after("nan") is None
    assert parse_retry_after("inf") is None


@pytest.mark.parametrize(
    ("details", "expected"),
    [
        ([{"@type": RETRY_INFO, "retryDelay": "1.5s"}], 1.5),
        ([{"@type": "other"}, {"@type": RETRY_INFO, "retryDelay": "30s"}], 30.0),
        ([{"@type": RETRY_INFO, "retryDelay": {"seconds": 2, "nanos": 500_000_000}}], 2.5),
        ([{"@type": RETRY_INFO, "retryDelay": "fast"}], None),
        ([{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "x"}], None),
        (None, None),
        ("junk", None),
    ],
)
def test_retry_delay(details: object, expected: float | None) -> None:
    assert parse_retry_delay(details) == expected


# -- HTTP statuses -------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 599])
def test_transient_statuses_are_retryable_on_reads(status: int) -> None:
    err = _get(_answer(status, google_error(status, "X", "try later")))
    assert type(err) is VertexRetryableError
    assert err.retryable and not err.ambiguous
    assert err.status_code == status
    assert err.method == "get"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 412, 422, 501])
def test_final_statuses_are_permanent(status: int) -> None:
    err = _get(
        _answer(status, google_error(status, "FAILED_PRECONDITION", "no"), **{"Retry-After": "5"})
    )
    assert type(err) is VertexPermanentError
    assert not err.retryable
    assert err.status_code == status
    assert err.retry_after_s is None  # a permanent refusal has nothing to wait for


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (429, VertexRetryableError),
        (503, VertexRetryableError),
        (500, VertexRetryableError),
        (502, VertexRetryableError),
        (504, VertexRetryableError),
        (400, VertexPermanentError),
    ],
)
def test_create_statuses(status: int, cls: type[VertexError]) -> None:
    err = _create(_answer(status, google_error(status, "S", "m")))
    assert type(err) is cls
    assert err.method == "create"


def test_google_message_and_status_are_verbatim() -> None:
    message = "Invalid value at 'batch_prediction_job.input_config' (instancesFormat), \"xml\""
    err = _create(_answer(400, google_error(400, "INVALID_ARGUMENT", message)))
    assert err.message == message
    assert err.status == "INVALID_ARGUMENT"
    assert message in str(err)


def test_429_with_retry_after_header() -> None:
    body = google_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded")
    err = _get(_answer(429, body, **{"Retry-After": "7"}))
    assert isinstance(err, VertexRetryableError)
    assert err.retry_after_s == 7.0
    assert err.status == "RESOURCE_EXHAUSTED"


def test_429_with_retry_info_only() -> None:
    body = google_error(
        429, "RESOURCE_EXHAUSTED", "Quota", details=[{"@type": RETRY_INFO, "retryDelay": "2.25s"}]
    )
    assert _create(_answer(429, body)).retry_after_s == 2.25


def test_header_and_retry_info_take_the_longer_wait() -> None:
    body = google_error(
        429, "RESOURCE_EXHAUSTED", "Quota", details=[{"@type": RETRY_INFO, "retryDelay": "9s"}]
    )
    assert _get(_answer(429, body, **{"Retry-After": "3"})).retry_after_s == 9.0
    assert _get(_answer(429, body, **{"Retry-After": "12"})).retry_after_s == 12.0


def test_503_retry_after_http_date() -> None:
    when = email.utils.formatdate(usegmt=True)  # now: nothing left to wait
    err = _get(_answer(503, "", **{"Retry-After": when}))
    assert isinstance(err, VertexRetryableError)
    assert err.retry_after_s is not None and 0.0 <= err.retry_after_s <= 1.0


def test_html_error_body_is_handled() -> None:
    html = "<html><body><h1>502 Bad Gateway</h1>" + "x" * 2000 + "</body></html>"
    err = _get(_answer(502, html, **{"content-type": "text/html"}))
    assert isinstance(err, VertexRetryableError)
    assert err.status == ""
    assert "502 Bad Gateway" in err.message
    assert len(err.message) < 700  # truncated, not the whole page


@pytest.mark.parametrize("body", ["", "not json", '{"error": "a string"}', "[1, 2]", "\xff\xfe"])
def test_odd_error_bodies(body: str) -> None:
    err = _get(_answer(404, body))
    assert isinstance(err, VertexPermanentError)
    assert err.status_code == 404
    assert err.message  # never empty


def test_error_body_wrapped_in_a_list() -> None:
    err = _get(_answer(403, [google_error(403, "PERMISSION_DENIED", "denied")]))
    assert err.status == "PERMISSION_DENIED"
    assert err.message == "denied"


# -- transport failures --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("slow connect"),
        httpx.PoolTimeout("pool full"),
    ],
)
def test_connect_phase_failures_are_retryable_even_for_create(exc: Exception) -> None:
    err = _create(raising(exc))
    assert type(err) is VertexRetryableError
    assert err.status_code == 0


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ReadTimeout("no answer"),
        httpx.ReadError("reset by peer"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.WriteError("broken pipe"),
        httpx.WriteTimeout("slow write"),
    ],
)
def test_post_send_failures(exc: Exception) -> None:
    create_err = _create(raising(exc))
    assert type(create_err) is VertexAmbiguousError
    assert create_err.ambiguous and create_err.retryable
    get_err = _get(raising(exc))
    assert type(get_err) is VertexRetryableError


def test_timeout_status_name() -> None:
    assert _get(raising(httpx.ReadTimeout("t"))).status == "DEADLINE_EXCEEDED"
    assert _get(raising(httpx.ReadError("r"))).status == "UNAVAILABLE"


def test_local_protocol_error_is_permanent() -> None:
    assert type(_create(raising(httpx.LocalProtocolError("bad header")))) is VertexPermanentError


def test_unreadable_success_body() -> None:
    assert type(_create(_answer(200, "<html>"))) is VertexAmbiguousError
    assert type(_get(_answer(200, "<html>"))) is VertexRetryableError
    assert type(_get(_answer(200, [1, 2]))) is VertexRetryableError


# -- long-running operation errors ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "cls", "status", "http"),
    [
        (14, VertexRetryableError, "UNAVAILABLE", 503),
        (8, VertexRetryableError, "RESOURCE_EXHAUSTED", 429),
        (9, VertexPermanentError, "FAILED_PRECONDITION", 400),
        (5, VertexPermanentError, "NOT_FOUND", 404),
        (99, VertexPermanentError, "UNKNOWN", 500),
    ],
)
def test_operation_error(code: int, cls: type[VertexError], status: str, http: int) -> None:
    err = error_from_operation(
        {"name": "op", "done": True, "error": {"code": code, "message": "boom"}}, method="delete"
    )
    assert type(err) is cls
    assert (err.status, err.status_code, err.message) == (status, http, "boom")
