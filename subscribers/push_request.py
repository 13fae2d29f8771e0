"""Read a Pub/Sub push request: the message it carries, and its OIDC token.

Both push formats are read: the wrapped JSON envelope (``{"message": {"data", "attributes",
"messageId", "publishTime", "orderingKey"}, "subscription", "deliveryAttempt"}``) and the
unwrapped one (``no_wrapper`` with ``write_metadata``: the raw data as the body, metadata in
``x-goog-pubsub-*`` headers). The message is a :class:`PushedMessage`, which satisfies
:class:`vbq.pubsub.messages.MessageLike`: the processor acks or nacks it like a pulled message,
and the server answers accordingly.

:class:`TokenVerifier` checks the ``Authorization: Bearer`` token Pub/Sub attaches when the
subscription has ``oidc_token``: RS256 signature against the certificates at ``certs_url``
(Google's by default; fetched once and again on an unknown key id or after 5 minutes), the
audience, the issuer, ``email_verified`` and, when configured, the service account ``email``.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from google.auth import exceptions as auth_exceptions
from google.auth import jwt

from vbq.errors import PushRequestError

__all__ = ["PushedMessage", "TokenVerifier", "parse_push"]

CERTS_MAX_AGE_S = 300.0


@dataclass
class PushedMessage:
    """One pushed message; :meth:`ack`/:meth:`nack` record the outcome the server answers."""

    data: bytes
    attributes: dict[str, str]
    message_id: str
    delivery_attempt: int | None
    publish_time: datetime
    ordering_key: str
    subscription: str
    outcome: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def ack(self) -> None:
        """Answer 2xx: Pub/Sub acknowledges the message."""
        self._settle("ack")

    def nack(self) -> None:
        """Answer non-2xx: Pub/Sub redelivers the message (retry policy, dead letters)."""
        self._settle("nack")

    def _settle(self, outcome: str) -> None:
        with self._lock:
            if self.outcome is None:
                self.outcome = outcome


def _time(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        raise PushRequestError(f"bad publishTime {text!r}", status=400) from None


def _wrapped(body: dict[str, Any]) -> PushedMessage:
    message = body.get("message")
    if not isinstance(message, dict) or not isinstance(body.get("subscription"), str):
        raise PushRequestError("not a Pub/Sub push envelope", status=400)
    try:
        data = base64.b64decode(message.get("data", ""), validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise PushRequestError("message.data is not base64", status=400) from None
    attributes = message.get("attributes") or {}
    message_id = message.get("messageId") or message.get("message_id")
    if not isinstance(attributes, dict) or not isinstance(message_id, str):
        raise PushRequestError("message.attributes or messageId malformed", status=400)
    attempt = body.get("deliveryAttempt")
    return PushedMessage(
        data=data,
        attributes={str(k): str(v) for k, v in attributes.items()},
        message_id=message_id,
        delivery_attempt=int(attempt) if isinstance(attempt, int) else None,
        publish_time=_time(str(message.get("publishTime") or message.get("publish_time") or "")),
        ordering_key=str(message.get("orderingKey") or ""),
        subscription=body["subscription"],
    )


def _unwrapped(headers: Mapping[str, str], body: bytes) -> PushedMessage:
    lower = {k.lower(): v for k, v in headers.items()}
    skip = {"content-length", "host", "user-agent", "authorization", "accept-encoding"}
    attributes = {k: v for k, v in headers.items() if not k.lower().startswith("x-goog-pubsub-")}
    attributes = {k: v for k, v in attributes.items() if k.lower() not in skip}
    return PushedMessage(
        data=body,
        attributes=attributes,
        message_id=lower["x-goog-pubsub-message-id"],
        delivery_attempt=None,
        publish_time=_time(lower.get("x-goog-pubsub-publish-time", "")),
        ordering_key=lower.get("x-goog-pubsub-ordering-key", ""),
        subscription=lower.get("x-goog-pubsub-subscription-name", ""),
    )


def parse_push(headers: Mapping[str, str], body: bytes) -> PushedMessage:
    """The message of one push request (wrapped envelope, or unwrapped with metadata).

    Raises:
        PushRequestError: (400) neither format.
    """
    if any(k.lower() == "x-goog-pubsub-message-id" for k in headers):
        return _unwrapped(headers, body)
    try:
        parsed = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise PushRequestError(
            "body is not a Pub/Sub push envelope (not JSON)", status=400
        ) from None
    if not isinstance(parsed, dict):
        raise PushRequestError("not a Pub/Sub push envelope", status=400)
    return _wrapped(parsed)


class TokenVerifier:
    """Checks push requests' OIDC tokens.

    Args:
        audience: the ``aud`` every token must carry.
        certs_url: where the signing certificates are (Google's v1 format, ``{kid: PEM}``).
        issuers: accepted ``iss`` values.
        service_account: the ``email`` every token must carry ('' = any verified email).
        fetch: ``fetch(url) -> dict`` for the certificates (default: google-auth's transport).
    """

    def __init__(
        self,
        *,
        audience: str,
        certs_url: str,
        issuers: Sequence[str],
        service_account: str = "",
        fetch: Any = None,
    ) -> None:
        self.audience = audience
        self.certs_url = certs_url
        self.issuers = tuple(issuers)
        self.service_account = service_account
        self._fetch = fetch or _fetch_certs
        self._lock = threading.Lock()
        self._certs: dict[str, str] = {}
        self._fetched_s = -CERTS_MAX_AGE_S

    def _certificates(self, kid: str) -> dict[str, str]:
        with self._lock:
            stale = time.monotonic() - self._fetched_s > CERTS_MAX_AGE_S
            if stale or kid not in self._certs:
                try:
                    self._certs = dict(self._fetch(self.certs_url))
                except Exception as exc:
                    raise PushRequestError(f"cannot fetch certificates: {exc}", status=503) from exc
                self._fetched_s = time.monotonic()
            return self._certs

    def verify(self, authorization: str) -> dict[str, Any]:
        """The claims of a valid ``Bearer`` token.

        Raises:
            PushRequestError: 401 (no, malformed, expired or badly signed token, wrong audience
                or issuer, unverified email), 403 (another service account), 503 (the
                certificates could not be fetched).
        """
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise PushRequestError("missing Bearer token", status=401)
        try:
            header = jwt.decode_header(token)  # type: ignore[no-untyped-call]
            certs = self._certificates(str(header.get("kid", "")))
            claims: dict[str, Any] = jwt.decode(  # type: ignore[no-untyped-call]
                token, certs=certs, audience=self.audience
            )
        except PushRequestError:
            raise
        except (auth_exceptions.GoogleAuthError, ValueError) as exc:
            raise PushRequestError(f"invalid token: {exc}", status=401) from None
        if claims.get("iss") not in self.issuers:
            raise PushRequestError(f"invalid token issuer {claims.get('iss')!r}", status=401)
        if claims.get("email_verified") is not True:
            raise PushRequestError("token email is not verified", status=401)
        if self.service_account and claims.get("email") != self.service_account:
            raise PushRequestError(f"token of {claims.get('email')!r} not accepted", status=403)
        return claims


def _fetch_certs(url: str) -> dict[str, str]:
    from google.auth.transport import requests as google_requests

    response = google_requests.Request()(url, method="GET")
    if response.status != 200:
        raise PushRequestError(f"certificates at {url}: HTTP {response.status}", status=503)
    certs: dict[str, str] = json.loads(response.data)
    return certs
