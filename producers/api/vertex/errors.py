"""Google's JSON error envelope for the batchPredictionJobs surface, and what maps to it.

Every error of the surface is ``{"error": {"code": <HTTP status>, "message", "status":
<canonical code name>, "details": [...]}}``, as Google's REST frontends answer and as
google-api-core (``exceptions.from_http_response``) and google-genai (``errors.APIError``)
parse it. Details use Google's types: ``google.rpc.BadRequest`` (``fieldViolations`` naming
the field) for a refused request, ``google.rpc.RetryInfo`` (``retryDelay``) with 429 and 503,
``google.rpc.ErrorInfo`` (``reason``, ``domain``, ``metadata``) where a machine needs the cause.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from vbq.errors import (
    FilterError,
    IdempotencyConflictError,
    NotFoundError,
    ReplicationTimeoutError,
    SpecError,
    StateConflictError,
    StoreError,
    TenantAccessError,
    TenantCapError,
    VbqError,
)
from vbq.logs import get_logger
from vbq.producers.api.problems import ProblemError

__all__ = [
    "GRPC_CODES",
    "GoogleApiError",
    "bad_request",
    "error_info",
    "error_response",
    "response_for",
    "retry_info",
    "unauthenticated",
]

_log = get_logger(__name__)

GRPC_CODES: dict[str, int] = {
    "OK": 0,
    "CANCELLED": 1,
    "UNKNOWN": 2,
    "INVALID_ARGUMENT": 3,
    "DEADLINE_EXCEEDED": 4,
    "NOT_FOUND": 5,
    "ALREADY_EXISTS": 6,
    "PERMISSION_DENIED": 7,
    "RESOURCE_EXHAUSTED": 8,
    "FAILED_PRECONDITION": 9,
    "ABORTED": 10,
    "OUT_OF_RANGE": 11,
    "UNIMPLEMENTED": 12,
    "INTERNAL": 13,
    "UNAVAILABLE": 14,
    "DATA_LOSS": 15,
    "UNAUTHENTICATED": 16,
}
"""``google.rpc.Code`` numbers by name."""

_HTTP_STATUS: dict[str, int] = {
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}
_STATUS_FOR_HTTP = {
    400: "INVALID_ARGUMENT",
    404: "NOT_FOUND",
    405: "NOT_FOUND",
    413: "INVALID_ARGUMENT",
}
_TYPE = "type.googleapis.com/google.rpc."
_DOMAIN = "vbq.dev"


class GoogleApiError(VbqError):
    """Raised inside the surface to answer with Google's error envelope (internal to the
    HTTP API, like :class:`~vbq.producers.api.problems.ProblemError`).

    Args:
        status: canonical code name (``FAILED_PRECONDITION``); it decides the HTTP status.
        message: Google-style message.
        details: ``google.rpc`` detail objects (each with ``@type``).
        headers: extra response headers (``Retry-After``, ``WWW-Authenticate``).
    """

    def __init__(
        self,
        status: str,
        message: str,
        *,
        details: Sequence[Mapping[str, Any]] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.http_status = _HTTP_STATUS.get(status, 500)
        self.message = message
        self.details = [dict(d) for d in details]
        self.headers = dict(headers or {})

    def to_response(self) -> Response:
        """The JSON response for this error."""
        return error_response(self.status, self.message, details=self.details, headers=self.headers)


def error_response(
    status: str,
    message: str,
    *,
    details: Sequence[Mapping[str, Any]] = (),
    headers: Mapping[str, str] | None = None,
) -> Response:
    """``{"error": {"code", "message", "status", "details"}}`` with the status's HTTP code."""
    code = _HTTP_STATUS.get(status, 500)
    body = {"error": {"code": code, "message": message, "status": status, "details": list(details)}}
    return Response(
        content=json.dumps(body, ensure_ascii=False),
        status_code=code,
        media_type="application/json; charset=UTF-8",
        headers=dict(headers or {}),
    )


def bad_request(
    violations: Sequence[tuple[str, str]], message: str | None = None
) -> GoogleApiError:
    """400 INVALID_ARGUMENT with a ``BadRequest`` naming each ``(field, description)``."""
    text = message or "; ".join(f"{field}: {desc}" for field, desc in violations)
    detail = {
        "@type": _TYPE + "BadRequest",
        "fieldViolations": [{"field": f, "description": d} for f, d in violations],
    }
    return GoogleApiError("INVALID_ARGUMENT", text or "Invalid argument.", details=[detail])


def retry_info(delay_s: float) -> dict[str, Any]:
    """A ``google.rpc.RetryInfo`` detail (``retryDelay`` as a Duration, whole seconds)."""
    return {"@type": _TYPE + "RetryInfo", "retryDelay": f"{max(1, math.ceil(delay_s))}s"}


def error_info(reason: str, metadata: Mapping[str, str]) -> dict[str, Any]:
    """A ``google.rpc.ErrorInfo`` detail in vbq's domain."""
    return {
        "@type": _TYPE + "ErrorInfo",
        "reason": reason,
        "domain": _DOMAIN,
        "metadata": dict(metadata),
    }


def response_for(exc: Exception) -> Response:
    """Google's answer for an exception raised while serving the surface (5xx only for an
    unreachable store or broker, and for bugs)."""
    found = _mapped(exc)
    if found is not None:
        return found.to_response()
    if _unavailable(exc):
        _log.warning("api.vertex.backend_unavailable", error=repr(exc))
        return GoogleApiError(
            "UNAVAILABLE",
            "The service is currently unavailable (job store or broker unreachable).",
            details=[retry_info(1.0)],
            headers={"Retry-After": "1"},
        ).to_response()
    _log.error("api.vertex.unexpected_error", error=repr(exc), exc_info=exc)
    return GoogleApiError("INTERNAL", "Internal error encountered.").to_response()


def _mapped(exc: Exception) -> GoogleApiError | None:
    if isinstance(exc, GoogleApiError):
        return exc
    if isinstance(exc, SpecError):
        return bad_request([(e["field"], e["message"]) for e in exc.errors])
    if isinstance(exc, FilterError):
        return bad_request([("filter", str(exc))], f"Invalid filter: {exc}")
    if isinstance(exc, RequestValidationError):
        violations = [
            (
                ".".join(
                    str(p) for p in err.get("loc", ()) if p not in ("query", "path", "header")
                ),
                str(err.get("msg", "invalid")),
            )
            for err in exc.errors()
        ]
        return bad_request(violations)
    if isinstance(exc, ProblemError):
        if exc.status == 401:
            return unauthenticated(exc.detail)
        # The body could not be read as JSON (empty, not UTF-8, NaN, too deep): the field at
        # fault is the whole job, as Google names it.
        text = f"Invalid JSON payload received. {exc.detail}"
        return bad_request([("batch_prediction_job", text)], text)
    if isinstance(exc, TenantCapError):
        return GoogleApiError(
            "RESOURCE_EXHAUSTED",
            f"Quota exceeded: {exc}",
            details=[
                retry_info(exc.retry_after_s),
                error_info(
                    "TENANT_CAP", {"tenant": exc.tenant, "cap": exc.cap, "limit": f"{exc.limit:g}"}
                ),
            ],
            headers={"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))},
        )
    return _mapped_store(exc)


def _mapped_store(exc: Exception) -> GoogleApiError | None:
    if isinstance(exc, NotFoundError):
        return GoogleApiError("NOT_FOUND", str(exc))
    if isinstance(exc, IdempotencyConflictError):
        return GoogleApiError("ALREADY_EXISTS", f"{exc} (X-Idempotency-Key)")
    if isinstance(exc, StateConflictError):
        return GoogleApiError("ABORTED", f"The job changed concurrently; retry. {exc}")
    if isinstance(exc, TenantAccessError):
        return GoogleApiError("PERMISSION_DENIED", str(exc))
    if isinstance(exc, ReplicationTimeoutError):
        # Not acknowledged (no replica confirmed in time): retry with the same request id.
        return GoogleApiError(
            "UNAVAILABLE", str(exc), details=[retry_info(1.0)], headers={"Retry-After": "1"}
        )
    if isinstance(exc, StoreError):
        return GoogleApiError("INVALID_ARGUMENT", str(exc))
    if isinstance(exc, StarletteHTTPException):
        status = _STATUS_FOR_HTTP.get(exc.status_code, "INVALID_ARGUMENT")
        return GoogleApiError(status, str(exc.detail), headers=dict(exc.headers or {}))
    return None


def unauthenticated(reason: str) -> GoogleApiError:
    """401 UNAUTHENTICATED as Google words it, with ``WWW-Authenticate``."""
    return GoogleApiError(
        "UNAUTHENTICATED",
        "Request had invalid authentication credentials. Expected a vbq API key as the "
        f"OAuth 2 bearer token ({reason}).",
        details=[error_info("ACCESS_TOKEN_TYPE_UNSUPPORTED", {"service": "vbq api"})],
        headers={"WWW-Authenticate": 'Bearer realm="vbq"'},
    )


def _unavailable(exc: Exception) -> bool:
    import redis
    from kombu.exceptions import OperationalError

    return isinstance(
        exc, redis.ConnectionError | redis.TimeoutError | OperationalError | ConnectionError
    )
