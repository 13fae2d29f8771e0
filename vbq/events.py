"""The job event: what vbq publishes to Pub/Sub on every state change.

Schema ``vbq.job-event/1`` (docs/architecture.md § Events). The data is JSON; the attributes repeat
the fields subscribers filter on; the ordering key is the submission id. ``event_id`` is
deterministic, ``{submission_id}:{state}``, so a redelivered or re-published event is recognised
and a handler runs once per event.

Two encodings of the same event: :meth:`JobEvent.to_json` (``job`` and ``request.metadata`` as
JSON objects) and :meth:`JobEvent.to_schema_json`, for a topic that validates messages against
the Pub/Sub schema of :mod:`vbq.pubsub.event_schema` (the two open-ended objects as JSON text,
because a Pub/Sub schema cannot describe arbitrary JSON). :meth:`JobEvent.from_json` reads both.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vbq.errors import EventError

__all__ = [
    "EVENT_SCHEMA",
    "EVENT_TYPES",
    "EventRequest",
    "JobEvent",
    "event_id_for",
]

EVENT_SCHEMA = "vbq.job-event/1"

EVENT_TYPES: frozenset[str] = frozenset(
    {
        "job.submitted",
        "job.queued",
        "job.pending",
        "job.running",
        "job.cancelling",
        "job.paused",
        "job.updating",
        "job.succeeded",
        "job.partially_succeeded",
        "job.failed",
        "job.cancelled",
        "job.expired",
        "job.rejected",
        "job.stale",
        "job.retries_exhausted",
        "request.succeeded",
        "request.failed",
    }
)

_MAX_EVENT_BYTES = 9 * 1024 * 1024  # Pub/Sub's limit is 10 MB per message


def event_id_for(submission_id: str, state: str) -> str:
    """The deterministic event id of ``submission_id`` entering ``state``."""
    return f"{submission_id}:{state}"


class EventRequest(BaseModel):
    """What the submitter attached to the request: tenant, labels, metadata, priority
    (``interactive``, ``default`` or ``bulk``; ``"default"`` when unknown, e.g. a packed
    request or an event written before the field existed); and the location the job was
    placed in (``""`` when unknown, e.g. a packed request)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant: str = "default"
    location: str = ""
    priority: str = "default"
    labels: dict[str, str] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("metadata", mode="before")
    @classmethod
    def _metadata_text(cls, value: Any) -> Any:
        return _json_text(value, empty={})


class JobEvent(BaseModel):
    """One state change of one submission.

    Attributes:
        schema_: always ``vbq.job-event/1`` (``schema`` on the wire).
        event_id: ``{submission_id}:{state}``; identical on every redelivery.
        type: ``job.succeeded`` and friends (:data:`EVENT_TYPES`).
        submission_id: the vbq submission.
        state: the new submission state (``SUCCEEDED``).
        previous_state: the state before the change (None for the first event).
        occurred_at: when vbq recorded the change (UTC).
        job: the Vertex ``BatchPredictionJob`` resource as returned by the API, or None when
            no Vertex job exists (``job.rejected`` before create).
        request: tenant, labels and metadata from the submission.
        results: what the job's outputs held, for finished Gemini jobs and packs of requests
            (request counts, token sums, estimated cost; docs/contracts.md § Requests and
            packing); for ``request.*`` events, the request's outcome. None otherwise.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    schema_: Literal["vbq.job-event/1"] = Field(default="vbq.job-event/1", alias="schema")
    event_id: str = Field(min_length=3, max_length=512)
    type: str
    submission_id: str = Field(min_length=1, max_length=128)
    state: str = Field(min_length=1, max_length=64)
    previous_state: str | None = None
    occurred_at: datetime
    job: dict[str, Any] | None = None
    request: EventRequest = Field(default_factory=EventRequest)
    results: dict[str, Any] | None = None

    @field_validator("job", mode="before")
    @classmethod
    def _job_text(cls, value: Any) -> Any:
        return _json_text(value, empty=None)

    @field_validator("results", mode="before")
    @classmethod
    def _results_text(cls, value: Any) -> Any:
        return _json_text(value, empty=None)

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in EVENT_TYPES:
            raise ValueError(f"unknown event type {value!r}")
        return value

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("occurred_at must carry a timezone")
        return value.astimezone(UTC)

    @classmethod
    def create(
        cls,
        *,
        type: str,
        submission_id: str,
        state: str,
        previous_state: str | None,
        job: dict[str, Any] | None = None,
        tenant: str = "default",
        labels: dict[str, str] | None = None,
        metadata: dict[str, Any] | None = None,
        location: str = "",
        priority: str = "default",
        occurred_at: datetime | None = None,
        event_state: str | None = None,
    ) -> JobEvent:
        """Build an event with its deterministic id.

        ``event_state`` overrides the state used in the id (``STALE`` for ``job.stale``, so a
        warning never shares an id with a transition).
        """
        try:
            return cls(
                event_id=event_id_for(submission_id, event_state or state),
                type=type,
                submission_id=submission_id,
                state=state,
                previous_state=previous_state,
                occurred_at=occurred_at or datetime.now(UTC),
                job=job,
                request=EventRequest(
                    tenant=tenant,
                    location=location,
                    priority=priority,
                    labels=dict(labels or {}),
                    metadata=dict(metadata or {}),
                ),
            )
        except ValidationError as exc:
            raise EventError(f"invalid event: {_first_error(exc)}") from None

    # -- wire -----------------------------------------------------------------------------------

    def to_json(self) -> str:
        """The message data: compact JSON, ``schema`` first (``results`` only when set)."""
        return self.model_dump_json(
            by_alias=True, exclude={"results"} if self.results is None else None
        )

    def to_bytes(self) -> bytes:
        """The message data as UTF-8 bytes."""
        return self.to_json().encode()

    def to_schema_json(self) -> str:
        """The event as the Pub/Sub schema ``vbq.job-event/1`` validates it (JSON encoding):
        ``job`` and ``request.metadata`` as JSON text (``""`` / ``"{}"`` when empty)."""
        data = self.model_dump(mode="json", by_alias=True)
        job = data["job"]
        data["job"] = json.dumps(job, separators=(",", ":")) if job is not None else ""
        request = data["request"]
        request["metadata"] = json.dumps(request["metadata"], separators=(",", ":"))
        if data.get("results") is None:
            data.pop("results", None)  # as in to_json: older schema revisions know no results
        else:
            data["results"] = json.dumps(data["results"], separators=(",", ":"))
        return json.dumps(data, separators=(",", ":"))

    def attributes(self) -> dict[str, str]:
        """Pub/Sub attributes subscribers can filter on."""
        return {
            "event_type": self.type,
            "state": self.state,
            "submission_id": self.submission_id,
            "tenant": self.request.tenant,
            "event_id": self.event_id,
            "schema": EVENT_SCHEMA,
        }

    @property
    def ordering_key(self) -> str:
        """Pub/Sub ordering key: events of one submission arrive in order."""
        return self.submission_id

    @classmethod
    def from_json(cls, data: bytes | str) -> JobEvent:
        """Parse message data.

        Raises:
            EventError: not JSON, wrong schema, or a field breaks its rule (names it).
        """
        if isinstance(data, bytes | bytearray) and len(data) > _MAX_EVENT_BYTES:
            raise EventError(f"event is {len(data)} bytes, over {_MAX_EVENT_BYTES}")
        # Fast path (every message a subscriber or the relay reads): pydantic parses and
        # validates the JSON in one pass. It takes the field's default when ``schema`` is
        # absent, so that case, and every invalid message, goes the slow path below, which
        # names the problem exactly as before.
        try:
            event = cls.model_validate_json(data)
        except ValidationError:
            pass
        else:
            if "schema_" in event.model_fields_set:
                return event
        if isinstance(data, bytes | bytearray):
            try:
                text = bytes(data).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise EventError(f"event data is not UTF-8: {exc.reason}") from None
        else:
            text = data
        try:
            raw = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise EventError(f"event data is not JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise EventError("event data must be a JSON object")
        schema = raw.get("schema")
        if schema != EVENT_SCHEMA:
            raise EventError(f"schema: expected {EVENT_SCHEMA!r}, got {schema!r}")
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise EventError(f"invalid event: {_first_error(exc)}") from None


def _json_text(value: Any, *, empty: Any) -> Any:
    # The schema encoding carries open-ended objects as JSON text; read them back.
    if not isinstance(value, str):
        return value
    if not value:
        return empty
    try:
        return json.loads(value)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"not JSON text: {exc}") from None


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "event"
    return f"{where}: {err.get('msg', 'invalid')}"
