"""Turn HTTP answers and transport failures into the ``VertexError`` tree.

The one question every caller has is "may I send this again, and must I look first?", so the
mapping is about *what the server may have done*, not about the status code as such:

- **Retryable** (:class:`~vbq.errors.VertexRetryableError`): 408, 429, 500, 502, 503, 504
  (and other 5xx but 501), a connect-phase failure where nothing was sent, or any transport
  failure of an idempotent method (get/list/cancel/delete), where sending again is harmless.
- **Ambiguous** (:class:`~vbq.errors.VertexAmbiguousError`): a *create* that may have been
  applied. ``CreateBatchPredictionJobRequest`` has no request id, so a create whose body left
  the process and got no usable answer (read timeout, connection reset or closed without a
  response, an unreadable 2xx) must be reconciled by listing on the submission label before
  it is sent again.

A 500/502/504 answer to a create is classed *retryable*, as docs/contracts.md says, although
Google documents that a ``DEADLINE_EXCEEDED``/``INTERNAL`` write "may have completed": the
submit task lists by label before every re-create of a submission in ``SUBMITTING``, which
covers that case, and keeps its exponential backoff for 5xx storms.
- **Permanent** (:class:`~vbq.errors.VertexPermanentError`): 400, 401, 403, 404, 409, 412 and
  other 4xx, and 501; Google's ``error.message`` and ``error.status`` are carried verbatim.
"""

from __future__ import annotations

import email.utils
import json
import math
import re
import time
from typing import Any

import httpx

from vbq.errors import (
    VertexAmbiguousError,
    VertexError,
    VertexPermanentError,
    VertexRetryableError,
)

__all__ = [
    "error_from_operation",
    "error_from_response",
    "error_from_transport",
    "parse_retry_after",
    "parse_retry_delay",
]

# Google never retries these itself but they mean "not now", never "not ever". 408 is the
# server saying it gave up waiting for our request, so it did not act on it either.
_RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_RETRY_INFO_TYPE = "type.googleapis.com/google.rpc.RetryInfo"
_DURATION = re.compile(r"^\s*(-?\d+(?:\.\d+)?)s\s*$")
_MAX_MESSAGE_CHARS = 500

# google.rpc.Code → (name, HTTP status), for errors inside long-running operations.
_RPC_CODES: dict[int, tuple[str, int]] = {
    1: ("CANCELLED", 499),
    2: ("UNKNOWN", 500),
    3: ("INVALID_ARGUMENT", 400),
    4: ("DEADLINE_EXCEEDED", 504),
    5: ("NOT_FOUND", 404),
    6: ("ALREADY_EXISTS", 409),
    7: ("PERMISSION_DENIED", 403),
    8: ("RESOURCE_EXHAUSTED", 429),
    9: ("FAILED_PRECONDITION", 400),
    10: ("ABORTED", 409),
    11: ("OUT_OF_RANGE", 400),
    12: ("UNIMPLEMENTED", 501),
    13: ("INTERNAL", 500),
    14: ("UNAVAILABLE", 503),
    15: ("DATA_LOSS", 500),
    16: ("UNAUTHENTICATED", 401),
}
_RETRYABLE_RPC_CODES = frozenset({4, 8, 10, 13, 14})


def parse_retry_after(value: str | None, *, now_s: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date).

    Args:
        value: the header value, or None when absent.
        now_s: the current epoch time in seconds (tests); default ``time.time()``.

    Returns:
        Seconds (>= 0), or None when the header is absent or unreadable.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None  # RFC 9110 dates are always GMT; a zone-less one is not a valid date
    now = time.time() if now_s is None else now_s
    return max(0.0, when.timestamp() - now)


def parse_retry_delay(details: object) -> float | None:
    """Seconds from a ``google.rpc.RetryInfo`` entry (``retryDelay: "1.5s"``) in error details.

    Returns:
        Seconds (>= 0), or None when no readable RetryInfo is present.
    """
    if not isinstance(details, list):
        return None
    for detail in details:
        if not isinstance(detail, dict) or detail.get("@type") != _RETRY_INFO_TYPE:
            continue
        delay = detail.get("retryDelay")
        if isinstance(delay, str):
            match = _DURATION.match(delay)
            if match:
                return max(0.0, float(match.group(1)))
        elif isinstance(delay, dict):  # the proto3 JSON of Duration is a string, but be lenient
            seconds = float(delay.get("seconds", 0) or 0) + float(delay.get("nanos", 0) or 0) / 1e9
            return max(0.0, seconds)
    return None


def _google_error(response: httpx.Response) -> tuple[str, str, object]:
    """``(message, status, details)`` from Google's ``{"error": {...}}`` body, or from raw text."""
    try:
        payload: Any = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        payload = None
    # Google sends an object; some gateways send a one-element list of it.
    if isinstance(payload, list) and len(payload) == 1:
        payload = payload[0]
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        err = payload["error"]
        message = err.get("message")
        status = err.get("status")
        return (
            message if isinstance(message, str) and message else response.reason_phrase,
            status if isinstance(status, str) else "",
            err.get("details"),
        )
    text = response.text.strip() if response.content else ""
    if len(text) > _MAX_MESSAGE_CHARS:
        text = text[:_MAX_MESSAGE_CHARS] + "…"
    reason = response.reason_phrase or f"HTTP {response.status_code}"
    return (f"{reason}: {text}" if text else reason, "", None)


def error_from_response(response: httpx.Response, *, method: str) -> VertexError:
    """The error for a non-2xx response (the body must already be read).

    Args:
        response: the HTTP response.
        method: the client method (``create``, ``get``, ...), carried by the error.
    """
    code = response.status_code
    message, status, details = _google_error(response)
    retry_after_s = parse_retry_after(response.headers.get("retry-after"))
    delay_s = parse_retry_delay(details)
    if delay_s is not None:
        retry_after_s = delay_s if retry_after_s is None else max(retry_after_s, delay_s)
    cls: type[VertexError]
    if code in _RETRYABLE_STATUS or (code >= 500 and code != 501):
        cls = VertexRetryableError
    else:
        cls = VertexPermanentError
        retry_after_s = None
    return cls(message, status_code=code, status=status, retry_after_s=retry_after_s, method=method)


# Failures in the connect phase: no byte of the request reached the server.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)
# Our own fault: the request could not even be built, so sending it again cannot help.
_LOCAL = (httpx.LocalProtocolError, httpx.UnsupportedProtocol, httpx.InvalidURL)


def error_from_transport(exc: Exception, *, method: str, creates: bool) -> VertexError:
    """The error for a failure with no (complete) HTTP response.

    Args:
        exc: the httpx exception.
        method: the client method, carried by the error.
        creates: True for a non-idempotent create: after the request may have left the
            process (anything but a connect-phase failure) the error is ambiguous.
    """
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, _LOCAL):
        return VertexPermanentError(detail, status="INVALID_ARGUMENT", method=method)
    if isinstance(exc, _NOT_SENT):
        return VertexRetryableError(detail, status="UNAVAILABLE", method=method)
    status = "DEADLINE_EXCEEDED" if isinstance(exc, httpx.TimeoutException) else "UNAVAILABLE"
    if creates:
        # WriteError/WriteTimeout are here too: httpcore keeps reading after a failed write
        # (servers may answer early), and part of the body did leave, so we cannot be sure.
        return VertexAmbiguousError(
            f"the create may have been applied: {detail}", status=status, method=method
        )
    return VertexRetryableError(detail, status=status, method=method)


def error_from_operation(operation: dict[str, Any], *, method: str) -> VertexError:
    """The error for a finished long-running operation whose ``error`` is set.

    ``error`` is a ``google.rpc.Status`` with a gRPC ``code`` (not an HTTP status).
    """
    err = operation.get("error") or {}
    raw_code = err.get("code", 2) if isinstance(err, dict) else 2
    code = raw_code if isinstance(raw_code, int) else 2
    name, http_status = _RPC_CODES.get(code, ("UNKNOWN", 500))
    message = err.get("message") if isinstance(err, dict) else None
    text = message if isinstance(message, str) and message else f"operation failed: {name}"
    cls = VertexRetryableError if code in _RETRYABLE_RPC_CODES else VertexPermanentError
    return cls(text, status_code=http_status, status=name, method=method)
