"""The Google surface's pure parts: names, rendering, error envelope, page tokens."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
import redis
from google.protobuf import json_format

from vbq.errors import NotFoundError, SpecError, TenantCapError
from vbq.producers.api.vertex.errors import GoogleApiError, response_for
from vbq.producers.api.vertex.listing import _decode, _encode, page_size_of
from vbq.producers.api.vertex.names import job_id, job_name, submission_id_of
from vbq.producers.api.vertex.render import (
    parse_read_mask,
    render_job,
    submission_states_for,
    view_of,
)
from vbq.spec import JobSpec
from vbq.spec.protos import message_class
from vbq.states import JobState, SubmissionState
from vbq.store import SubmissionRecord

SID = "0f" + "a" * 30
SPEC = JobSpec.from_sdk_kwargs(
    job_display_name="nightly",
    model_name="publishers/google/models/gemini-2.0-flash-001",
    gcs_source="gs://bkt/in.jsonl",
    gcs_destination_prefix="gs://bkt/out",
    labels={"team": "x"},
    machine_type="n1-standard-4",
    accelerator_type="NVIDIA_TESLA_T4",
    accelerator_count=1,
)
BASE = SubmissionRecord(
    id=SID,
    state=SubmissionState.ACCEPTED,
    spec=SPEC,
    tenant="team-a",
    labels={"team": "x"},
    project="proj-x",
    location="us-central1",
    model="publishers/google/models/gemini-2.0-flash-001",
    created_at=1_700_000_000.25,
    updated_at=1_700_000_001.5,
)
VERTEX_JOB = {
    "name": "projects/proj-x/locations/us-central1/batchPredictionJobs/777",
    "displayName": "nightly",
    "state": "JOB_STATE_SUCCEEDED",
    "labels": {"team": "x", "vbq-submission": SID},
    "completionStats": {"successfulCount": "2", "failedCount": "1"},
    "outputInfo": {"gcsOutputDirectory": "gs://bkt/out/prediction-x"},
    "createTime": "2023-11-14T22:13:25.000Z",
    "endTime": "2023-11-14T22:20:00Z",
}


def record(**changes: Any) -> SubmissionRecord:
    return replace(BASE, **changes)


def test_job_ids_are_submission_ids_in_decimal() -> None:
    assert submission_id_of(job_id(SID)) == SID
    assert job_id(SID) == str(int(SID, 16)) and job_id(SID).isdigit()
    assert job_name("p", "l", SID) == f"projects/p/locations/l/batchPredictionJobs/{job_id(SID)}"
    for bad in ("", "0" + job_id(SID), "12a", str(1 << 128), "-5", "1" * 40):
        assert submission_id_of(bad) is None
    assert submission_id_of("0") == "0" * 32


def test_a_queued_submission_shows_its_create_body_and_parses_as_googles_message() -> None:
    out = render_job(BASE, api_version="v1", int_enums=False)
    assert out["name"] == job_name("proj-x", "us-central1", SID)
    assert out["state"] == "JOB_STATE_QUEUED"
    assert out["displayName"] == "nightly" and out["labels"] == {"team": "x"}
    assert out["dedicatedResources"]["machineSpec"]["acceleratorType"] == "NVIDIA_TESLA_T4"
    assert out["createTime"].startswith("2023-11-14T22:13:20.25")
    json_format.ParseDict(out, message_class("BatchPredictionJob")())
    ints = render_job(BASE, api_version="v1beta1", int_enums=True)
    assert ints["state"] == 1 and ints["dedicatedResources"]["machineSpec"]["acceleratorType"] == 5


def test_a_vertex_job_shows_its_own_fields_under_vbqs_name() -> None:
    done = record(
        state=SubmissionState.SUCCEEDED, job_name=VERTEX_JOB["name"], job=VERTEX_JOB, version=4
    )
    out = render_job(done, api_version="v1", int_enums=True)
    assert out["name"] == job_name("proj-x", "us-central1", SID)
    assert out["state"] == int(JobState.JOB_STATE_SUCCEEDED)
    assert out["completionStats"] == {"successfulCount": "2", "failedCount": "1"}
    assert out["outputInfo"] == {"gcsOutputDirectory": "gs://bkt/out/prediction-x"}
    assert out["labels"] == {"team": "x"}  # vbq's own label is not shown
    assert out["createTime"] == "2023-11-14T22:13:25Z"
    assert out["inputConfig"]["gcsSource"]["uris"] == ["gs://bkt/in.jsonl"]
    submitted = record(
        state=SubmissionState.SUBMITTED,
        job_name="n",
        job={**VERTEX_JOB, "name": "n", "state": "JOB_STATE_QUEUED"},
    )
    assert render_job(submitted, api_version="v1", int_enums=False)["state"] == "JOB_STATE_QUEUED"


@pytest.mark.parametrize(
    ("last_error", "code"),
    [
        ("403 PERMISSION_DENIED: no", 7),
        ("invalid spec: spec: google_message", 3),
        ("retry budget exhausted", 14),
        ("Model publishers/x not found", 2),
    ],
)
def test_a_rejected_submission_is_a_failed_job_with_the_error(last_error: str, code: int) -> None:
    out = render_job(
        # Every change of a record bumps its version (renderings are cached by it).
        record(
            state=SubmissionState.REJECTED,
            last_error=last_error,
            finished_at=1_700_000_002.0,
            version=10 + len(last_error),
        ),
        api_version="v1",
        int_enums=False,
    )
    assert out["state"] == "JOB_STATE_FAILED"
    assert out["error"] == {"code": code, "message": last_error}
    assert out["endTime"].startswith("2023-11-14T22:13:22")


def test_cancelled_before_sent_and_the_cache_follows_versions() -> None:
    cancelled = record(state=SubmissionState.CANCELLED, version=2)
    out = render_job(cancelled, api_version="v1", int_enums=False)
    assert out["state"] == "JOB_STATE_CANCELLED" and out["error"]["code"] == 1
    again = render_job(
        record(state=SubmissionState.ACCEPTED, version=3), api_version="v1", int_enums=False
    )
    assert again["state"] == "JOB_STATE_QUEUED"


def test_read_mask_keeps_the_fields_asked_for_and_the_name() -> None:
    mask = parse_read_mask("displayName,labels", "v1")
    out = render_job(BASE, api_version="v1", int_enums=False, mask=mask)
    assert set(out) == {"name", "displayName", "labels"}
    assert parse_read_mask("display_name, state", "v1") is not None
    for bad in ("nope", "display_name,zzz", ","):
        with pytest.raises(GoogleApiError) as info:
            parse_read_mask(bad, "v1")
        assert info.value.http_status == 400


def test_states_and_views_for_filters() -> None:
    queued = submission_states_for(JobState.JOB_STATE_QUEUED)
    assert {SubmissionState.ACCEPTED, SubmissionState.SUBMITTING, SubmissionState.QUEUED} <= queued
    assert SubmissionState.SUBMITTED in queued
    assert submission_states_for(JobState.JOB_STATE_FAILED) == {
        SubmissionState.FAILED,
        SubmissionState.REJECTED,
    }
    view = view_of(record(state=SubmissionState.SUCCEEDED, job_name="n", job=VERTEX_JOB))
    assert view.state == "JOB_STATE_SUCCEEDED" and view.labels == {"team": "x"}
    assert view.model_display_name == "gemini-2.0-flash-001" and view.display_name == "nightly"


def _body(response: Any) -> dict[str, Any]:
    return dict(json.loads(response.body))


def test_tenant_caps_are_resource_exhausted_with_retry_info() -> None:
    resp = response_for(
        TenantCapError(tenant="team-a", cap="max_queued", limit=10, retry_after_s=2.5)
    )
    body = _body(resp)["error"]
    assert resp.status_code == 429 and body["status"] == "RESOURCE_EXHAUSTED"
    assert resp.headers["Retry-After"] == "3"
    kinds = {d["@type"].rsplit(".", 1)[-1]: d for d in body["details"]}
    assert kinds["RetryInfo"]["retryDelay"] == "3s"
    assert kinds["ErrorInfo"]["metadata"] == {
        "tenant": "team-a",
        "cap": "max_queued",
        "limit": "10",
    }


def test_other_errors_map_to_googles_codes() -> None:
    spec = _body(response_for(SpecError.single("batch_prediction_job.model", "format", "bad")))
    assert spec["error"]["status"] == "INVALID_ARGUMENT"
    assert spec["error"]["details"][0]["fieldViolations"] == [
        {"field": "batch_prediction_job.model", "description": "bad"}
    ]
    assert response_for(NotFoundError("x")).status_code == 404
    down = response_for(redis.ConnectionError("down"))
    assert down.status_code == 503 and _body(down)["error"]["status"] == "UNAVAILABLE"
    bug = response_for(ZeroDivisionError())
    assert bug.status_code == 500 and _body(bug)["error"]["status"] == "INTERNAL"


def test_page_sizes_and_tokens() -> None:
    assert (page_size_of(None), page_size_of(0), page_size_of(5000)) == (100, 100, 1000)
    with pytest.raises(GoogleApiError):
        page_size_of(-1)
    token = _encode((1.5, SID), "fp")
    assert _decode(token, "fp") == (1.5, SID)
    for bad, fp in ((token, "other"), ("junk", "fp"), (_encode((float("nan"), SID), "fp"), "fp")):
        with pytest.raises(GoogleApiError):
            _decode(bad, fp)
