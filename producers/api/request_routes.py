"""The request routes of ``vbq api`` (single Gemini requests, packed into batch jobs).

====================================  ===========================================================
``POST /v1/requests``                 one request → 201 (200 for an idempotent replay)
``POST /v1/requests:batch``           ``{"items": [...], "atomic": false}`` → 200 per item
                                      (422 when atomic and any item is refused)
``GET /v1/requests/{id}``             one request of the caller's tenant, with its
                                      ``response`` once SUCCEEDED (one ranged read)
====================================  ===========================================================
"""

# No ``from __future__ import annotations``: the dependency alias below is a local variable,
# which FastAPI can only see when annotations are evaluated at definition time.

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from vbq.errors import SpecError
from vbq.producers.api.problems import ProblemError
from vbq.producers.api.request_schemas import (
    RequestBatchBody,
    RequestBatchView,
    RequestItem,
    RequestView,
)
from vbq.producers.client import Client
from vbq.producers.requests.client import spec_error_of

__all__ = ["MAX_REQUEST_ITEMS", "install_request_routes"]

MAX_REQUEST_ITEMS = 10_000
"""Most items in one ``:batch`` call (the body size limit usually binds first)."""


def install_request_routes(
    app: FastAPI,
    *,
    client: Client,
    authenticate: Callable[..., str],
    scope: Callable[..., str | None],
    call: Callable[[Callable[[], Any]], Awaitable[Any]],
    body_of: Callable[[Request], Awaitable[Any]],
    errors: dict[int | str, dict[str, Any]],
    openapi_body: Callable[[type[Any]], dict[str, Any]],
) -> None:
    """Add the ``/v1/requests`` routes to ``app`` (same auth, limits and errors as the rest)."""
    tenant_dep = Annotated[str, Depends(authenticate)]
    scope_dep = Annotated[str | None, Depends(scope)]  # None: an admin key reads any tenant's

    def enabled() -> None:
        # A server set up without a pack prefix offers no request routes (a 404, not a 5xx:
        # nothing a caller sends can change that).
        if not client.settings.pack_prefix:
            raise ProblemError(
                404, "requests-disabled", "this server has no VBQ_PACK_PREFIX: requests are off"
            )

    @app.post(
        "/v1/requests",
        status_code=201,
        response_model=RequestView,
        responses={200: {"model": RequestView, "description": "idempotent replay"}, **errors},
        openapi_extra=openapi_body(RequestItem),
        tags=["requests"],
    )
    async def add_request(request: Request, tenant: tenant_dep) -> Response:
        """Queue one Gemini request; it is packed with others into a batch job."""
        enabled()
        body = await body_of(request)
        if not isinstance(body, dict):
            raise ProblemError(400, "invalid-request", "the body must be a JSON object")
        unknown = sorted(set(body) - {"model", "request", "idempotency_key", "metadata"})
        if unknown:
            raise SpecError.single(
                unknown[0], "unknown", "unknown field (the tenant comes from the API key)"
            )
        handle = await call(
            lambda: client.add_request(
                model=body.get("model"),  # type: ignore[arg-type]
                request=body.get("request"),  # type: ignore[arg-type]
                tenant=tenant,
                idempotency_key=body.get("idempotency_key"),
                metadata=body.get("metadata"),
            )
        )
        return JSONResponse(
            handle.to_dict(),
            status_code=201 if handle.created else 200,
            headers={"Location": f"/v1/requests/{handle.request_id}"},
        )

    @app.post(
        "/v1/requests:batch",
        response_model=RequestBatchView,
        responses=errors,
        openapi_extra=openapi_body(RequestBatchBody),
        tags=["requests"],
    )
    async def add_requests(request: Request, tenant: tenant_dep) -> Response:
        """Queue many requests; each item is checked and stored on its own unless atomic."""
        enabled()
        body = await body_of(request)
        if not isinstance(body, dict) or not isinstance(body.get("items"), list):
            raise ProblemError(400, "invalid-request", 'the body must be {"items": [...]}')
        atomic = body.get("atomic", False)
        if not isinstance(atomic, bool):
            raise SpecError.single("atomic", "type", "atomic must be true or false")
        if len(body["items"]) > MAX_REQUEST_ITEMS:
            raise SpecError.single("items", "max_items", f"at most {MAX_REQUEST_ITEMS} items")
        batch = await call(
            lambda: client.add_requests(
                body["items"], tenant=tenant, atomic=atomic, allow_item_tenant=False
            )
        )
        if atomic and batch.errors:
            raise spec_error_of(batch.errors)
        return JSONResponse(batch.to_dict())

    @app.get(
        "/v1/requests/{request_id}",
        response_model=RequestView,
        responses=errors,
        tags=["requests"],
    )
    async def get_request(request_id: str, tenant: scope_dep) -> Response:
        """One request of the caller's tenant (its response once SUCCEEDED)."""
        handle = await call(lambda: client.get_request(request_id, tenant=tenant))
        return JSONResponse(await call(lambda: handle.to_dict(with_response=True)))
