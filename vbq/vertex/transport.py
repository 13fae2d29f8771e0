"""The wire: one pooled ``httpx.Client`` per process (rebuilt after ``fork()``), one JSON call.

Celery's prefork pool imports (and may build) things in the parent and then forks children.
Kept-alive sockets copied into a child are shared with the parent and every sibling: two
processes writing requests into one TCP (or TLS) stream interleave bytes and read each other's
answers. So the pool remembers the pid that built it and builds a fresh client when called
from another process. The inherited client is dropped, never closed: closing it in the child
could shut down connections the parent still uses.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from vbq.errors import (
    VertexAmbiguousError,
    VertexError,
    VertexPermanentError,
    VertexRetryableError,
)
from vbq.forksafe import PerProcess
from vbq.logs import get_logger
from vbq.vertex.auth import Authenticator
from vbq.vertex.error_mapping import error_from_response, error_from_transport
from vbq.vertex.names import location_of, routing_header

__all__ = ["DEFAULT_LIMITS", "ForkSafeClient", "RestSession", "user_agent"]

_log = get_logger("vbq.vertex")

DEFAULT_LIMITS = httpx.Limits(max_connections=10, max_keepalive_connections=5, keepalive_expiry=30)
"""A prefork child runs one task at a time, so a handful of kept-alive connections is plenty."""


def user_agent() -> str:
    """``vbq/<version> gl-python/<python version>``, the shape Google's clients send."""
    import platform

    from vbq.version import __version__

    return f"vbq/{__version__} gl-python/{platform.python_version()}"


class ForkSafeClient:
    """Holds the process's ``httpx.Client``; :meth:`get` rebuilds it after a fork.

    Args:
        factory: builds a new ``httpx.Client`` (called once per process, lazily).
    """

    def __init__(self, *, factory: Callable[[], httpx.Client]) -> None:
        self._clients = PerProcess(factory)
        self._closed = False

    @property
    def builds(self) -> int:
        """How many clients this holder built (one per process that used it)."""
        return self._clients.builds

    def get(self) -> httpx.Client:
        """The client for the calling process.

        Raises:
            VertexPermanentError: :meth:`close` was called (``FAILED_PRECONDITION``).
        """
        if self._closed:
            raise VertexPermanentError("the Vertex client is closed", status="FAILED_PRECONDITION")
        return self._clients.get()

    def close(self) -> None:
        """Close this process's client (a client inherited from a parent is left alone)."""
        self._closed = True
        client = self._clients.discard()
        if client is not None:
            client.close()


def _timeout(timeout_s: float) -> httpx.Timeout:
    # Connecting should be quick; a slow connect must not eat the whole read budget.
    return httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0))


class _CallCounts:
    """``{method: {status_code: count}}`` of one process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, dict[int, int]] = {}

    def add(self, method: str, status_code: int) -> None:
        with self._lock:
            codes = self._counts.setdefault(method, {})
            codes[status_code] = codes.get(status_code, 0) + 1

    def snapshot(self) -> dict[str, dict[int, int]]:
        with self._lock:
            return {method: dict(codes) for method, codes in self._counts.items()}


class RestSession:
    """One JSON exchange with the Vertex REST API: headers, auth, timing, error mapping.

    Args:
        auth: gives the ``Authorization`` header (or none, for emulators).
        base_url_for: location → base URL without trailing slash.
        transport: an ``httpx`` transport (tests); default: httpx's pooled HTTP/1.1 transport.
        limits: connection-pool limits.
        timeout_s: default timeout of one call in seconds.
        trust_env: let httpx read proxy settings from the environment.
        on_call: called after every exchange as ``on_call(method, status_code, duration_s)``.
    """

    def __init__(
        self,
        *,
        auth: Authenticator,
        base_url_for: Callable[[str], str],
        transport: httpx.BaseTransport | None = None,
        limits: httpx.Limits = DEFAULT_LIMITS,
        timeout_s: float = 30.0,
        trust_env: bool = True,
        on_call: Callable[[str, int, float], None] | None = None,
    ) -> None:
        self.timeout_s = timeout_s
        self._auth = auth
        self._base_url_for = base_url_for
        self._on_call = on_call
        # Counters are per process (a child starts at zero, with its own lock).
        self._counts = PerProcess(_CallCounts)
        agent = user_agent()
        self._base_headers = {
            "user-agent": agent,
            "x-goog-api-client": agent,
            "accept": "application/json",
        }

        def build() -> httpx.Client:
            return httpx.Client(
                transport=transport,
                limits=limits,
                timeout=_timeout(timeout_s),
                follow_redirects=False,
                trust_env=trust_env,
            )

        self.pool = ForkSafeClient(factory=build)

    def close(self) -> None:
        """Close the connection pool."""
        self.pool.close()

    def call_counts(self) -> dict[str, dict[int, int]]:
        """``{method: {status_code: count}}`` of this process (status 0 = no answer)."""
        return self._counts.get().snapshot()

    def _record(self, method: str, status_code: int, duration_s: float) -> None:
        self._counts.get().add(method, status_code)
        _log.debug(
            "vertex.call", method=method, status_code=status_code, duration_s=round(duration_s, 4)
        )
        if self._on_call is not None:
            try:
                self._on_call(method, status_code, duration_s)
            except Exception:
                # Metrics must never turn a successful call into a failed task.
                _log.warning("vertex.on_call_failed", method=method, exc_info=True)

    def call(
        self,
        method: str,
        http_method: str,
        path: str,
        *,
        routing: tuple[str, str],
        json_body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        timeout_s: float | None = None,
        creates: bool = False,
    ) -> dict[str, Any]:
        """Send one request and return the JSON object of a 2xx answer (``{}`` when empty).

        Args:
            method: the client method name (counters, errors, logs).
            http_method: ``GET``, ``POST``, ``DELETE``.
            path: ``/v1/...`` (already checked names only).
            routing: ``(key, value)`` of the ``x-goog-request-params`` header; ``value`` is the
                checked resource name the call is about, whose location picks the regional host.
            json_body: the request body, if any.
            params: query parameters.
            timeout_s: timeout of this call in seconds (default: the session's).
            creates: the request is a non-idempotent create (see error_mapping).

        Raises:
            VertexRetryableError, VertexAmbiguousError, VertexPermanentError: see
                :mod:`vbq.vertex.error_mapping`.
            ConfigError: no credentials are configured (real Google only).
        """
        headers = dict(self._base_headers)
        headers["x-goog-request-params"] = routing_header(*routing)
        headers.update(self._auth.headers())
        url = self._base_url_for(location_of(routing[1])) + path
        timeout = _timeout(self.timeout_s if timeout_s is None else timeout_s)
        content = None
        if json_body is not None:
            content = json.dumps(json_body, separators=(",", ":")).encode()
            headers["content-type"] = "application/json"
        client = self.pool.get()
        started = time.monotonic()
        try:
            response = client.request(
                http_method, url, params=params, content=content, headers=headers, timeout=timeout
            )
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            self._record(method, 0, time.monotonic() - started)
            raise error_from_transport(exc, method=method, creates=creates) from exc
        self._record(method, response.status_code, time.monotonic() - started)
        if not response.is_success:
            raise error_from_response(response, method=method)
        return _json_object(response, method=method, creates=creates)


def _json_object(response: httpx.Response, *, method: str, creates: bool) -> dict[str, Any]:
    if not response.content.strip():
        return {}
    try:
        data = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        data = None
    if isinstance(data, dict):
        return data
    # A 2xx we cannot read: a create did happen, so it is ambiguous; anything else may re-ask.
    cls: type[VertexError] = VertexAmbiguousError if creates else VertexRetryableError
    raise cls(
        f"unreadable {response.status_code} answer: {response.text[:200]!r}",
        status_code=response.status_code,
        status="UNKNOWN",
        method=method,
    )
