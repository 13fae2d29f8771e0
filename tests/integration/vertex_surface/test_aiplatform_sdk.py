"""Google's ``google-cloud-aiplatform`` SDK (REST transport) pointed at ``vbq api``.

The one-line change: ``aiplatform.init(api_endpoint=<vbq api>, api_transport="rest",
credentials=Credentials(token=<vbq API key>))``. Everything else is the SDK's own code.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.auth.exceptions import RefreshError
from google.cloud import aiplatform
from google.cloud.aiplatform_v1.types import JobState
from google.oauth2.credentials import Credentials

from tests.integration.emulators.helpers import gemini_request, new_bucket, upload_jsonl
from tests.integration.vertex_surface.conftest import LOCATION, PROJECT, TENANT, Stack
from vbq.producers import ApiKeyCredentials
from vbq.producers.api.vertex import submission_id_of
from vbq.store import JobStore

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("vertex_surface")]

GEMINI = "publishers/google/models/gemini-2.0-flash-001"
FINISHED = {
    JobState.JOB_STATE_SUCCEEDED,
    JobState.JOB_STATE_PARTIALLY_SUCCEEDED,
    JobState.JOB_STATE_FAILED,
    JobState.JOB_STATE_CANCELLED,
    JobState.JOB_STATE_EXPIRED,
}
NAME_RE = re.compile(rf"^projects/{PROJECT}/locations/{LOCATION}/batchPredictionJobs/[1-9][0-9]*$")


@pytest.fixture
def sdk(stack: Stack) -> Iterator[Stack]:
    # The vbq key for vbq api only; the storage client iter_outputs() builds from the same
    # credentials gets the fallback (anonymous, for the storage emulator; ADC in production).
    creds = ApiKeyCredentials(stack.key, endpoint=stack.url, fallback=AnonymousCredentials())
    aiplatform.init(
        project=PROJECT,
        location=LOCATION,
        api_transport="rest",
        api_endpoint=stack.url,
        credentials=creds,
    )
    yield stack


def wait_finished(job: aiplatform.BatchPredictionJob, timeout_s: float = 90.0) -> JobState:
    deadline = time.monotonic() + timeout_s
    while (state := job.state) not in FINISHED:
        assert time.monotonic() < deadline, f"still {state.name} after {timeout_s}s"
        time.sleep(0.3)
    return state


def vertex_jobs_of(stack: Stack, submission_id: str) -> list[dict[str, Any]]:
    return [
        j
        for j in stack.vertex.jobs()
        if (j.get("labels") or {}).get("vbq-submission") == submission_id
    ]


def test_submit_read_outputs_and_list(sdk: Stack, storage_client: Any) -> None:
    bucket = new_bucket(storage_client)
    source = upload_jsonl(
        bucket,
        "in/requests.jsonl",
        [gemini_request("hello world"), gemini_request("two words more"), {"nope": 1}],
    )
    suite = uuid.uuid4().hex[:12]
    job = aiplatform.BatchPredictionJob.submit(
        job_display_name="sdk-gemini",
        model_name=GEMINI,
        gcs_source=source,
        gcs_destination_prefix=f"gs://{bucket.name}/out",
        labels={"suite": suite},
    )
    # The name is vbq's, stable from the first answer, which is QUEUED (vbq has the job).
    assert NAME_RE.fullmatch(job.resource_name), job.resource_name
    assert job.gca_resource.state == JobState.JOB_STATE_QUEUED
    first_name = job.resource_name
    assert wait_finished(job) == JobState.JOB_STATE_SUCCEEDED
    assert job.resource_name == first_name
    stats = job.completion_stats
    assert (stats.successful_count, stats.failed_count, stats.incomplete_count) == (2, 1, 0)
    directory = job.output_info.gcs_output_directory
    assert directory.startswith(f"gs://{bucket.name}/out/prediction-model-")  # Gemini layout
    assert job.create_time and job.start_time and job.end_time
    assert dict(job.labels) == {"suite": suite}  # vbq's own label is not shown

    blobs = list(job.iter_outputs())
    assert [b.name.rsplit("/", 1)[-1] for b in blobs] == ["predictions.jsonl"]
    rows = [json.loads(line) for line in blobs[0].download_as_text().splitlines()]
    assert len(rows) == 3
    assert rows[0]["response"]["candidates"][0]["content"]["parts"][0]["text"] == (
        "echo: hello world"
    )

    # Exactly one Vertex job, in the key's tenant, under the submission label.
    sid = submission_id_of(first_name.rsplit("/", 1)[-1])
    assert sid is not None
    assert len(vertex_jobs_of(sdk, sid)) == 1
    store = JobStore(redis.Redis.from_url(sdk.redis_url), settings=sdk.settings)
    assert store.get(sid).tenant == TENANT

    other = aiplatform.BatchPredictionJob.submit(
        job_display_name="sdk-other",
        model_name=GEMINI,
        gcs_source=source,
        gcs_destination_prefix=f"gs://{bucket.name}/out2",
        labels={"suite": suite, "kind": "other"},
    )
    found = aiplatform.BatchPredictionJob.list(filter=f'labels.suite="{suite}"')
    assert {j.resource_name for j in found} == {first_name, other.resource_name}
    found = aiplatform.BatchPredictionJob.list(
        filter=f'labels.suite="{suite}" AND NOT labels.kind:* AND state="JOB_STATE_SUCCEEDED"'
    )
    assert [j.resource_name for j in found] == [first_name]
    assert {j.display_name for j in found} == {"sdk-gemini"}

    # Another tenant's key sees none of it.
    aiplatform.init(credentials=Credentials(token=sdk.other_key))
    assert aiplatform.BatchPredictionJob.list(filter=f'labels.suite="{suite}"') == []
    with pytest.raises(gexc.NotFound):
        aiplatform.BatchPredictionJob(first_name)
    # An unknown key is 401; google-auth then tries to refresh the static token and says so,
    # exactly as it would against Google.
    aiplatform.init(credentials=Credentials(token="vbq_not-a-key"))
    with pytest.raises(RefreshError):
        aiplatform.BatchPredictionJob(first_name)


def test_cancel_then_delete(sdk: Stack) -> None:
    before = sdk.vertex._admin("GET", "config")["queued_s"]
    sdk.vertex.configure(queued_s=1e6)  # still queued at Vertex when cancelled
    try:
        job = aiplatform.BatchPredictionJob.submit(
            job_display_name="to-cancel",
            model_name=GEMINI,
            gcs_source="gs://nowhere/in.jsonl",
            gcs_destination_prefix="gs://nowhere/out",
        )
        sid = submission_id_of(job.name)
        assert sid is not None
        deadline = time.monotonic() + 60
        while not vertex_jobs_of(sdk, sid):  # wait until Vertex has it: cancel goes there
            assert time.monotonic() < deadline, sdk.tails()
            time.sleep(0.2)
        with pytest.raises(gexc.BadRequest, match="cannot be deleted"):
            job.delete()
        job.cancel()
        assert wait_finished(job) == JobState.JOB_STATE_CANCELLED
        assert job.error.message
        with pytest.raises(gexc.BadRequest, match="cannot be cancelled"):
            job.cancel()
        job.delete()
        with pytest.raises(gexc.NotFound):
            aiplatform.BatchPredictionJob(job.resource_name)
        assert sdk.vertex.stats()["requests"].get("cancel", 0) >= 1
        # The workers delete the Vertex job at Google too (vbq.purge, under the read limit).
        deadline = time.monotonic() + 60
        while not vertex_jobs_of(sdk, sid)[0].get("_deleted"):
            assert time.monotonic() < deadline, f"Vertex job not deleted\n{sdk.tails()}"
            time.sleep(0.3)
    finally:
        sdk.vertex.configure(queued_s=before)
