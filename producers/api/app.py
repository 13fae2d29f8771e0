"""The FastAPI application of ``vbq api``.

Routes (all under an API key except ``/healthz`` and ``/openapi.json``):

====================================  ===========================================================
``POST /v1/submissions``              one job request → 201 (200 for an idempotent replay)
``POST /v1/submissions:batch``        many → 200 with per-item results (422 if atomic and any bad)
``GET /v1/submissions/{id}``          one submission of the caller's tenant (else 404; admin: any)
``GET /v1/submissions``               ``state``, ``label=k=v``, ``page_size``, ``page_token``
``POST /v1/submissions/{id}:cancel``  ask for cancellation → 202
``/{v1,v1beta1}/projects/…``          Google's batchPredictionJobs surface (:mod:`.vertex`)
``/v1/requests`` …                    single Gemini requests (:mod:`.request_routes`)
====================================  ===========================================================

Every error is RFC 9457 problem details. Bad input never causes a 5xx: the body is capped
before parsing (413), JSON depth is capped (400), spec rules answer 422 naming the field; only
an unreachable Redis or broker answers 503.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from vbq.errors import (
    SpecError,
)
from vbq.logs import get_logger
from vbq.producers.api import vertex
from vbq.producers.api.auth import KeyLookup
from vbq.producers.api.error_handlers import install_error_handlers
from vbq.producers.api.limits import DEFAULT_MAX_JSON_DEPTH, BodySizeLimit, parse_json_body
from vbq.producers.api.problems import ProblemError
from vbq.producers.api.request_routes import install_request_routes
from vbq.producers.api.schemas import (
    BatchRequest,
    BatchResponse,
    ProblemDetails,
    SubmissionList,
    SubmissionRequest,
    SubmissionView,
)
from vbq.producers.client import Client
from vbq.producers.console import mount_console
from vbq.producers.tenancy import ADMIN_TENANT
from vbq.states import SubmissionState
from vbq.version import __version__

__all__ = ["MAX_BATCH_ITEMS", "create_app"]

MAX_BATCH_ITEMS = 10_000
"""Most items in one ``:batch`` call (the body size limit usually binds first)."""

_T = TypeVar("_T")
log = get_logger(__name__)

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer vbq_...")
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="vbq_...")

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ProblemDetails, "content": {"application/problem+json": {}}}
    for status in (400, 401, 403, 404, 409, 413, 422, 503)
}


def _key_tenant(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key_header)],
) -> str:
    """The tenant of the presented API key (Bearer first, then ``X-API-Key``), or
    ``ADMIN_TENANT`` for an admin key.

    Raises:
        ProblemError: 401 when no key or an unknown key was presented.
    """
    keyring: KeyLookup = request.app.state.keyring
    key = bearer.credentials if bearer is not None else api_key
    tenant = keyring.tenant_for(key)
    if tenant is None:
        raise ProblemError(
            401,
            "unauthenticated",
            "a valid API key is required (Authorization: Bearer or X-API-Key)",
            headers={"WWW-Authenticate": 'Bearer realm="vbq"'},
        )
    return tenant


def _authenticate(tenant: Annotated[str, Depends(_key_tenant)]) -> str:
    """The tenant a request acts for.

    Raises:
        ProblemError: 403 for an admin key (it belongs to no tenant, so it cannot submit).
    """
    if tenant == ADMIN_TENANT:
        raise ProblemError(
            403, "forbidden", "an admin key reads every tenant but cannot submit: use a tenant key"
        )
    return tenant


def _scope(tenant: Annotated[str, Depends(_key_tenant)]) -> str | None:
    """The tenant whose submissions a read may see; None (every tenant) for an admin key."""
    return None if tenant == ADMIN_TENANT else tenant


# Module level: FastAPI resolves string annotations in the module's namespace.
TenantDep = Annotated[str, Depends(_authenticate)]
ScopeDep = Annotated[str | None, Depends(_scope)]


def _json_request_body(model: type[Any]) -> dict[str, Any]:
    """An OpenAPI ``requestBody`` with ``model``'s schema, nested models inlined (the body is
    parsed by hand, so FastAPI does not register these models in ``components``)."""
    schema = _inline_refs(model.model_json_schema())
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(defs[ref.removeprefix("#/$defs/")])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    result: dict[str, Any] = walk(schema)
    return result


def create_app(
    *,
    client: Client,
    keyring: KeyLookup,
    max_body_bytes: int,
    max_json_depth: int = DEFAULT_MAX_JSON_DEPTH,
) -> FastAPI:
    """Build the API app.

    Args:
        client: submits and reads submissions (its store and broker).
        keyring: hashed API keys → tenants (:class:`ApiKeyRing` or
            :class:`ReloadingKeyRing`).
        max_body_bytes: largest request body (413 above it), ``settings.api_max_body_bytes``.
        max_json_depth: deepest JSON nesting accepted (400 above it).
    """
    app = FastAPI(
        title="vertex-batch-queue",
        version=__version__,
        description="Queue Vertex AI batch prediction jobs; track their state.",
    )
    app.state.keyring = keyring

    async def call(fn: Callable[[], _T]) -> _T:
        # The store and the broker clients are synchronous: keep them off the event loop.
        return await run_in_threadpool(fn)

    async def body_of(request: Request) -> Any:
        return parse_json_body(await request.body(), max_depth=max_json_depth)

    @app.get("/healthz", include_in_schema=True, tags=["ops"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process serves requests."""
        return {"status": "ok"}

    @app.post(
        "/v1/submissions",
        status_code=201,
        response_model=SubmissionView,
        responses={200: {"model": SubmissionView, "description": "idempotent replay"}, **_ERRORS},
        openapi_extra=_json_request_body(SubmissionRequest),
        tags=["submissions"],
    )
    async def create_submission(request: Request, tenant: TenantDep) -> Response:
        """Queue one batch prediction job (SDK keyword arguments as JSON)."""
        body = await body_of(request)
        if not isinstance(body, dict):
            raise ProblemError(400, "invalid-request", "the body must be a JSON object")
        kwargs = dict(body)
        if "tenant" in kwargs:
            raise SpecError.single("tenant", "forbidden", "the tenant comes from the API key")
        key = kwargs.pop("idempotency_key", None)
        metadata = kwargs.pop("metadata", None)
        priority = kwargs.pop("priority", None) or "default"
        locations = kwargs.pop("locations", None)
        submission = await call(
            lambda: client.submit(
                idempotency_key=key,
                tenant=tenant,
                metadata=metadata,
                priority=priority,
                locations=locations,
                **kwargs,
            )
        )
        return JSONResponse(
            submission.to_dict(),
            status_code=201 if submission.created else 200,
            headers={"Location": f"/v1/submissions/{submission.submission_id}"},
        )

    @app.post(
        "/v1/submissions:batch",
        response_model=BatchResponse,
        responses=_ERRORS,
        openapi_extra=_json_request_body(BatchRequest),
        tags=["submissions"],
    )
    async def create_submissions(request: Request, tenant: TenantDep) -> Response:
        """Queue many jobs; each item is validated, stored and enqueued independently unless
        ``atomic`` is true."""
        body = await body_of(request)
        if not isinstance(body, dict) or not isinstance(body.get("items"), list):
            raise ProblemError(400, "invalid-request", 'the body must be {"items": [...]}')
        items = body["items"]
        atomic = body.get("atomic", False)
        if not isinstance(atomic, bool):
            raise SpecError.single("atomic", "type", "atomic must be true or false")
        if len(items) > MAX_BATCH_ITEMS:
            raise SpecError.single("items", "max_items", f"at most {MAX_BATCH_ITEMS} items")
        result = await call(
            lambda: client.submit_many(items, atomic=atomic, tenant=tenant, allow_item_tenant=False)
        )
        if atomic and result.errors:
            raise SpecError(
                [
                    {**e, "field": f"items[{err.index}].{e['field']}"}
                    for err in result.errors
                    for e in err.errors
                ]
            )
        return JSONResponse(result.to_dict())

    @app.get(
        "/v1/submissions/{submission_id}",
        response_model=SubmissionView,
        responses=_ERRORS,
        tags=["submissions"],
    )
    async def get_submission(submission_id: str, tenant: ScopeDep) -> Response:
        """One submission of the caller's tenant."""
        submission = await call(lambda: client.get(submission_id, tenant=tenant))
        return JSONResponse(submission.to_dict())

    @app.get(
        "/v1/submissions",
        response_model=SubmissionList,
        responses=_ERRORS,
        tags=["submissions"],
    )
    async def list_submissions(
        tenant: ScopeDep,
        state: Annotated[str | None, Query(description="a submission state")] = None,
        label: Annotated[str | None, Query(description="key=value")] = None,
        page_size: Annotated[int, Query(ge=1, le=1000)] = 50,
        page_token: Annotated[str | None, Query(max_length=512)] = None,
    ) -> Response:
        """The caller's submissions, newest first, paginated."""
        state_filter = _parse_state(state)
        label_filter = _parse_label(label)
        page, token = await call(
            lambda: client.list(
                tenant=tenant,
                state=state_filter,
                label=label_filter,
                page_size=page_size,
                page_token=page_token or None,
            )
        )
        return JSONResponse({"submissions": [s.to_dict() for s in page], "next_page_token": token})

    @app.post(
        "/v1/submissions/{submission_id}:cancel",
        status_code=202,
        response_model=SubmissionView,
        responses=_ERRORS,
        tags=["submissions"],
    )
    async def cancel_submission(submission_id: str, tenant: ScopeDep) -> Response:
        """Ask for cancellation; watch ``state`` for the outcome."""
        submission = await call(lambda: client.cancel(submission_id, tenant=tenant))
        return JSONResponse(submission.to_dict(), status_code=202)

    # Google's batchPredictionJobs surface (/v1/projects/..., /v1beta1/projects/...).
    vertex.install(app, client=client, max_json_depth=max_json_depth)
    mount_console(app, client=client, keyring=keyring)  # /console: the web console
    install_request_routes(
        app,
        client=client,
        authenticate=_authenticate,
        scope=_scope,
        call=call,
        body_of=body_of,
        errors=_ERRORS,
        openapi_body=_json_request_body,
    )
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes, refusal=vertex.body_too_large)
    return app


def _parse_state(raw: str | None) -> SubmissionState | None:
    if raw is None or raw == "":
        return None
    try:
        return SubmissionState(raw.upper())
    except ValueError:
        raise SpecError.single(
            "state", "enum", f"state must be one of {', '.join(s.value for s in SubmissionState)}"
        ) from None


def _parse_label(raw: str | None) -> tuple[str, str] | None:
    if raw is None or raw == "":
        return None
    key, sep, value = raw.partition("=")
    if not sep or not key:
        raise SpecError.single("label", "format", "label must be key=value")
    return key, value
