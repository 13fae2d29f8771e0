"""Google's ``google-genai`` SDK (``vertexai=True``, ``base_url`` = ``vbq api``) on v1 and
v1beta1: ``client.batches`` create, get, list, cancel and delete."""

from __future__ import annotations

import time
from typing import Any

import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from google.oauth2.credentials import Credentials

from tests.integration.emulators.helpers import gemini_request, new_bucket, upload_jsonl
from tests.integration.vertex_surface.conftest import LOCATION, PROJECT, Stack
from vbq.producers.api.vertex import submission_id_of

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("vertex_surface")]

DONE = {
    types.JobState.JOB_STATE_SUCCEEDED,
    types.JobState.JOB_STATE_PARTIALLY_SUCCEEDED,
    types.JobState.JOB_STATE_FAILED,
    types.JobState.JOB_STATE_CANCELLED,
    types.JobState.JOB_STATE_EXPIRED,
}


def client_for(stack: Stack, api_version: str) -> genai.Client:
    return genai.Client(
        vertexai=True,
        project=PROJECT,
        location=LOCATION,
        credentials=Credentials(token=stack.key),
        http_options=types.HttpOptions(base_url=stack.url, api_version=api_version),
    )


def wait_done(client: genai.Client, name: str, timeout_s: float = 90.0) -> types.BatchJob:
    deadline = time.monotonic() + timeout_s
    while True:
        job = client.batches.get(name=name)
        if job.state in DONE:
            return job
        assert time.monotonic() < deadline, f"{name} still {job.state}"
        time.sleep(0.3)


@pytest.mark.parametrize("api_version", ["v1beta1", "v1"])
def test_batches_create_get_list_cancel_delete(
    stack: Stack, storage_client: Any, api_version: str
) -> None:
    client = client_for(stack, api_version)
    bucket = new_bucket(storage_client)
    source = upload_jsonl(bucket, "in/requests.jsonl", [gemini_request("hello genai")])
    display = f"genai-{api_version}-{bucket.name}"

    # Short model name, gs:// source, genai's default destination ({source}/dest).
    job = client.batches.create(
        model="gemini-2.0-flash-001", src=source, config={"display_name": display}
    )
    assert job.name and job.name.startswith(f"projects/{PROJECT}/locations/{LOCATION}/")
    assert job.state == types.JobState.JOB_STATE_QUEUED
    assert job.model == "publishers/google/models/gemini-2.0-flash-001"
    done = wait_done(client, job.name)
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED
    assert done.name == job.name
    assert done.dest is not None and done.dest.gcs_uri == f"gs://{bucket.name}/in/requests/dest"
    assert done.completion_stats is not None and done.completion_stats.successful_count == 1
    # A bare numeric id works too (genai accepts digits only).
    job_id = job.name.rsplit("/", 1)[-1]
    assert job_id.isdigit() and submission_id_of(job_id) is not None
    assert client.batches.get(name=job_id).name == job.name

    listed = [j.name for j in client.batches.list(config={"page_size": 1})]
    assert job.name in listed
    filtered = list(client.batches.list(config={"filter": f'display_name="{display}"'}))
    assert [j.name for j in filtered] == [job.name]

    # Cancel one that Vertex keeps queued.
    before = stack.vertex._admin("GET", "config")["queued_s"]
    stack.vertex.configure(queued_s=1e6)
    try:
        queued = client.batches.create(
            model="gemini-2.0-flash-001",
            src=source,
            config={"display_name": f"{display}-cancel", "dest": f"gs://{bucket.name}/cancel"},
        )
        with pytest.raises(genai_errors.ClientError) as refused:
            client.batches.delete(name=queued.name)
        assert refused.value.code == 400 and refused.value.status == "FAILED_PRECONDITION"
        client.batches.cancel(name=queued.name)
        assert wait_done(client, queued.name).state == types.JobState.JOB_STATE_CANCELLED
    finally:
        stack.vertex.configure(queued_s=before)

    deleted = client.batches.delete(name=job.name)
    assert deleted.done is True
    client.batches.delete(name=queued.name)
    with pytest.raises(genai_errors.ClientError) as missing:
        client.batches.get(name=job.name)
    assert missing.value.code == 404 and missing.value.status == "NOT_FOUND"


def test_bigquery_source_gets_genai_default_destination(stack: Stack) -> None:
    client = client_for(stack, "v1beta1")
    job = client.batches.create(model="google/gemini-2.0-flash-001", src="bq://surface-proj.ds.t")
    assert job.src is not None and job.src.bigquery_uri == "bq://surface-proj.ds.t"
    assert job.dest is not None and job.dest.bigquery_uri is not None
    assert job.dest.bigquery_uri.startswith("bq://surface-proj.ds.t_dest_")
    assert (job.display_name or "").startswith("genai_batch_job_")
