"""Redaction of secrets: bearer tokens, key-looking values, passwords in URLs.

Used by the log pipeline (every log line passes through :func:`redact_value`) and wherever a URL
with a password might be printed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = ["REDACTED", "redact_mapping", "redact_text", "redact_url", "redact_value"]

REDACTED = "***"

_SECRET_KEY_NAMES = re.compile(
    r"(pass(word)?|secret|token|api[_-]?key|authorization|credential|private[_-]?key|signature"
    r"|cookie|session)",
    re.IGNORECASE,
)
_PATTERNS: tuple[re.Pattern[str], ...] = (
    # Authorization: Bearer <token>
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    # Google OAuth access tokens and API keys
    re.compile(r"ya29\.[A-Za-z0-9._-]+"),
    re.compile(r"AIza[0-9A-Za-z_-]{35}"),
    # PEM private keys
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
    # key=value / "key": "value" pairs whose key looks secret
    re.compile(
        r"(?i)((?:pass(?:word)?|secret|token|api[_-]?key|access[_-]?key)\"?\s*[:=]\s*\"?)"
        r"[^\s\"',;&]{4,}"
    ),
    # vbq API keys (vbq_ prefix) and generic sk-/pk- style keys
    re.compile(r"\b(?:vbq|sk|pk)_[A-Za-z0-9]{16,}\b"),
    re.compile(r"\bsk-[A-Za-z0-9_-]{16,}\b"),
)
_URL_WITH_PASSWORD = re.compile(r"([a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]+@", re.IGNORECASE)


def redact_url(url: str) -> str:
    """Replace the password of a URL (``redis://:pw@host``) with ``***``, also in a
    several-host URL (``redis+sentinel://:pw@h1:26379,h2:26379/m``) and in query options
    named like a secret (``?sentinel_password=``)."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    if parts.password is None:
        return redact_text(url) if parts.query else url
    user = parts.username or ""
    # The hosts as written: ``parts.port`` cannot read "h1:1,h2:2".
    hosts = parts.netloc.rpartition("@")[2]
    netloc = f"{user}:{REDACTED}@{hosts}"
    return redact_text(urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)))


def redact_text(text: str) -> str:
    """Redact every secret-looking substring of free text."""
    text = _URL_WITH_PASSWORD.sub(lambda m: f"{m.group(1)}{REDACTED}@", text)
    for pattern in _PATTERNS:
        if pattern.groups:
            text = pattern.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
        else:
            text = pattern.sub(REDACTED, text)
    return text


def redact_mapping(data: Mapping[str, Any]) -> dict[str, Any]:
    """Redact a mapping: values under secret-looking keys vanish, others are scanned."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(key, str) and _SECRET_KEY_NAMES.search(key) and value not in (None, ""):
            out[key] = REDACTED
        else:
            out[key] = redact_value(value)
    return out


def redact_value(value: Any) -> Any:
    """Redact any JSON-like value recursively."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return redact_mapping(value)
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    return value
