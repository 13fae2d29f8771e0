"""Google's own SDK (REST transport) against ``vbq emulator vertex`` and ``vbq emulator gcs``."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform
from google.cloud.aiplatform_v1.types import JobState

from tests.integration.emulators.helpers import (
    gemini_request,
    new_bucket,
    upload_jsonl,
    wait_until,
)
from tests.support.emulators import VertexEmulator

pytestmark = pytest.mark.integration

FINISHED = {
    JobState.JOB_STATE_SUCCEEDED,
    JobState.JOB_STATE_PARTIALLY_SUCCEEDED,
    JobState.JOB_STATE_FAILED,
    JobState.JOB_STATE_CANCELLED,
    JobState.JOB_STATE_EXPIRED,
}


@pytest.fixture
def sdk(vertex_emulator: VertexEmulator) -> VertexEmulator:
    aiplatform.init(
        project="test-project",
        location="us-central1",
        api_transport="rest",
        api_endpoint=vertex_emulator.url,
        credentials=AnonymousCredentials(),
    )
    return vertex_emulator


def wait_finished(job: aiplatform.BatchPredictionJob) -> JobState:
    return wait_until(lambda: job.state if job.state in FINISHED else None)


def test_gemini_job_end_to_end(sdk: VertexEmulator, storage_client: Any) -> None:
    bucket = new_bucket(storage_client)
    source = upload_jsonl(
        bucket,
        "in/requests.jsonl",
        [gemini_request("hello world"), gemini_request("two words more"), {"nope": 1}],
    )
    job = aiplatform.BatchPredictionJob.submit(
        job_display_name="gemini-e2e",
        model_name="publishers/google/models/gemini-2.0-flash-001",
        gcs_source=source,
        gcs_destination_prefix=f"gs://{bucket.name}/out",
        labels={"team": "x"},
    )
    assert job.resource_name.startswith(
        "projects/test-project/locations/us-central1/batchPredictionJobs/"
    )
    assert wait_finished(job) == JobState.JOB_STATE_SUCCEEDED
    stats = job.completion_stats
    assert (stats.successful_count, stats.failed_count, stats.incomplete_count) == (2, 1, 0)
    directory = job.output_info.gcs_output_directory
    # Google's Gemini batch layout: prediction-model-{time}/predictions.jsonl.
    assert directory.startswith(f"gs://{bucket.name}/out/prediction-model-")
    stamp = directory.removeprefix(f"gs://{bucket.name}/out/prediction-model-")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", stamp), stamp
    assert job.to_dict()["startTime"] and job.to_dict()["endTime"]

    blobs = list(job.iter_outputs())
    assert [b.name.rsplit("/", 1)[-1] for b in blobs] == ["predictions.jsonl"]
    rows = [json.loads(line) for line in blobs[0].download_as_text().splitlines()]
    assert len(rows) == 3
    good = rows[0]
    assert good["status"] == ""
    assert good["request"] == gemini_request("hello world")["request"]
    candidate = good["response"]["candidates"][0]
    assert candidate["content"]["parts"][0]["text"] == "echo: hello world"
    assert candidate["finishReason"] == "STOP"
    usage = good["response"]["usageMetadata"]
    assert usage["promptTokenCount"] == 2
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"]
    assert rows[2]["status"] and "response" not in rows[2]


def test_custom_model_outputs_and_errors_files(sdk: VertexEmulator, storage_client: Any) -> None:
    bucket = new_bucket(storage_client)
    upload_jsonl(bucket, "in/part-1.jsonl", [{"x": 1}, {"x": 2}])
    upload_jsonl(bucket, "in/part-2.jsonl", [{"x": 3}, "this is not json"])
    job = aiplatform.BatchPredictionJob.submit(
        job_display_name="custom",
        model_name="1234567890",
        gcs_source=f"gs://{bucket.name}/in/part-*.jsonl",
        gcs_destination_prefix=f"gs://{bucket.name}/out",
    )
    assert wait_finished(job) == JobState.JOB_STATE_SUCCEEDED
    assert job.completion_stats.successful_count == 3
    assert job.completion_stats.failed_count == 1
    assert job.to_dict()["resourcesConsumed"]
    names = sorted(b.name.rsplit("/", 1)[-1] for b in job.iter_outputs())
    assert names == ["errors_00001.jsonl", "predictions_00001.jsonl"]
    directory = job.output_info.gcs_output_directory
    assert "/prediction-1234567890-" in directory
    blob_prefix = directory.removeprefix(f"gs://{bucket.name}/")
    bucket_obj = storage_client.bucket(bucket.name)
    predictions = bucket_obj.blob(f"{blob_prefix}/predictions_00001.jsonl").download_as_text()
    rows = [json.loads(line) for line in predictions.splitlines()]
    assert [r["instance"] for r in rows] == [{"x": 1}, {"x": 2}, {"x": 3}]
    assert all(r["prediction"]["echo"] == r["instance"] for r in rows)
    errors = bucket_obj.blob(f"{blob_prefix}/errors_00001.jsonl").download_as_text()
    error_rows = [json.loads(line) for line in errors.splitlines()]
    assert error_rows[0]["instance"] == "this is not json"
    assert error_rows[0]["error"]["code"] == 3 and error_rows[0]["error"]["message"]


def test_missing_input_fails_the_job(sdk: VertexEmulator, storage_client: Any) -> None:
    bucket = new_bucket(storage_client)
    job = aiplatform.BatchPredictionJob.submit(
        job_display_name="missing",
        model_name="publishers/google/models/gemini-2.0-flash-001",
        gcs_source=f"gs://{bucket.name}/does-not-exist.jsonl",
        gcs_destination_prefix=f"gs://{bucket.name}/out",
    )
    assert wait_finished(job) == JobState.JOB_STATE_FAILED
    assert job.error.code == 5
    assert "does-not-exist" in job.error.message


def test_list_with_label_filter(sdk: VertexEmulator) -> None:
    for team in ("x", "y", "x"):
        aiplatform.BatchPredictionJob.submit(
            job_display_name=f"job-{team}",
            model_name="publishers/google/models/gemini-2.0-flash-001",
            gcs_source="gs://nowhere/in.jsonl",
            gcs_destination_prefix="gs://nowhere/out",
            labels={"team": team},
        )
    found = aiplatform.BatchPredictionJob.list(filter='labels.team="x"')
    assert len(found) == 2
    assert {j.display_name for j in found} == {"job-x"}
    assert len(aiplatform.BatchPredictionJob.list()) == 3


def test_cancel_then_delete(sdk: VertexEmulator) -> None:
    sdk.configure(queued_s=1e6)  # still queued when cancelled, however slow the machine
    job = aiplatform.BatchPredictionJob.submit(
        job_display_name="to-cancel",
        model_name="publishers/google/models/gemini-2.0-flash-001",
        gcs_source="gs://nowhere/in.jsonl",
        gcs_destination_prefix="gs://nowhere/out",
    )
    assert job.state == JobState.JOB_STATE_QUEUED
    with pytest.raises(gexc.BadRequest, match=r"cannot be deleted"):
        job.delete()
    job.cancel()
    assert job.state in {JobState.JOB_STATE_CANCELLING, JobState.JOB_STATE_CANCELLED}
    assert wait_finished(job) == JobState.JOB_STATE_CANCELLED
    job.delete()
    with pytest.raises(gexc.NotFound):
        aiplatform.BatchPredictionJob(job.resource_name)
    assert sdk.stats()["requests"]["delete"] == 2  # the refused one and the real one
    (deleted,) = sdk.jobs()
    assert deleted["_deleted"] is True
