"""The Vertex AI emulator's HTTP server: the v1/v1beta1 batchPredictionJobs API plus admin.

Routing, the API methods and the admin API live here; the socket side (ThreadingHTTPServer,
keep-alive, the connection drop) is :mod:`vbq_emulators.vertex.transport`.

API (``{v}`` is ``v1`` or ``v1beta1``; Google's SDK sends ``$alt=json;enum-encoding=int`` and
then gets integer enums; other callers get ``JOB_STATE_*`` names):

- ``POST /{v}/projects/{p}/locations/{l}/batchPredictionJobs`` create
- ``GET  /{v}/projects/{p}/locations/{l}/batchPredictionJobs`` list: ``filter``, ``pageSize``
  (default 100, at most 1000: larger values are clamped), ``pageToken``, ``readMask``
- ``GET  /{v}/{job name}``, ``POST /{v}/{job name}:cancel``, ``DELETE /{v}/{job name}``
- ``GET  /{v}/projects/{p}/locations/{l}/operations/{id}`` (also under ``/ui/``, where the
  SDK's REST operations client polls)

Admin (docs/contracts.md § Vertex emulator admin API): ``GET /_emulator/stats``,
``GET /_emulator/requests?since=T``, ``GET /_emulator/jobs``, ``GET|POST /_emulator/config``,
``GET|POST /_emulator/throttle`` (per-location create throttles, :mod:`.throttle`),
``POST /_emulator/reset`` (back to the startup config, no jobs, no counters, no throttles).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any

from vbq_emulators.errors import ApiError, EmulatorConfigError
from vbq_emulators.vertex.config import EmulatorConfig
from vbq_emulators.vertex.faults import FaultGate, RequestLog
from vbq_emulators.vertex.filters import parse_filter
from vbq_emulators.vertex.jobs import JobStore
from vbq_emulators.vertex.throttle import Throttles
from vbq_emulators.vertex.transport import EmulatorHTTPServer, Request
from vbq_emulators.vertex.validation import validate_create_body
from vbq_emulators.vertex.wire import (
    api_error,
    decode_enums,
    encode_job,
    error_body,
)

__all__ = ["DEFAULT_PAGE_SIZE", "MAX_PAGE_SIZE", "VertexEmulator"]

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000

_PARENT = r"projects/[^/]+/locations/[^/]+"
_V = r"/(?P<v>v1|v1beta1)"
_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("POST", re.compile(rf"^{_V}/(?P<parent>{_PARENT})/batchPredictionJobs$"), "create"),
    ("GET", re.compile(rf"^{_V}/(?P<parent>{_PARENT})/batchPredictionJobs$"), "list"),
    ("GET", re.compile(rf"^{_V}/(?P<name>{_PARENT}/batchPredictionJobs/[^/:]+)$"), "get"),
    (
        "POST",
        re.compile(rf"^{_V}/(?P<name>{_PARENT}/batchPredictionJobs/[^/:]+):cancel$"),
        "cancel",
    ),
    ("DELETE", re.compile(rf"^{_V}/(?P<name>{_PARENT}/batchPredictionJobs/[^/:]+)$"), "delete"),
    (
        "GET",
        re.compile(rf"^/(?P<v>v1|v1beta1|ui)/(?P<name>{_PARENT}/operations/[^/:]+)$"),
        "operation_get",
    ),
]


class VertexEmulator:
    """The emulator: jobs, faults, request log and the HTTP server around them.

    Args:
        host: interface to bind (``127.0.0.1``).
        port: TCP port; 0 picks a free one (see :attr:`port` after :meth:`start`).
        config: startup config (``POST /_emulator/reset`` returns to it).
    """

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, config: EmulatorConfig | None = None
    ) -> None:
        self.base_config = config or EmulatorConfig()
        self.base_config.validate()
        self.config = self.base_config
        self.log = RequestLog()
        self.gate = FaultGate(self.config)
        self.throttles = Throttles()
        self.store = JobStore(config=lambda: self.config)
        self._create_lock = threading.Lock()
        self._host = host
        self._httpd = EmulatorHTTPServer((host, port), self)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound TCP port."""
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL (``http://127.0.0.1:PORT``) to pass as the SDK's ``api_endpoint``."""
        return f"http://{self._host}:{self.port}"

    def start(self) -> VertexEmulator:
        """Serve on a background thread (in-process use and tests)."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="vemu-http", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve on this thread until :meth:`stop` (the CLI)."""
        self._httpd.serve_forever()

    def stop(self) -> None:
        """Stop serving and stop the job clock."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self.store.close()

    # -- admin ----------------------------------------------------------------------------
    def configure(self, changes: dict[str, Any]) -> EmulatorConfig:
        """Merge ``changes`` into the running config.

        Raises:
            EmulatorConfigError: a bad key or value (nothing changes then).
        """
        new = self.config.merged(changes)
        self.config = new
        self.gate.apply(new, reseed="seed" in changes)
        return new

    def reset(self) -> None:
        """Back to the startup config; forget jobs, operations, counters and the log."""
        self.config = self.base_config
        self.gate.apply(self.config, reseed=True)
        self.throttles.clear()
        self.store.reset()
        self.log.clear()

    def stats(self) -> dict[str, Any]:
        """Counters: requests per method kind, answers per status, jobs per state."""
        return {
            "requests": self.log.counts(),
            "statuses": self.log.statuses(),
            "jobs": self.store.job_count(),
            "jobs_created": self.store.created_count(),
            "unfinished": self.store.unfinished_count(),
            "states": self.store.state_counts(),
        }

    def _admin(self, req: Request) -> tuple[int, Any]:
        action = req.path.removeprefix("/_emulator/").strip("/")
        if req.method == "GET" and action == "stats":
            return 200, self.stats()
        if req.method == "GET" and action == "requests":
            try:
                since = float(req.param("since", "0") or 0)
            except ValueError:
                raise api_error(400, "since must be epoch seconds") from None
            return 200, self.log.since(since)
        if req.method == "GET" and action == "jobs":
            return 200, self.store.all_jobs()
        if action == "config" and req.method in {"GET", "POST"}:
            if req.method == "POST":
                changes = req.json()
                if not isinstance(changes, dict):
                    raise api_error(400, "config must be a JSON object")
                try:
                    self.configure(changes)
                except EmulatorConfigError as exc:
                    raise api_error(400, str(exc)) from None
            return 200, self.config.to_dict()
        if action == "throttle" and req.method in {"GET", "POST"}:
            if req.method == "POST":
                try:
                    self.throttles.set(req.json(), time_scale=self.config.time_scale)
                except EmulatorConfigError as exc:
                    raise api_error(400, str(exc)) from None
            return 200, self.throttles.rules()
        if req.method == "POST" and action == "reset":
            self.reset()
            return 200, {}
        if req.method == "GET" and action == "health":
            return 200, {"ok": True}
        raise api_error(404, f"no admin endpoint {req.method} {req.path}")

    # -- API ------------------------------------------------------------------------------
    def handle(self, req: Request) -> tuple[int, Any, dict[str, str]]:
        """Answer one request: ``(status, JSON body, extra headers)``; status 0 means reset
        the connection without an answer (the ``create_then_drop`` fault)."""
        if req.path.startswith("/_emulator/"):
            try:
                status, body = self._admin(req)
            except ApiError as err:
                return err.status_code, error_body(err), {}
            return status, body, {}
        route = self._route(req)
        if route is None:
            missing = api_error(404, f"The requested URL {req.path} was not found on this server.")
            return 404, error_body(missing), {}
        kind, match = route
        location = _location(req.path)
        # The log stamps arrival, as a quota counts requests when they are received; the
        # handler's own time (and injected latency) must not shift a request between windows.
        arrived = time.time()
        delay = self.gate.delay_s(kind)
        if delay > 0:
            time.sleep(delay)
        try:
            self.gate.check(kind)
            body = _HANDLERS[kind](self, req, match)
        except ApiError as err:
            self.log.record(kind, err.status_code, t=arrived, location=location)
            headers = {}
            if err.retry_after_s:
                headers["Retry-After"] = str(max(1, round(err.retry_after_s)))
            return err.status_code, error_body(err), headers
        if kind == "create" and self.gate.should_drop():
            self.log.record(kind, 0, t=arrived, fault="create_then_drop", location=location)
            return 0, None, {}
        self.log.record(kind, 200, t=arrived, location=location)
        return 200, body, {}

    @staticmethod
    def _route(req: Request) -> tuple[str, re.Match[str]] | None:
        for method, pattern, kind in _ROUTES:
            if req.method == method:
                match = pattern.match(req.path)
                if match:
                    return kind, match
        return None

    def _create(self, req: Request, match: re.Match[str]) -> dict[str, Any]:
        parent = match.group("parent")
        _, project, _, location = parent.split("/")
        body = req.json()
        if isinstance(body, dict):
            decode_enums(body)
        clean = validate_create_body(
            body, project=project, location=location, api_version=match.group("v")
        )
        self.throttles.check_create(location)
        with self._create_lock:  # quota check and insert must be atomic
            self.gate.check_concurrency(self.store.unfinished_count())
            resource = self.store.create(parent, clean, api_version=match.group("v"))
        return encode_job(resource, int_enums=req.int_enums)

    def _get(self, req: Request, match: re.Match[str]) -> dict[str, Any]:
        return encode_job(self.store.get(match.group("name")), int_enums=req.int_enums)

    def _list(self, req: Request, match: re.Match[str]) -> dict[str, Any]:
        try:
            size = int(req.param("pageSize", "0") or 0)
        except ValueError:
            raise api_error(400, "Invalid value for page_size (field: page_size)") from None
        if size < 0:
            raise api_error(400, "page_size must not be negative (field: page_size)")
        size = min(size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        text = req.param("filter")
        try:
            predicate = parse_filter(text)
        except EmulatorConfigError as exc:
            raise api_error(400, f"Invalid filter (field: filter): {exc}") from None
        jobs, token = self.store.list(
            match.group("parent"),
            predicate,
            page_size=size,
            page_token=req.param("pageToken"),
            filter_text=text,
        )
        mask = _read_mask(req.param("readMask"))
        out_jobs = [_project(encode_job(j, int_enums=req.int_enums), mask) for j in jobs]
        out: dict[str, Any] = {}
        if out_jobs:
            out["batchPredictionJobs"] = out_jobs
        if token:
            out["nextPageToken"] = token
        return out

    def _cancel(self, req: Request, match: re.Match[str]) -> dict[str, Any]:
        self.store.cancel(match.group("name"))
        return {}

    def _delete(self, req: Request, match: re.Match[str]) -> dict[str, Any]:
        return self.store.delete(match.group("name"))

    def _operation_get(self, req: Request, match: re.Match[str]) -> dict[str, Any]:
        return self.store.get_operation(match.group("name"))


_HANDLERS: dict[str, Callable[[VertexEmulator, Request, re.Match[str]], dict[str, Any]]] = {
    "create": VertexEmulator._create,
    "list": VertexEmulator._list,
    "get": VertexEmulator._get,
    "cancel": VertexEmulator._cancel,
    "delete": VertexEmulator._delete,
    "operation_get": VertexEmulator._operation_get,
}


_LOCATION = re.compile(r"/locations/([^/]+)/")


def _location(path: str) -> str:
    match = _LOCATION.search(path)
    return match.group(1) if match else ""


def _camel(name: str) -> str:
    head, *rest = name.strip().split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _read_mask(text: str) -> set[str] | None:
    if not text.strip():
        return None
    # Only the top-level segment decides what is kept; "name" always stays, as Google does.
    return {_camel(p.split(".", 1)[0]) for p in text.split(",") if p.strip()} | {"name"}


def _project(job: dict[str, Any], mask: set[str] | None) -> dict[str, Any]:
    if mask is None:
        return job
    return {k: v for k, v in job.items() if k in mask}
