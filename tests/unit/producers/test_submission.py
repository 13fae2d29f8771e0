"""Submission's SDK-shaped properties, from a record (pure mapping; no store)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from vbq.errors import NotFoundError
from vbq.producers.submission import Submission
from vbq.spec import JobSpec
from vbq.states import SubmissionState
from vbq.store import SubmissionRecord

SPEC = JobSpec.from_sdk_kwargs(
    job_display_name="nightly",
    model_name="publishers/google/models/gemini-2.0-flash-001",
    gcs_source="gs://vbq-in/x.jsonl",
    gcs_destination_prefix="gs://vbq-out/y",
    labels={"team": "ml"},
)
JOB = {
    "name": "projects/123/locations/us-central1/batchPredictionJobs/456",
    "displayName": "nightly",
    "state": "JOB_STATE_SUCCEEDED",
    "labels": {"team": "ml", "vbq-submission": "a" * 32},
    "createTime": "2024-05-01T10:00:00.123456789Z",
    "startTime": "2024-05-01T10:01:00Z",
    "endTime": "2024-05-01T11:00:00.5Z",
    "updateTime": "not a time",
    "completionStats": {"successfulCount": "41", "failedCount": "1", "incompleteCount": "0"},
    "outputInfo": {"gcsOutputDirectory": "gs://vbq-out/y/prediction-x"},
    "partialFailures": [{"code": 3, "message": "bad row"}],
    "encryptionSpec": {"kmsKeyName": "projects/p/locations/l/keyRings/r/cryptoKeys/k"},
}


def record(**changes: object) -> SubmissionRecord:
    base = SubmissionRecord(
        id="a" * 32,
        state=SubmissionState.ACCEPTED,
        spec=SPEC,
        tenant="t",
        labels={"team": "ml"},
        created_at=1_714_557_600.0,
        updated_at=1_714_557_600.0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def handle(rec: SubmissionRecord, later: list[SubmissionRecord] | None = None) -> Submission:
    queue = list(later or [])

    def fetch(_: str) -> SubmissionRecord:
        return queue.pop(0) if queue else rec

    return Submission(record=rec, fetch=fetch, cancel=fetch)


def test_before_vertex_knows_the_job() -> None:
    sub = handle(record())
    assert sub.resource_name is None and sub.name is None
    assert sub.display_name == "nightly"
    assert sub.labels == {"team": "ml"}
    assert sub.create_time is None and sub.completion_stats is None
    assert sub.output_info is None and sub.error is None and sub.partial_failures == []
    assert sub.accepted_time == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert sub.job is None and sub.gca_resource is None


def test_properties_follow_the_sdk_from_the_vertex_resource() -> None:
    sub = handle(record(state=SubmissionState.SUCCEEDED, job=JOB, job_name=JOB["name"]))
    assert sub.resource_name == JOB["name"]
    assert sub.name == "456"
    assert sub.labels["vbq-submission"] == "a" * 32
    assert sub.create_time == datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert sub.end_time == datetime(2024, 5, 1, 11, 0, 0, 500000, tzinfo=UTC)
    assert sub.update_time is None  # malformed: None rather than an exception
    assert sub.completion_stats == {
        "successful_count": 41,
        "failed_count": 1,
        "incomplete_count": 0,
    }
    assert sub.output_info == {"gcs_output_directory": "gs://vbq-out/y/prediction-x"}
    assert sub.partial_failures == [{"code": 3, "message": "bad row"}]
    assert sub.encryption_spec == {"kms_key_name": JOB["encryptionSpec"]["kmsKeyName"]}  # type: ignore[index]
    assert sub.job == JOB
    d = sub.to_dict()
    assert d["create_time"] == "2024-05-01T10:00:00.123456Z"
    assert d["state"] == "SUCCEEDED" and d["request"]["job_display_name"] == "nightly"


def test_state_and_done_reread_the_store() -> None:
    later = [record(state=SubmissionState.RUNNING), record(state=SubmissionState.FAILED)]
    sub = handle(record(), later)
    assert sub.cached_state is SubmissionState.ACCEPTED
    assert sub.state is SubmissionState.RUNNING
    assert sub.done()
    assert sub.cached_state is SubmissionState.FAILED


def test_error_of_failed_job_and_of_rejected_submission() -> None:
    failed = handle(
        record(state=SubmissionState.FAILED, job={"error": {"code": 9, "message": "x"}})
    )
    assert failed.error == {"code": 9, "message": "x"}
    rejected = handle(record(state=SubmissionState.REJECTED, last_error="403: denied"))
    assert rejected.error == {"code": None, "message": "403: denied"}


def test_wait_propagates_not_found() -> None:
    def gone(_: str) -> SubmissionRecord:
        raise NotFoundError("gone")

    sub = Submission(record=record(), fetch=gone, cancel=gone)
    with pytest.raises(NotFoundError):
        sub.wait(timeout_s=1, poll_interval_s=0.01)


def test_wait_for_resource_creation() -> None:
    later = [record(), record(state=SubmissionState.SUBMITTED, job_name=JOB["name"])]
    assert handle(record(), later).wait_for_resource_creation(poll_interval_s=0.01) == JOB["name"]
    rejected = handle(record(state=SubmissionState.REJECTED))
    assert rejected.wait_for_resource_creation(timeout_s=1) is None
    with pytest.raises(TimeoutError):
        handle(record()).wait_for_resource_creation(timeout_s=0.05, poll_interval_s=0.01)
