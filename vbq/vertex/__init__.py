"""Vertex AI REST client for batch prediction jobs (sync, httpx, ADC or anonymous for emulators).

``VertexClient.from_settings(settings)`` builds it; errors come from the ``VertexError`` tree
(retryable, ambiguous, permanent). See :mod:`vbq.vertex.client` for why it is synchronous.
"""

from vbq.vertex.auth import SCOPES, AnonymousAuth, Authenticator, GoogleAuth
from vbq.vertex.client import ListPage, OnCall, VertexClient
from vbq.vertex.error_mapping import parse_retry_after, parse_retry_delay

__all__ = [
    "SCOPES",
    "AnonymousAuth",
    "Authenticator",
    "GoogleAuth",
    "ListPage",
    "OnCall",
    "VertexClient",
    "parse_retry_after",
    "parse_retry_delay",
]
