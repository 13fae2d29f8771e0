"""Cloud Storage Pub/Sub notifications: parse them as Google sends them, and build them.

Google publishes one message per object change to the bucket's notification topic
(https://cloud.google.com/storage/docs/pubsub-notifications). Attributes:

- ``notificationConfig``: ``projects/_/buckets/B/notificationConfigs/N``
- ``eventType``: ``OBJECT_FINALIZE`` (a new object or a new generation of one),
  ``OBJECT_METADATA_UPDATE``, ``OBJECT_DELETE``, ``OBJECT_ARCHIVE``
- ``payloadFormat``: ``JSON_API_V1`` (data = the object resource as JSON) or ``NONE``
- ``bucketId``, ``objectId``, ``objectGeneration`` (decimal string), ``eventTime`` (RFC 3339)
- ``overwroteGeneration`` / ``overwrittenByGeneration`` when a generation replaced another.

:func:`is_storage_notification` tells such a message apart from a job request by its
attributes; :func:`parse_notification` reads one; :func:`build_notification` produces the same
shape (what ``vbq bridge notify`` publishes, so the local emulators can trigger the bridge).
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from vbq.errors import SpecError

__all__ = [
    "EVENT_FINALIZE",
    "ObjectEvent",
    "build_notification",
    "is_storage_notification",
    "object_resource",
    "parse_notification",
]

EVENT_FINALIZE = "OBJECT_FINALIZE"
PAYLOAD_JSON = "JSON_API_V1"
PAYLOAD_NONE = "NONE"
EVENT_TYPES = frozenset(
    {EVENT_FINALIZE, "OBJECT_METADATA_UPDATE", "OBJECT_DELETE", "OBJECT_ARCHIVE"}
)


@dataclass(frozen=True, kw_only=True)
class ObjectEvent:
    """One Cloud Storage notification.

    Attributes:
        event_type: ``OBJECT_FINALIZE``, ``OBJECT_DELETE``, ...
        bucket: bucket name.
        name: object name.
        generation: object generation (decimal string, as Google sends it).
        resource: the JSON object resource (``{}`` with ``payloadFormat=NONE``).
        event_time: ``eventTime`` attribute (RFC 3339), or "".
    """

    event_type: str
    bucket: str
    name: str
    generation: str
    resource: Mapping[str, Any] = field(default_factory=dict)
    event_time: str = ""

    @property
    def metadata(self) -> dict[str, str]:
        """The object's custom metadata (``x-goog-meta-*`` without the prefix)."""
        raw = self.resource.get("metadata")
        return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, Mapping) else {}

    def context(self, *, rule: str = "") -> dict[str, Any]:
        """Variables for :class:`~vbq.producers.bridge.template.Template` rendering."""
        basename = posixpath.basename(self.name)
        stem, dot, ext = basename.rpartition(".")
        if not dot or not stem:  # "file" or ".hidden": no extension
            stem, ext = basename, ""
        obj = {**self.resource, "bucket": self.bucket, "name": self.name}
        obj["generation"] = self.generation
        return {
            "object": obj,
            "metadata": self.metadata,
            "path": self.name.split("/"),
            "basename": basename,
            "stem": stem,
            "ext": ext,
            "dirname": posixpath.dirname(self.name),
            "generation": self.generation,
            "bucket": self.bucket,
            "name": self.name,
            "rule": rule,
        }


def is_storage_notification(attributes: Mapping[str, str]) -> bool:
    """Whether a message's attributes are those of a Cloud Storage notification."""
    return "eventType" in attributes and "bucketId" in attributes and "objectId" in attributes


def parse_notification(data: bytes, attributes: Mapping[str, str]) -> ObjectEvent:
    """Read a Cloud Storage notification.

    The attributes are authoritative for bucket, object and generation (they are present for
    every payload format); the data is the object resource with ``JSON_API_V1``.

    Raises:
        SpecError: a required attribute is missing or malformed, or the payload is not a JSON
            object (field = the attribute name or ``data``).
    """
    problems: list[dict[str, str]] = []
    for name in ("eventType", "bucketId", "objectId", "objectGeneration"):
        if not attributes.get(name):
            problems.append(_rule(name, "required", f"attribute {name} is missing"))
    generation = attributes.get("objectGeneration", "")
    if generation and not generation.isdigit():
        problems.append(_rule("objectGeneration", "integer", "must be a decimal integer"))
    resource: dict[str, Any] = {}
    payload_format = attributes.get("payloadFormat", PAYLOAD_JSON)
    if payload_format == PAYLOAD_JSON:
        try:
            parsed = json.loads(data) if data else {}
        except (ValueError, UnicodeDecodeError) as exc:
            problems.append(_rule("data", "json", f"not JSON: {exc}"))
        else:
            if isinstance(parsed, dict):
                resource = parsed
            else:
                problems.append(_rule("data", "type", "must be the JSON object resource"))
    elif payload_format != PAYLOAD_NONE:
        problems.append(_rule("payloadFormat", "enum", f"must be {PAYLOAD_JSON} or {PAYLOAD_NONE}"))
    if problems:
        raise SpecError(problems)
    return ObjectEvent(
        event_type=attributes["eventType"],
        bucket=attributes["bucketId"],
        name=attributes["objectId"],
        generation=generation,
        resource=resource,
        event_time=attributes.get("eventTime", ""),
    )


def object_resource(
    *,
    bucket: str,
    name: str,
    generation: int,
    size: int = 0,
    content_type: str = "application/octet-stream",
    metadata: Mapping[str, str] | None = None,
    time_created: datetime | None = None,
) -> dict[str, Any]:
    """A JSON API ``storage#object`` resource with the fields Google always sends.

    Used when the object cannot be read back (no storage emulator or credentials).
    """
    created = _rfc3339(time_created or datetime.now(UTC))
    resource: dict[str, Any] = {
        "kind": "storage#object",
        "id": f"{bucket}/{name}/{generation}",
        "selfLink": f"https://www.googleapis.com/storage/v1/b/{bucket}/o/{name}",
        "name": name,
        "bucket": bucket,
        "generation": str(generation),
        "metageneration": "1",
        "contentType": content_type,
        "timeCreated": created,
        "updated": created,
        "storageClass": "STANDARD",
        "size": str(size),
    }
    if metadata:
        resource["metadata"] = dict(metadata)
    return resource


def build_notification(
    resource: Mapping[str, Any],
    *,
    event_type: str = EVENT_FINALIZE,
    notification_config: str = "",
    event_time: datetime | None = None,
    overwrote_generation: str | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The ``(data, attributes)`` Google publishes for ``resource`` (``JSON_API_V1``).

    Args:
        resource: the object resource (needs ``bucket``, ``name``, ``generation``).
        event_type: one of Google's four event types.
        notification_config: the config's resource name (default: ``.../notificationConfigs/1``).
        event_time: when it happened (default: now).
        overwrote_generation: the generation this one replaced, if any.

    Raises:
        SpecError: unknown event type or a resource without bucket, name or generation.
    """
    if event_type not in EVENT_TYPES:
        raise SpecError.single("eventType", "enum", f"must be one of {sorted(EVENT_TYPES)}")
    missing = [k for k in ("bucket", "name", "generation") if not resource.get(k)]
    if missing:
        raise SpecError.single(missing[0], "required", f"the object resource needs {missing[0]}")
    bucket = str(resource["bucket"])
    attributes = {
        "notificationConfig": notification_config
        or f"projects/_/buckets/{bucket}/notificationConfigs/1",
        "eventType": event_type,
        "payloadFormat": PAYLOAD_JSON,
        "bucketId": bucket,
        "objectId": str(resource["name"]),
        "objectGeneration": str(resource["generation"]),
        "eventTime": _rfc3339(event_time or datetime.now(UTC)),
    }
    if overwrote_generation:
        attributes["overwroteGeneration"] = overwrote_generation
    data = json.dumps(dict(resource), separators=(",", ":")).encode()
    return data, attributes


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _rule(field_name: str, rule: str, message: str) -> dict[str, str]:
    return {"field": field_name, "rule": rule, "message": message}
