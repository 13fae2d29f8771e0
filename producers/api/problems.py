"""RFC 9457 problem details: every error the HTTP API returns has this shape.

``application/problem+json`` with ``type``, ``title``, ``status``, ``detail`` and, for a refused
job spec, ``errors: [{field, rule, message}]`` (the fields of :class:`vbq.errors.SpecError`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.responses import Response

from vbq.errors import TenantCapError, VbqError

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "PROBLEM_TYPE_BASE",
    "ProblemError",
    "problem_body",
    "problem_response",
    "tenant_cap_response",
]

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://vbq.dev/problems/"
"""Problem ``type`` URIs are ``PROBLEM_TYPE_BASE + slug``; they identify, they do not resolve."""

_TITLES: dict[int, str] = {
    400: "Bad request",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid job request",
    500: "Internal error",
    503: "Service unavailable",
}


class ProblemError(VbqError):
    """Raised inside a route to answer with a problem document (internal to the HTTP API;
    it derives from :class:`~vbq.errors.VbqError` so that the one error tree holds).

    Args:
        status: HTTP status code.
        slug: short kebab-case id; the ``type`` is ``PROBLEM_TYPE_BASE + slug``.
        detail: human-readable explanation of this occurrence.
        errors: optional ``[{field, rule, message}]`` list.
        headers: extra response headers (``WWW-Authenticate`` for 401).
    """

    def __init__(
        self,
        status: int,
        slug: str,
        detail: str,
        *,
        errors: Sequence[Mapping[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.detail = detail
        self.errors = [dict(e) for e in errors] if errors is not None else None
        self.headers = dict(headers or {})

    def to_response(self) -> Response:
        """The ``application/problem+json`` response for this problem."""
        return problem_response(
            self.status, self.slug, self.detail, errors=self.errors, headers=self.headers
        )


def problem_body(
    status: int,
    slug: str,
    detail: str,
    *,
    errors: Sequence[Mapping[str, str]] | None = None,
    title: str | None = None,
) -> dict[str, Any]:
    """The problem document: ``type``, ``title``, ``status``, ``detail`` and maybe ``errors``."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + slug,
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = [
            {
                "field": str(e.get("field", "")),
                "rule": str(e.get("rule", "")),
                "message": str(e.get("message", "")),
            }
            for e in errors
        ]
    return body


def problem_response(
    status: int,
    slug: str,
    detail: str,
    *,
    errors: Sequence[Mapping[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A Starlette response carrying a problem document."""
    body = problem_body(status, slug, detail, errors=errors)
    return Response(
        content=json.dumps(body, ensure_ascii=False),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=dict(headers or {}),
    )


def tenant_cap_response(exc: TenantCapError) -> Response:
    """429 ``tenant-cap`` with ``Retry-After`` (whole seconds, at least 1) and the cap as the
    rule of field ``tenant``."""
    return problem_response(
        429,
        "tenant-cap",
        str(exc),
        errors=[{"field": "tenant", "rule": exc.cap, "message": str(exc)}],
        headers={"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))},
    )
