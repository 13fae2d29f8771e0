"""Webhook signatures: ``X-Vbq-Signature: v1=<hex hmac-sha256(secret, f"{timestamp}.{body}")>``.

The timestamp (``X-Vbq-Timestamp``, Unix seconds) is inside the signed text, so a captured
request cannot be replayed later with a fresh timestamp; receivers refuse timestamps older
than a tolerance (5 minutes by default). Several ``v1=`` values separated by commas are
accepted, which lets a sender sign with an old and a new secret while rotating.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable
from enum import StrEnum

__all__ = [
    "DEFAULT_TOLERANCE_S",
    "EVENT_ID_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "SignatureCheck",
    "sign",
    "signature_header",
    "verify",
]

SIGNATURE_HEADER = "X-Vbq-Signature"
TIMESTAMP_HEADER = "X-Vbq-Timestamp"
EVENT_ID_HEADER = "X-Vbq-Event-Id"
DEFAULT_TOLERANCE_S = 300.0
"""How old (or how far in the future) a timestamp may be, in seconds."""


class SignatureCheck(StrEnum):
    """Outcome of :func:`verify`."""

    OK = "ok"
    MISSING = "missing"
    MALFORMED = "malformed"
    STALE = "stale"
    BAD_SIGNATURE = "bad_signature"


def _key(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def sign(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``f"{timestamp}.{body}"`` under ``secret``."""
    message = str(int(timestamp)).encode() + b"." + body
    return hmac.new(_key(secret), message, hashlib.sha256).hexdigest()


def signature_header(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """The ``X-Vbq-Signature`` value: ``v1=<hex>``."""
    return f"v1={sign(secret, timestamp, body)}"


def verify(
    *,
    secrets: Iterable[str | bytes],
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now_s: float | None = None,
) -> SignatureCheck:
    """Check a request's signature and timestamp; comparisons are constant-time.

    Args:
        secrets: every secret currently accepted (old and new while rotating).
        body: the raw request body, exactly as received.
        timestamp: the ``X-Vbq-Timestamp`` header value.
        signature: the ``X-Vbq-Signature`` header value.
        tolerance_s: the largest accepted distance between ``timestamp`` and now, in seconds.
        now_s: the current Unix time (tests).

    Returns:
        ``OK`` or the first reason to refuse.
    """
    if not timestamp or not signature:
        return SignatureCheck.MISSING
    try:
        ts = int(timestamp)
    except ValueError:
        return SignatureCheck.MALFORMED
    offered = [part.strip()[3:] for part in signature.split(",") if part.strip().startswith("v1=")]
    if not offered:
        return SignatureCheck.MALFORMED
    now = time.time() if now_s is None else now_s
    if abs(now - ts) > tolerance_s:
        return SignatureCheck.STALE
    expected = [sign(s, ts, body) for s in secrets]
    matched = False
    # Every pair is compared (no early exit) so timing tells nothing about which one matched.
    for want in expected:
        for got in offered:
            matched |= hmac.compare_digest(want.encode(), got.encode())
    return SignatureCheck.OK if matched else SignatureCheck.BAD_SIGNATURE
