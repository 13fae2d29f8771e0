"""The console's routes under ``/console`` (server-rendered pages, htmx fragments).

==================================================  ===========================================
``GET  /console``                                   overview (live part polled every 2 s)
``GET  /console/overview/live``                     the live part of the overview (fragment)
``GET  /console/submissions``                       list with filters and search
``GET  /console/submissions/{id}``                  one submission
``GET  /console/submissions/{id}/live``             its state and timeline (fragment)
``GET  /console/submissions/{id}/outputs``          its first output rows and token usage
``POST /console/submissions/{id}/cancel``           cancel (CSRF token), as the JSON API does
``GET|POST /console/login``, ``POST /console/logout``  the session (the API key in a cookie)
==================================================  ===========================================

Every page answers for its viewer only: another tenant's submission is a 404, as in the JSON
API. Redis or the broker being unreachable answers 503 with a page that says so.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import parse_qs, quote

import redis as redis_lib
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from vbq.errors import NotFoundError, StateConflictError
from vbq.logs import get_logger
from vbq.producers.api.auth import KeyLookup
from vbq.producers.client import Client
from vbq.producers.console.detail import build_detail
from vbq.producers.console.listing import display_name, parse_filters, run_list
from vbq.producers.console.outputs import preview_outputs
from vbq.producers.console.overview import build_overview
from vbq.producers.console.quota import QuotaSource
from vbq.producers.console.render import render
from vbq.producers.console.session import (
    Viewer,
    clear_session,
    same_origin,
    set_session,
    viewer_of,
)
from vbq.store import JobStore, SubmissionRecord

__all__ = ["console_router"]

_T = TypeVar("_T")
_log = get_logger(__name__)
_MAX_FORM_BYTES = 4096
_Handler = Callable[[Request, Viewer], Awaitable[Response]]


def console_router(
    *, client: Client, store: JobStore, keyring: KeyLookup, quota: QuotaSource
) -> APIRouter:
    """The console's routes (see the module doc).

    Args:
        client: cancels as the JSON API does.
        store: reads records, indexes and counters.
        keyring: the API keys (a session is a key).
        quota: where the quota figures come from.
    """
    router = APIRouter(prefix="/console", include_in_schema=False)

    async def call(fn: Callable[[], _T]) -> _T:
        return await run_in_threadpool(fn)

    def page(
        name: str,
        request: Request,
        viewer: Viewer | None,
        *,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
        **context: Any,
    ) -> Response:
        context = {"viewer": viewer, "path": request.url.path, **context}
        return render(name, context, status_code=status_code, headers=headers)

    def guarded(handler: _Handler) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            viewer = viewer_of(request, keyring)
            if viewer is None:
                return _to_login(request)
            try:
                return await handler(request, viewer)
            except NotFoundError:
                message = "No such submission (or not one this key may see)."
                return page("error.html", request, viewer, status_code=404, title="Not found",
                            message=message)  # fmt: skip
            except (redis_lib.RedisError, OSError) as exc:
                _log.warning("console.backend_unavailable", error=repr(exc))
                message = "The job store cannot be reached right now; retry shortly."
                return page("error.html", request, viewer, status_code=503, title="Unavailable",
                            message=message, headers={"Retry-After": "2"})  # fmt: skip

        return run

    def get_record(submission_id: str, viewer: Viewer) -> SubmissionRecord:
        # The client refuses malformed ids as not found, before building a Redis key.
        return client.get(submission_id, tenant=viewer.scope).record

    # -- session ------------------------------------------------------------------------------

    @router.get("/login")
    async def login_form(request: Request) -> Response:
        target = _safe_next(request.query_params.get("next"))
        return page("login.html", request, None, next=target, error="")

    @router.post("/login")
    async def login(request: Request) -> Response:
        form = await _form(request)
        target = _safe_next(form.get("next"))
        key = form.get("api_key", "").strip()
        if not same_origin(request):
            return Response("cross-origin login refused", status_code=403)
        if keyring.tenant_for(key) is None:
            error = "That key is not valid (check for a missing character)."
            return page("login.html", request, None, status_code=401, next=target, error=error)
        response = RedirectResponse(target, status_code=303)
        set_session(response, request, key)
        return response

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        response = RedirectResponse("/console/login", status_code=303)
        clear_session(response, request)
        return response

    # -- overview -----------------------------------------------------------------------------

    async def overview(request: Request, viewer: Viewer) -> Response:
        data = await call(lambda: build_overview(store.redis, viewer=viewer, quota=quota))
        return page("overview.html", request, viewer, o=data)

    async def overview_live(request: Request, viewer: Viewer) -> Response:
        data = await call(lambda: build_overview(store.redis, viewer=viewer, quota=quota))
        return page("_live.html", request, viewer, o=data)

    router.add_api_route("", guarded(overview), methods=["GET"])
    router.add_api_route("/overview/live", guarded(overview_live), methods=["GET"])

    @router.get("/")
    async def slash() -> Response:
        return RedirectResponse("/console", status_code=307)

    # -- submissions --------------------------------------------------------------------------

    async def submissions(request: Request, viewer: Viewer) -> Response:
        params = request.query_params
        filters, errors = parse_filters(params, viewer)
        number = _int(params.get("n"), 1)
        result = await call(
            lambda: run_list(
                store, viewer, filters, errors, page_token=params.get("page"), page_number=number
            )
        )
        fragment = request.headers.get("hx-target") == "results"
        return page(
            "_results.html" if fragment else "submissions.html",
            request,
            viewer,
            r=result,
            display_name=display_name,
        )

    async def submission(request: Request, viewer: Viewer) -> Response:
        sid = request.path_params["submission_id"]
        record = await call(lambda: get_record(sid, viewer))
        detail = await call(lambda: build_detail(store.redis, record))
        notice = {"cancel": "Cancellation requested."}.get(request.query_params.get("done", ""))
        return page("submission.html", request, viewer, d=detail, notice=notice, live=False)

    async def submission_live(request: Request, viewer: Viewer) -> Response:
        sid = request.path_params["submission_id"]
        record = await call(lambda: get_record(sid, viewer))
        detail = await call(lambda: build_detail(store.redis, record))
        return page("_status.html", request, viewer, d=detail, live=True)

    async def outputs(request: Request, viewer: Viewer) -> Response:
        sid = request.path_params["submission_id"]
        record = await call(lambda: get_record(sid, viewer))
        preview = await call(lambda: preview_outputs(record.job))
        return page("_outputs.html", request, viewer, p=preview, record=record)

    async def cancel(request: Request, viewer: Viewer) -> Response:
        sid = request.path_params["submission_id"]
        form = await _form(request)
        if not same_origin(request) or not viewer.check_csrf(form.get("csrf")):
            return Response("missing or wrong CSRF token", status_code=403)
        message, status = "Cancellation requested: the workers will stop the job.", 202
        try:
            await call(lambda: client.cancel(sid, tenant=viewer.scope))
        except StateConflictError as exc:
            actual = getattr(exc.actual, "value", exc.actual)
            message, status = f"Not cancelled: it already finished ({actual}).", 409
        if request.headers.get("hx-request") != "true":
            return RedirectResponse(f"/console/submissions/{quote(sid)}?done=cancel", 303)
        return page("_cancel.html", request, viewer, message=message, status_code=status)

    router.add_api_route("/submissions", guarded(submissions), methods=["GET"])
    for suffix, handler, method in (
        ("", submission, "GET"),
        ("/live", submission_live, "GET"),
        ("/outputs", outputs, "GET"),
        ("/cancel", cancel, "POST"),
    ):
        router.add_api_route(
            f"/submissions/{{submission_id}}{suffix}", guarded(handler), methods=[method]
        )
    return router


def _to_login(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    location = f"/console/login?next={quote(target, safe='')}"
    if request.headers.get("hx-request") == "true":
        # htmx follows HX-Redirect with a full page load.
        return Response(status_code=401, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)


def _safe_next(value: str | None) -> str:
    """A local console path to go to after login (anything else: the overview)."""
    if value and value.startswith("/console") and "//" not in value and "\\" not in value:
        return value
    return "/console"


async def _form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (small; first value of each field)."""
    body = await request.body()
    if len(body) > _MAX_FORM_BYTES:
        return {}
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in parsed.items()}


def _int(value: str | None, default: int) -> int:
    try:
        return max(1, int(value or default))
    except ValueError:
        return default
