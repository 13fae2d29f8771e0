"""Exception handlers of the ``vbq api`` app: every error becomes RFC 9457 problem details
(:mod:`vbq.producers.api.problems`); only an unreachable Redis or broker answers 503.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from vbq.errors import (
    IdempotencyConflictError,
    NotFoundError,
    ReplicationTimeoutError,
    SpecError,
    StateConflictError,
    StoreError,
    SubmissionExpiredError,
    TenantCapError,
)
from vbq.logs import get_logger
from vbq.producers.api.problems import ProblemError, problem_response, tenant_cap_response

__all__ = ["install_error_handlers"]

log = get_logger("vbq.producers.api.app")  # the logger name from before the split


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` as problem details: vbq's errors by kind (422, 404, 409,
    400), FastAPI's validation and HTTP errors, 503 when Redis or the broker is unreachable,
    500 (logged) for anything else."""

    async def on_problem(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, ProblemError)
        return exc.to_response()

    async def on_spec(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, SpecError)
        return problem_response(422, "invalid-spec", str(exc), errors=exc.errors)

    async def on_not_found(_: Request, exc: Exception) -> Response:
        slug = "expired" if isinstance(exc, SubmissionExpiredError) else "not-found"
        return problem_response(404, slug, str(exc))

    async def on_conflict(_: Request, exc: Exception) -> Response:
        slug = "idempotency-conflict" if isinstance(exc, IdempotencyConflictError) else "conflict"
        return problem_response(409, slug, str(exc))

    async def on_tenant_cap(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, TenantCapError)
        return tenant_cap_response(exc)

    async def on_store(_: Request, exc: Exception) -> Response:
        # Remaining store refusals are about the request (page token, page size).
        return problem_response(400, "invalid-request", str(exc))

    async def on_validation(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {
                "field": ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "path")),
                "rule": str(err.get("type", "invalid")),
                "message": str(err.get("msg", "invalid")),
            }
            for err in exc.errors()
        ]
        return problem_response(422, "invalid-request", "the request is invalid", errors=errors)

    async def on_http(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        return problem_response(
            exc.status_code, slug, str(exc.detail), headers=dict(exc.headers or {})
        )

    async def on_unavailable(_: Request, exc: Exception) -> Response:
        log.warning("api.backend_unavailable", error=repr(exc))
        return problem_response(
            503,
            "unavailable",
            "the job store or broker is unreachable; retry later",
            headers={"Retry-After": "1"},
        )

    async def on_unexpected(_: Request, exc: Exception) -> Response:
        log.error("api.unexpected_error", error=repr(exc), exc_info=exc)
        return problem_response(500, "internal", "internal error")

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(SpecError, on_spec)
    app.add_exception_handler(NotFoundError, on_not_found)
    app.add_exception_handler(IdempotencyConflictError, on_conflict)
    app.add_exception_handler(StateConflictError, on_conflict)
    app.add_exception_handler(TenantCapError, on_tenant_cap)
    app.add_exception_handler(StoreError, on_store)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    for exc_type in _unavailable_errors():
        app.add_exception_handler(exc_type, on_unavailable)
    app.add_exception_handler(Exception, on_unexpected)


def _unavailable_errors() -> tuple[type[Exception], ...]:
    import redis
    from kombu.exceptions import OperationalError

    # ReplicationTimeoutError: stored on the primary but not confirmed by a replica in time;
    # retry with the same idempotency key (docs/contracts.md § Redis connections and failover).
    return (
        redis.ConnectionError,
        redis.TimeoutError,
        OperationalError,
        ConnectionError,
        ReplicationTimeoutError,
    )
