"""Credentials for Google's SDKs pointed at ``vbq api``: the vbq API key as the bearer token.

Any google-auth credentials object whose ``token`` is a vbq API key works with the Google
surface (``google.oauth2.credentials.Credentials(token="vbq_...")``). But Google's SDKs reuse
the same credentials for other Google APIs: ``BatchPredictionJob.iter_outputs()`` builds a Cloud
Storage (or BigQuery) client with them, and Google would refuse a vbq key. So
:class:`ApiKeyCredentials` sends the key only to ``vbq api`` and hands every other request to a
fallback (Application Default Credentials, say)::

    import google.auth
    from vbq.producers import ApiKeyCredentials

    adc, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    creds = ApiKeyCredentials("vbq_...", endpoint="https://vbq.internal:8080", fallback=adc)
    aiplatform.init(api_endpoint="https://vbq.internal:8080", api_transport="rest",
                    credentials=creds)
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from google.auth import credentials as ga_credentials

__all__ = ["ApiKeyCredentials"]


class ApiKeyCredentials(ga_credentials.Credentials):  # type: ignore[misc]
    """google-auth credentials: the vbq API key for ``endpoint``, ``fallback`` elsewhere.

    Args:
        api_key: the vbq API key (``vbq_...``); it never expires.
        endpoint: ``vbq api``'s base URL (scheme, host and port); requests to URLs that start
            with it carry ``Authorization: Bearer <api_key>``.
        fallback: credentials for every other URL (Cloud Storage, BigQuery); None sends the
            key everywhere (then only ``vbq api`` and emulators accept the requests).
    """

    def __init__(
        self,
        api_key: str,
        *,
        endpoint: str,
        fallback: Any = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.token = api_key
        self.endpoint = endpoint.rstrip("/")
        self.fallback: Any = fallback
        """The google-auth credentials for other URLs, or None."""

    @property
    def expired(self) -> bool:
        """Never: an API key does not expire (it is revoked in the keys file)."""
        return False

    @property
    def valid(self) -> bool:
        """Always usable."""
        return True

    def refresh(self, request: Any) -> None:
        """Refresh the fallback (the key itself needs none)."""
        if self.fallback is not None:
            self.fallback.refresh(request)

    def _for_vbq(self, url: str) -> bool:
        return self.fallback is None or url == self.endpoint or url.startswith(self.endpoint + "/")

    def before_request(
        self, request: Any, method: str, url: str, headers: MutableMapping[str, str]
    ) -> None:
        """Set ``Authorization`` for ``url``: the key for vbq, the fallback's otherwise."""
        if self._for_vbq(url):
            self.apply(headers)
        else:
            assert self.fallback is not None
            self.fallback.before_request(request, method, url, headers)

    def apply(self, headers: MutableMapping[str, str], token: str | None = None) -> None:
        """Put the key (or ``token``) into ``headers`` as a bearer token."""
        headers["authorization"] = f"Bearer {token or self.token}"

    def __repr__(self) -> str:
        # Never show the key.
        return f"ApiKeyCredentials(endpoint={self.endpoint!r}, fallback={self.fallback!r})"
