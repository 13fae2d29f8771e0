"""Topic settings: validation of CreateTopic bodies and UpdateTopic masks (structure only; the
broker checks that a named schema and its revisions exist)."""

from __future__ import annotations

from typing import Any

from google.pubsub_v1 import types

from vbq_emulators.pubsub.config import TopicPb, seconds, validate_name
from vbq_emulators.pubsub.status import StatusError

__all__ = ["DELETED_SCHEMA", "apply_topic_update", "normalize_topic", "topic_retention_s"]

DELETED_SCHEMA = "_deleted-schema_"
"""What a topic's ``schema_settings.schema`` reads after its schema was deleted (as on Google)."""

MIN_TOPIC_RETENTION_S, MAX_TOPIC_RETENTION_S = 600, 31 * 24 * 3600
_ENCODINGS = {int(types.Encoding.JSON), int(types.Encoding.BINARY)}

# Fields UpdateTopic may change (Google refuses the rest, such as the name).
_UPDATABLE = {
    "labels",
    "message_storage_policy",
    "kms_key_name",
    "schema_settings",
    "message_retention_duration",
    "ingestion_data_source_settings",
    "message_transforms",
}


def topic_retention_s(topic: Any) -> float:
    """The topic's ``message_retention_duration`` in seconds (0 when unset)."""
    if topic is None or not topic.HasField("message_retention_duration"):
        return 0.0
    return seconds(topic.message_retention_duration)


def _check(topic: Any) -> None:
    if topic.HasField("message_retention_duration"):
        retention = seconds(topic.message_retention_duration)
        if not MIN_TOPIC_RETENTION_S <= retention <= MAX_TOPIC_RETENTION_S:
            raise StatusError.invalid_argument(
                f"Invalid message_retention_duration: {retention}s (must be between "
                f"{MIN_TOPIC_RETENTION_S}s and {MAX_TOPIC_RETENTION_S}s)."
            )
    if topic.HasField("schema_settings"):
        settings = topic.schema_settings
        if not settings.schema:
            raise StatusError.invalid_argument("Invalid schema_settings: schema is required.")
        if settings.schema != DELETED_SCHEMA:
            validate_name(settings.schema.split("@", 1)[0], "schemas")
            if "@" in settings.schema:
                raise StatusError.invalid_argument(
                    "Invalid schema_settings.schema: name the schema without a revision; "
                    "use first_revision_id / last_revision_id."
                )
        if int(settings.encoding) not in _ENCODINGS:
            raise StatusError.invalid_argument(
                "Invalid schema_settings.encoding: must be JSON or BINARY."
            )


def normalize_topic(topic: Any) -> Any:
    """A copy of a CreateTopic body, checked.

    Raises:
        StatusError: ``INVALID_ARGUMENT`` for a bad name, retention or schema settings.
    """
    validate_name(topic.name, "topics")
    out = TopicPb()
    out.CopyFrom(topic)
    _check(out)
    out.state = TopicPb.State.ACTIVE
    return out


def apply_topic_update(current: Any, update: Any, paths: list[str]) -> Any:
    """The topic after an UpdateTopic with ``paths`` as the field mask.

    ``schema_settings.first_revision_id`` and the like change one sub-field; a top-level path
    replaces the field (or clears it when the update leaves it unset).

    Raises:
        StatusError: ``INVALID_ARGUMENT`` for an empty mask, an immutable or unknown field, or a
            value out of range.
    """
    if not paths:
        raise StatusError.invalid_argument("The update_mask must not be empty.")
    out = TopicPb()
    out.CopyFrom(current)
    for path in paths:
        top, _, sub = path.partition(".")
        if top not in _UPDATABLE:
            raise StatusError.invalid_argument(f"Invalid update_mask provided: {path!r}.")
        field = out.DESCRIPTOR.fields_by_name[top]
        if sub:
            if field.message_type is None or sub not in field.message_type.fields_by_name:
                raise StatusError.invalid_argument(f"Invalid update_mask provided: {path!r}.")
            setattr(getattr(out, top), sub, getattr(getattr(update, top), sub))
        elif top == "labels":
            out.labels.clear()
            out.labels.update(update.labels)
        elif field.is_repeated:
            out.ClearField(top)
            getattr(out, top).extend(getattr(update, top))
        elif field.message_type is not None:
            if update.HasField(top):
                getattr(out, top).CopyFrom(getattr(update, top))
            else:
                out.ClearField(top)
        else:
            setattr(out, top, getattr(update, top))
    _check(out)
    return out
