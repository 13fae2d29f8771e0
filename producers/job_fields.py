"""Fields of a stored Vertex ``BatchPredictionJob`` resource and times, as :class:`Submission`
shows them: snake_case objects like the SDK's protos, ``datetime`` from RFC 3339, RFC 3339 ``Z``
strings from Unix seconds.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "iso_from_datetime",
    "iso_from_epoch",
    "job_str",
    "job_time",
    "snake_case",
    "snake_counts",
    "snake_dict",
    "spec_value",
]

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def snake_case(name: str) -> str:
    return _CAMEL.sub("_", name).lower()


def snake_dict(raw: object) -> dict[str, Any] | None:
    """A non-empty JSON object with its keys in snake_case (like the SDK's protos), else None."""
    if not isinstance(raw, dict) or not raw:
        return None
    return {snake_case(str(k)): v for k, v in raw.items()}


def snake_counts(raw: object) -> dict[str, int] | None:
    """A JSON object of counts with snake_case keys and int values (Google sends int64 as
    strings; values that are not numbers are left out); None when not an object."""
    if not isinstance(raw, dict):
        return None
    out: dict[str, int] = {}
    for key, value in raw.items():
        try:
            out[snake_case(key)] = int(value)
        except (TypeError, ValueError):
            continue
    return out


def job_str(job: dict[str, Any] | None, key: str) -> str | None:
    """A non-empty string field of a Vertex resource, else None."""
    value = job.get(key) if job else None
    return value if isinstance(value, str) and value else None


def spec_value(spec: Any, name: str) -> str | None:
    """A non-empty string field of a spec's ``to_dict()``, else None."""
    try:
        value = spec.to_dict().get(name)
    except AttributeError:
        return None
    return value if isinstance(value, str) and value else None


def job_time(job: dict[str, Any] | None, key: str) -> datetime | None:
    """An RFC 3339 time field of a Vertex resource (nanoseconds cut to microseconds; UTC when
    no offset), None when missing or malformed."""
    raw = job_str(job, key)
    if raw is None:
        return None
    try:
        # RFC 3339 with nanoseconds ("2024-05-01T10:00:00.123456789Z"): keep microseconds.
        text = raw.replace("Z", "+00:00")
        match = re.match(r"^(.*T\d\d:\d\d:\d\d)(\.\d+)?(.*)$", text)
        if match:
            frac = (match.group(2) or "")[:7]
            text = match.group(1) + frac + match.group(3)
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def iso_from_epoch(epoch_s: float | None) -> str | None:
    """RFC 3339 (``Z``) of a Unix time in seconds; None for None or 0."""
    if not epoch_s:
        return None
    return datetime.fromtimestamp(epoch_s, tz=UTC).isoformat().replace("+00:00", "Z")


def iso_from_datetime(value: datetime | None) -> str | None:
    """RFC 3339 (``Z``) of a datetime, in UTC; None for None."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None
