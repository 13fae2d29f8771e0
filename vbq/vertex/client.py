"""The Vertex AI REST client for ``BatchPredictionJob``: create, get, list, cancel, delete.

Listing is :mod:`vbq.vertex.listing`, deleting (a long-running operation) is
:mod:`vbq.vertex.operations`; both are mixed into :class:`VertexClient`, which adds the
lifecycle and the single-job calls.

Why synchronous: the callers are Celery prefork workers, where each child process runs one task
at a time; the task waits for Google whatever the I/O style, so an event loop would buy no
concurrency and cost a loop per process plus async plumbing through the worker. The beat-driven
poller is also one call at a time, under a global read rate limit. A plain ``httpx.Client``
with HTTP/1.1 keep-alive gives connection reuse, which is what matters at 10 calls a second.

One pooled ``httpx.Client`` per process (rebuilt after ``fork()``, see
:mod:`vbq.vertex.transport`); build one :class:`VertexClient` per process and reuse it. It is
thread-safe (httpx's pool, the token lock and the counters lock), so threaded callers such as
the HTTP API or a thread-pool benchmark may share it too. URLs are
absolute, so one client serves every region: the base URL comes from
``Settings.vertex_base_url(location)`` with the location taken from the resource name.

Timeouts (``timeout_s``) bound the connect phase (at most 10 s) and every single read and
write, as httpx's timeouts do, not the whole exchange: a server that trickles bytes could
take longer. Google answers these small JSON calls in one go, so that is the right trade.

No retries in here: the callers own the retry policy and the global rate limits, and every
error says what a retry means (see :mod:`vbq.vertex.error_mapping`). Responses are the JSON
resources exactly as Google sends them (camelCase, enum names; integers are accepted too by
``vbq.states.parse_job_state``); this client never asks for ``enum-encoding=int``.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any

import httpx

from vbq.errors import VertexPermanentError
from vbq.settings import Settings
from vbq.vertex.auth import AnonymousAuth, Authenticator, GoogleAuth
from vbq.vertex.listing import JobListing, ListPage
from vbq.vertex.names import check_api_version, check_name
from vbq.vertex.operations import JobDeletion
from vbq.vertex.transport import DEFAULT_LIMITS, RestSession

__all__ = ["ListPage", "OnCall", "VertexClient"]

OnCall = Callable[[str, int, float], None]
"""``on_call(method, status_code, duration_s)``; ``status_code`` is 0 when no answer came."""


class VertexClient(JobListing, JobDeletion):
    """Synchronous Vertex AI REST client for batch prediction jobs.

    Args:
        settings: where to send requests (``vertex_base_url``), the default timeout
            (``http_timeout_s``) and whether to use anonymous credentials
            (``uses_vertex_emulator``).
        auth: the header source; default :class:`~vbq.vertex.auth.AnonymousAuth` for an
            emulator, else :class:`~vbq.vertex.auth.GoogleAuth` (ADC) with ``credentials``.
        credentials: google-auth credentials to use instead of ADC (ignored with ``auth``).
        transport: an ``httpx`` transport (tests); default: a pooled HTTP/1.1 transport.
        limits: connection-pool limits.
        timeout_s: default timeout of one call in seconds; default ``settings.http_timeout_s``.
        on_call: called after every HTTP exchange as ``on_call(method, status_code, duration_s)``
            (metrics); its exceptions are logged and swallowed.
    """

    def __init__(
        self,
        *,
        settings: Settings,
        auth: Authenticator | None = None,
        credentials: Any | None = None,
        transport: httpx.BaseTransport | None = None,
        limits: httpx.Limits = DEFAULT_LIMITS,
        timeout_s: float | None = None,
        on_call: OnCall | None = None,
    ) -> None:
        self.settings = settings
        if auth is None:
            auth = (
                AnonymousAuth()
                if settings.uses_vertex_emulator
                else GoogleAuth(credentials=credentials)
            )
        self._rest = RestSession(
            auth=auth,
            base_url_for=settings.vertex_base_url,
            transport=transport,
            limits=limits,
            timeout_s=settings.http_timeout_s if timeout_s is None else timeout_s,
            # Google's own clients honour HTTPS_PROXY & co; an emulator on loopback must never
            # be reached through a proxy someone exported for the real thing.
            trust_env=not settings.uses_vertex_emulator,
            on_call=on_call if on_call is not None else _observe_call,
        )

    @property
    def timeout_s(self) -> float:
        """Default timeout of one call, in seconds."""
        return self._rest.timeout_s

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **kwargs: Any) -> VertexClient:
        """A client for ``settings`` (default: ``Settings.from_env()``).

        Args:
            settings: the settings; built from the environment when None.
            **kwargs: further keyword arguments of the constructor (``on_call``, ...).

        Raises:
            ConfigError: an environment variable is malformed.
        """
        return cls(settings=settings or Settings.from_env(), **kwargs)

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection pool; the client cannot be used afterwards."""
        self._rest.close()

    def __enter__(self) -> VertexClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def call_counts(self) -> dict[str, dict[int, int]]:
        """Calls made by this process so far: ``{method: {status_code: count}}`` (0 = no answer)."""
        return self._rest.call_counts()

    # -- the API -----------------------------------------------------------------------------

    def create_batch_prediction_job(
        self,
        parent: str,
        body: dict[str, Any],
        *,
        api_version: str = "v1",
        timeout_s: float | None = None,
    ) -> dict[str, Any]:
        """Create a batch prediction job (``POST /{api_version}/{parent}/batchPredictionJobs``).

        Not idempotent: Google has no request id for it. Label the job (``vbq-submission``) and
        list by that label before sending it again after a :class:`VertexAmbiguousError`.

        Args:
            parent: ``projects/P/locations/L``.
            body: the REST ``BatchPredictionJob`` (camelCase).
            api_version: ``v1``, or ``v1beta1`` for model monitoring.
            timeout_s: timeout of this call in seconds (default: the client's).

        Returns:
            The created job resource.

        Raises:
            VertexRetryableError: not applied (429, 503, connect failure); retry with backoff.
            VertexAmbiguousError: may have been applied (sent, then timeout/reset/500/502/504).
            VertexPermanentError: refused (400, 403, 404, ...) or a malformed ``parent``.
        """
        check_name(parent, kind="parent", method="create")
        version = check_api_version(api_version, "create")
        if not isinstance(body, dict):
            raise VertexPermanentError(
                "body must be a dict", status="INVALID_ARGUMENT", method="create"
            )
        return self._rest.call(
            "create",
            "POST",
            f"/{version}/{parent}/batchPredictionJobs",
            routing=("parent", parent),
            json_body=body,
            timeout_s=timeout_s,
            creates=True,
        )

    def get_batch_prediction_job(
        self, name: str, *, api_version: str = "v1", timeout_s: float | None = None
    ) -> dict[str, Any]:
        """Get one job (``GET /v1/{name}``).

        Args:
            name: ``projects/P/locations/L/batchPredictionJobs/ID``.
            api_version: API version of the path.
            timeout_s: timeout of this call in seconds (default: the client's).

        Raises:
            VertexRetryableError: 429, 5xx, timeouts, connection failures.
            VertexPermanentError: 404 (no such job), 403, a malformed name, ...
        """
        check_name(name, kind="name", method="get")
        version = check_api_version(api_version, "get")
        return self._rest.call(
            "get",
            "GET",
            f"/{version}/{name}",
            routing=("name", name),
            timeout_s=timeout_s,
        )

    def cancel_batch_prediction_job(self, name: str, *, timeout_s: float | None = None) -> None:
        """Ask Google to cancel a job (``POST /v1/{name}:cancel`` with ``{}``).

        The job goes ``JOB_STATE_CANCELLING`` then ``JOB_STATE_CANCELLED``, or finishes anyway.
        Cancelling is idempotent, so timeouts are retryable.

        Raises:
            VertexRetryableError: 429, 5xx, timeouts, connection failures.
            VertexPermanentError: 404, 400 (e.g. already finished), a malformed name, ...
        """
        check_name(name, kind="name", method="cancel")
        self._rest.call(
            "cancel",
            "POST",
            f"/v1/{name}:cancel",
            routing=("name", name),
            json_body={},
            timeout_s=timeout_s,
        )


def _observe_call(method: str, status_code: int, duration_s: float) -> None:
    # The default hook feeds Prometheus. Imported late so that `vbq worker` can switch
    # prometheus-client to multiprocess mode before anything loads it.
    from vbq.metrics import observe_vertex_call

    observe_vertex_call(method, status_code, duration_s)
