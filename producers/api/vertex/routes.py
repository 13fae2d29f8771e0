"""Google's REST surface for batch prediction jobs, at Google's own paths (``v1``, ``v1beta1``).

=========================================================================  =====================
``POST   /{v}/projects/{p}/locations/{l}/batchPredictionJobs``             create → the job
``GET    /{v}/projects/{p}/locations/{l}/batchPredictionJobs``             list (``filter``,
                                                                           ``pageSize``,
                                                                           ``pageToken``,
                                                                           ``readMask``)
``GET    /{v}/projects/{p}/locations/{l}/batchPredictionJobs/{id}``        get
``POST   /{v}/projects/{p}/locations/{l}/batchPredictionJobs/{id}:cancel`` cancel → ``{}``
``DELETE /{v}/projects/{p}/locations/{l}/batchPredictionJobs/{id}``        delete → Operation
``GET    /{v}/projects/{p}/locations/{l}/operations/{id}``                 a delete's Operation
=========================================================================  =====================

``$alt=json;enum-encoding=int`` (what Google's REST transports send) answers enums as numbers.
The bearer token is a vbq API key; its tenant owns what it creates and is all it sees. A create
becomes a vbq submission (validated as ``submit()``, queued, rate-limited and reconciled like
any other); reads answer from the job store only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from vbq.errors import NotFoundError, SpecError, StateConflictError, SubmissionExpiredError
from vbq.producers.api.limits import parse_json_body
from vbq.producers.api.vertex.errors import GoogleApiError
from vbq.producers.api.vertex.listing import list_jobs, page_size_of
from vbq.producers.api.vertex.names import API_VERSIONS, job_name, operation_name, submission_id_of
from vbq.producers.api.vertex.render import job_state, parse_read_mask, render_job
from vbq.producers.api.vertex.route import GoogleRoute, TenantDep
from vbq.producers.api.vertex.schemas import (
    BatchPredictionJobBody,
    BatchPredictionJobResource,
    GoogleErrorBody,
    ListBatchPredictionJobsResponse,
    Operation,
)
from vbq.producers.client import Client
from vbq.spec.protos import ApiVersion
from vbq.spec.rest import spec_from_rest
from vbq.spec.rest_fields import rest_field
from vbq.store import SubmissionRecord

__all__ = ["IDEMPOTENCY_HEADER", "vertex_routers"]

IDEMPOTENCY_HEADER = "X-Idempotency-Key"
"""Optional create header: the same key (per tenant) always answers the same job."""

_T = TypeVar("_T")
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": GoogleErrorBody} for code in (400, 401, 404, 409, 429, 503)
}
_AltQuery = Annotated[
    str | None, Query(alias="$alt", description="json;enum-encoding=int for numeric enums")
]
_JOB = "/projects/{project}/locations/{location}/batchPredictionJobs"


def vertex_routers(client: Client, *, max_json_depth: int) -> list[APIRouter]:
    """One router per API version (``/v1``, ``/v1beta1``) serving the surface."""
    return [_router(client, version, max_json_depth) for version in API_VERSIONS]


def _int_enums(alt: str | None, request: Request) -> bool:
    values = [alt or "", request.query_params.get("alt", "")]
    return any("enum-encoding=int" in v.replace(" ", "") for v in values)


def _router(client: Client, version: str, max_json_depth: int) -> APIRouter:
    api: ApiVersion = "v1beta1" if version == "v1beta1" else "v1"
    router = APIRouter(prefix=f"/{version}", route_class=GoogleRoute, tags=[f"vertex-{version}"])
    settings = client.settings

    async def call(fn: Callable[[], _T]) -> _T:
        return await run_in_threadpool(fn)

    def job_json(
        record: SubmissionRecord, int_enums: bool, mask: Any = None, body: Any = None
    ) -> dict[str, Any]:
        return render_job(record, api_version=api, int_enums=int_enums, mask=mask, body=body)

    def fetch(tenant: str, project: str, location: str, job: str) -> SubmissionRecord:
        name = f"projects/{project}/locations/{location}/batchPredictionJobs/{job}"
        sid = submission_id_of(job)
        try:
            if sid is None:
                raise NotFoundError(name)
            record = client.get(sid, tenant=tenant).record
        except SubmissionExpiredError as exc:
            # Finished and left the store after the retention window: say so, not "unknown".
            raise GoogleApiError("NOT_FOUND", f'BatchPredictionJob "{name}": {exc}.') from None
        except NotFoundError:
            raise GoogleApiError("NOT_FOUND", f'BatchPredictionJob "{name}" not found.') from None
        if (record.project, record.location) != (project, location):
            raise GoogleApiError("NOT_FOUND", f'BatchPredictionJob "{name}" not found.')
        return record

    @router.post(
        _JOB,
        operation_id=f"create_batch_prediction_job_{version}",
        responses={200: {"model": BatchPredictionJobResource}, **_ERRORS},
        openapi_extra=_request_body(BatchPredictionJobBody),
    )
    async def create(
        request: Request, *, tenant: TenantDep, project: str, location: str, alt: _AltQuery = None
    ) -> Response:
        """Create a job: it becomes a vbq submission and is answered JOB_STATE_QUEUED."""
        body = parse_json_body(await request.body(), max_depth=max_json_depth)
        key = request.headers.get(IDEMPOTENCY_HEADER)
        int_enums = _int_enums(alt, request)

        def submit() -> tuple[str, dict[str, Any]]:
            spec, resolved = spec_from_rest(
                body,
                api_version=api,
                project=project,
                location=location,
                default_project=settings.project,
                default_location=settings.location,
            )
            try:
                sub = client.submit(idempotency_key=key, tenant=tenant, **spec.to_dict())
            except SpecError as exc:
                raise SpecError([{**e, "field": _field(e["field"])} for e in exc.errors]) from None
            # An idempotent replay answers the stored job (its body is rebuilt from its spec).
            known = resolved.body if sub.created else None
            return sub.record.id, job_json(sub.record, int_enums, body=known)

        submission_id, answer = await call(submit)
        return JSONResponse(answer, headers={"X-Vbq-Submission-Id": submission_id})

    @router.get(
        _JOB,
        operation_id=f"list_batch_prediction_jobs_{version}",
        responses={200: {"model": ListBatchPredictionJobsResponse}, **_ERRORS},
    )
    async def list_(
        request: Request,
        *,
        tenant: TenantDep,
        project: str,
        location: str,
        alt: _AltQuery = None,
        filter_: Annotated[str, Query(alias="filter", max_length=4096)] = "",
        page_size: Annotated[int | None, Query(alias="pageSize")] = None,
        page_token: Annotated[str, Query(alias="pageToken", max_length=1024)] = "",
        read_mask: Annotated[str | None, Query(alias="readMask", max_length=4096)] = None,
    ) -> Response:
        """List the caller's jobs under the parent (from vbq's store, never from Vertex)."""
        size = page_size_of(page_size)
        mask = parse_read_mask(read_mask, api)
        int_enums = _int_enums(alt, request)

        def page() -> dict[str, Any]:
            records, token = list_jobs(
                client.store,
                tenant=tenant,
                project=project,
                location=location,
                filter_text=filter_,
                page_size=size,
                page_token=page_token,
            )
            out: dict[str, Any] = {}
            if records:
                out["batchPredictionJobs"] = [job_json(r, int_enums, mask) for r in records]
            if token:
                out["nextPageToken"] = token
            return out

        return JSONResponse(await call(page))

    @router.get(
        _JOB + "/{job}",
        operation_id=f"get_batch_prediction_job_{version}",
        responses={200: {"model": BatchPredictionJobResource}, **_ERRORS},
    )
    async def get(
        request: Request,
        *,
        tenant: TenantDep,
        project: str,
        location: str,
        job: str,
        alt: _AltQuery = None,
    ) -> Response:
        """One job, from vbq's store (kept fresh by the bulk poller)."""
        int_enums = _int_enums(alt, request)
        return JSONResponse(
            await call(lambda: job_json(fetch(tenant, project, location, job), int_enums))
        )

    @router.post(
        _JOB + "/{job}:cancel",
        operation_id=f"cancel_batch_prediction_job_{version}",
        responses={200: {"model": dict[str, Any]}, **_ERRORS},
    )
    async def cancel(
        *, tenant: TenantDep, project: str, location: str, job: str, alt: _AltQuery = None
    ) -> Response:
        """Ask for cancellation (through vbq's cancel path); a finished job refuses."""

        def run() -> None:
            record = fetch(tenant, project, location, job)
            if record.state.finished:
                raise _not_now(record, "cancelled")
            try:
                client.cancel(record.id, tenant=tenant)
            except StateConflictError:
                raise _not_now(client.get(record.id, tenant=tenant).record, "cancelled") from None

        await call(run)
        return JSONResponse({})

    @router.delete(
        _JOB + "/{job}",
        operation_id=f"delete_batch_prediction_job_{version}",
        responses={200: {"model": Operation}, **_ERRORS},
    )
    async def delete(
        *, tenant: TenantDep, project: str, location: str, job: str, alt: _AltQuery = None
    ) -> Response:
        """Delete a finished job (its record now, its Vertex job by the workers)."""

        def run() -> SubmissionRecord:
            record = fetch(tenant, project, location, job)
            try:
                return client.delete(record.id, tenant=tenant)
            except StateConflictError:
                raise _not_now(client.get(record.id, tenant=tenant).record, "deleted") from None

        record = await call(run)
        return JSONResponse(_operation(api, record.project, record.location, record.id))

    @router.get(
        "/projects/{project}/locations/{location}/operations/{operation}",
        operation_id=f"get_operation_{version}",
        responses={200: {"model": Operation}, **_ERRORS},
    )
    async def get_operation(
        *, tenant: TenantDep, project: str, location: str, operation: str, alt: _AltQuery = None
    ) -> Response:
        """The Operation of a delete (done at once: the job left vbq's store)."""
        sid = submission_id_of(operation)
        owner = await call(lambda: client.store.remover.deleted_by(sid)) if sid else None
        if sid is None or owner != tenant:
            name = f"projects/{project}/locations/{location}/operations/{operation}"
            raise GoogleApiError("NOT_FOUND", f'Operation "{name}" not found.')
        return JSONResponse(_operation(api, project, location, sid))

    @router.api_route(
        "/projects/{rest:path}",
        methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        include_in_schema=False,
    )
    async def unknown(request: Request, rest: str) -> Response:
        raise GoogleApiError(
            "NOT_FOUND", f"The requested URL {request.url.path} was not found on this server."
        )

    return router


def _field(field: str) -> str:
    return IDEMPOTENCY_HEADER if field == "idempotency_key" else rest_field(field)


def _not_now(record: SubmissionRecord, verb: str) -> GoogleApiError:
    name = job_name(record.project, record.location, record.id)
    state = job_state(record.state, record.job).name
    hint = "" if verb == "cancelled" else " Cancel it first or wait until it finishes."
    return GoogleApiError(
        "FAILED_PRECONDITION",
        f'The BatchPredictionJob "{name}" is in state {state} and cannot be {verb}.{hint}',
    )


def _operation(api: ApiVersion, project: str, location: str, submission_id: str) -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "name": operation_name(project, location, submission_id),
        "metadata": {
            "@type": f"type.googleapis.com/google.cloud.aiplatform.{api}.DeleteOperationMetadata",
            "genericMetadata": {"createTime": now, "updateTime": now},
        },
        "done": True,
        "response": {"@type": "type.googleapis.com/google.protobuf.Empty"},
    }


def _request_body(model: type[Any]) -> dict[str, Any]:
    schema = model.model_json_schema()
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

    return {
        "requestBody": {"required": True, "content": {"application/json": {"schema": walk(schema)}}}
    }
