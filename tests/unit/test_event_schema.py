"""vbq's events against its own Pub/Sub schema (the emulator's protobuf validation)."""

from __future__ import annotations

import json

import pytest
from vbq_emulators.errors import SchemaMessageError
from vbq_emulators.pubsub.schema_proto import ProtoSchema

from vbq.events import EVENT_TYPES, JobEvent
from vbq.pubsub.event_schema import EVENT_SCHEMA_DEFINITION
from vbq.subscribers.replay import parse_since

JOB = {
    "name": "projects/p/locations/us-central1/batchPredictionJobs/1",
    "state": "JOB_STATE_SUCCEEDED",
    "modelParameters": {"temperature": 0.2, "nested": [1, "x", None, {"a": True}]},
    "completionStats": {"successfulCount": "10"},
    "labels": {"vbq-submission": "s"},
}


@pytest.fixture(scope="module")
def schema() -> ProtoSchema:
    return ProtoSchema(EVENT_SCHEMA_DEFINITION)


@pytest.mark.parametrize("type_", sorted(EVENT_TYPES))
def test_every_event_type_passes_in_the_schema_encoding(schema: ProtoSchema, type_: str) -> None:
    event = JobEvent.create(
        type=type_,
        submission_id="s" * 32,
        state="SUCCEEDED",
        previous_state=None if type_ == "job.submitted" else "RUNNING",
        job=None if type_ == "job.rejected" else JOB,
        tenant="team-a",
        labels={"k": "v"},
        metadata={"i": 1, "deep": {"list": [1, 2]}},
    )
    data = event.to_schema_json().encode()
    schema.validate_json(data)
    assert JobEvent.from_json(data) == event  # subscribers read it back unchanged


@pytest.mark.parametrize("priority", ["interactive", "default", "bulk"])
def test_priority_and_location_travel_in_both_encodings(schema: ProtoSchema, priority: str) -> None:
    event = JobEvent.create(
        type="job.submitted",
        submission_id="s" * 32,
        state="SUBMITTED",
        previous_state="ACCEPTED",
        job=JOB,
        tenant="team-a",
        location="europe-west4",
        priority=priority,
    )
    plain = event.to_bytes()
    assert json.loads(plain)["request"]["priority"] == priority
    assert JobEvent.from_json(plain) == event
    encoded = event.to_schema_json().encode()
    schema.validate_json(encoded)
    request = json.loads(encoded)["request"]
    assert (request["priority"], request["location"]) == (priority, "europe-west4")
    assert JobEvent.from_json(encoded).request.priority == priority


def test_an_event_without_priority_reads_as_default() -> None:
    """Events written before the field existed (and request.* events of a pack)."""
    event = JobEvent.create(
        type="job.running", submission_id="s", state="RUNNING", previous_state="SUBMITTED"
    )
    assert event.request.priority == "default"
    old = json.loads(event.to_bytes())
    del old["request"]["priority"]
    assert JobEvent.from_json(json.dumps(old).encode()).request.priority == "default"


def test_the_plain_encoding_does_not_match_the_schema(schema: ProtoSchema) -> None:
    event = JobEvent.create(
        type="job.succeeded",
        submission_id="s",
        state="SUCCEEDED",
        previous_state="RUNNING",
        job=JOB,
    )
    with pytest.raises(SchemaMessageError):
        schema.validate_json(event.to_bytes())
    with pytest.raises(SchemaMessageError):
        schema.validate_json(json.dumps({"schema": "vbq.job-event/1", "oops": 1}).encode())


def test_parse_since() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
    assert parse_since("90s", now=now) == datetime(2026, 1, 2, 11, 58, 30, tzinfo=UTC)
    assert parse_since("2h", now=now) == datetime(2026, 1, 2, 10, 0, tzinfo=UTC)
    assert parse_since("2026-01-01T00:00:00Z") == datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_since("2026-01-01T00:00:00") == datetime(2026, 1, 1, tzinfo=UTC)
    from vbq.errors import ConfigError

    with pytest.raises(ConfigError, match="--since"):
        parse_since("last tuesday")


def test_results_travel_in_the_schema_encoding(schema: ProtoSchema) -> None:
    event = JobEvent.create(
        type="job.succeeded",
        submission_id="s" * 32,
        state="SUCCEEDED",
        previous_state="RUNNING",
        job=JOB,
    ).model_copy(update={"results": {"requests": 3, "usage": {"total": 9}}})
    data = event.to_schema_json().encode()
    schema.validate_json(data)
    assert JobEvent.from_json(data) == event
    assert JobEvent.from_json(event.to_bytes()) == event
