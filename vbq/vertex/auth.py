"""Authorization headers for the Vertex REST API.

:class:`GoogleAuth` uses Application Default Credentials (``google.auth.default``) with the
``cloud-platform`` scope. The access token is cached and refreshed under a lock only when it
is missing or within ``refresh_margin_s`` of its expiry, so N threads that find it stale at
once cause exactly one refresh. :class:`AnonymousAuth` sends no ``Authorization`` header at
all, for emulators (``Settings.uses_vertex_emulator``), so no credentials are ever looked up
or sent to a local stand-in.

Tokens never reach a log or an error message: only the header dict carries them.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any, Protocol

from vbq.errors import ConfigError, VertexPermanentError, VertexRetryableError
from vbq.forksafe import PerProcess

__all__ = ["SCOPES", "AnonymousAuth", "Authenticator", "GoogleAuth"]

SCOPES: tuple[str, ...] = ("https://www.googleapis.com/auth/cloud-platform",)


class Authenticator(Protocol):
    """Anything that gives the auth headers for one request."""

    def headers(self) -> dict[str, str]:
        """Headers to add to the next request (may refresh a token first)."""
        ...


class AnonymousAuth:
    """No credentials: for emulators, which must never see a real token."""

    def headers(self) -> dict[str, str]:
        """Always empty."""
        return {}


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _default_request() -> Any:
    from google.auth.transport.requests import Request

    return Request()


class GoogleAuth:
    """Bearer tokens from Application Default Credentials, cached and refreshed thread-safely.

    Args:
        credentials: a ``google.auth.credentials.Credentials`` (tests pass a fake); default:
            ``google.auth.default(scopes=SCOPES)``, looked up on first use.
        refresh_margin_s: refresh when the token expires within this many seconds.
        request_factory: builds the google-auth transport ``Request`` used to refresh.
        clock: returns the current UTC time (tests).
    """

    def __init__(
        self,
        *,
        credentials: Any | None = None,
        refresh_margin_s: float = 300.0,
        request_factory: Callable[[], Any] = _default_request,
        clock: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        self._credentials = credentials
        self._refresh_margin = dt.timedelta(seconds=refresh_margin_s)
        self._clock = clock
        # Per process: a lock held by another thread at fork() time stays held forever in the
        # child, and the parent's refresh session (a requests.Session) shares its sockets.
        self._lock = PerProcess(threading.Lock)
        self._request = PerProcess(request_factory)
        self.refresh_count = 0
        """How many times a token was fetched (in this process)."""

    def _needs_refresh(self, credentials: Any) -> bool:
        if not credentials.token:
            return True
        expiry = credentials.expiry
        if expiry is None:
            return False  # a token without expiry (e.g. some user creds) never goes stale
        if expiry.tzinfo is None:
            expiry = expiry.replace(tzinfo=dt.UTC)  # google-auth keeps naive UTC datetimes
        return bool(expiry - self._clock() <= self._refresh_margin)

    def _load_credentials(self) -> Any:
        import google.auth
        import google.auth.exceptions

        try:
            credentials, _project = google.auth.default(scopes=list(SCOPES))
        except google.auth.exceptions.DefaultCredentialsError as exc:
            raise ConfigError(
                f"no Application Default Credentials for Vertex AI ({exc}); run "
                "`gcloud auth application-default login` or set VBQ_VERTEX_ENDPOINT to an emulator"
            ) from None
        return credentials

    def _refresh(self, credentials: Any) -> None:
        import google.auth.exceptions

        try:
            credentials.refresh(self._request.get())
        except google.auth.exceptions.TransportError as exc:
            raise VertexRetryableError(
                f"token refresh failed: {exc}", status="UNAVAILABLE", method="auth"
            ) from None
        except google.auth.exceptions.GoogleAuthError as exc:
            if getattr(exc, "retryable", False):
                raise VertexRetryableError(
                    f"token refresh failed: {exc}", status="UNAVAILABLE", method="auth"
                ) from None
            raise VertexPermanentError(
                f"token refresh failed: {exc}",
                status_code=401,
                status="UNAUTHENTICATED",
                method="auth",
            ) from None
        self.refresh_count += 1

    def headers(self) -> dict[str, str]:
        """``Authorization: Bearer …`` (and ``x-goog-user-project`` when the creds name one).

        Raises:
            ConfigError: no Application Default Credentials are configured.
            VertexRetryableError: the token endpoint could not be reached.
            VertexPermanentError: the credentials were refused (``UNAUTHENTICATED``).
        """
        with self._lock.get():
            if self._credentials is None:
                self._credentials = self._load_credentials()
            credentials = self._credentials
            if self._needs_refresh(credentials):
                self._refresh(credentials)
            token = credentials.token
        headers = {"authorization": f"Bearer {token}"}
        quota_project = getattr(credentials, "quota_project_id", None)
        if isinstance(quota_project, str) and quota_project:
            headers["x-goog-user-project"] = quota_project
        return headers
