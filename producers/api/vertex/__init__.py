"""Google's REST surface for batch prediction jobs inside ``vbq api``: Google's SDKs pointed at
``vbq api`` get vbq's queue by changing one setting (docs/contracts.md § Google surface).

``install(app, client=...)`` mounts it on the API app; :func:`body_too_large` is the 413
answer in Google's envelope for the size-limit middleware.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.responses import Response
from starlette.types import Scope

from vbq.producers.api.vertex.errors import GoogleApiError, error_response
from vbq.producers.api.vertex.names import API_VERSIONS, job_id, submission_id_of
from vbq.producers.api.vertex.routes import IDEMPOTENCY_HEADER, vertex_routers
from vbq.producers.client import Client

__all__ = [
    "API_VERSIONS",
    "IDEMPOTENCY_HEADER",
    "GoogleApiError",
    "body_too_large",
    "install",
    "is_google_path",
    "job_id",
    "submission_id_of",
]

_PREFIXES = tuple(f"/{v}/projects/" for v in API_VERSIONS)


def install(app: FastAPI, *, client: Client, max_json_depth: int) -> None:
    """Add the surface's routes (both API versions) to ``app``, after its own routes."""
    for router in vertex_routers(client, max_json_depth=max_json_depth):
        app.include_router(router)


def is_google_path(path: str) -> bool:
    """True for a path of the Google surface (``/v1/projects/…``, ``/v1beta1/projects/…``)."""
    return path.startswith(_PREFIXES)


def body_too_large(scope: Scope, size: int, max_bytes: int) -> Response | None:
    """The size-limit refusal in Google's envelope for the surface's paths, else None."""
    if not is_google_path(str(scope.get("path", ""))):
        return None
    return error_response(
        "INVALID_ARGUMENT",
        f"Request payload size exceeds the limit: {max_bytes} bytes (got at least {size}).",
        headers={"Connection": "close"},
    )
