"""``Client.create_batch`` (google-genai's arguments) and ``Client.delete``."""

from __future__ import annotations

import pytest
from google.genai import types

from tests.integration.producers.conftest import submitted_ids
from vbq.errors import NotFoundError, SpecError, StateConflictError
from vbq.producers import Client
from vbq.states import SubmissionState as S

pytestmark = pytest.mark.integration


def test_create_batch_keeps_genais_arguments(client: Client, redis_url: str) -> None:
    sub = client.create_batch(
        model="gemini-2.0-flash-001",
        src="gs://bkt/prompts/day.jsonl",
        config=types.CreateBatchJobConfig(display_name="nightly"),
        labels={"team": "x"},
        tenant="team-a",
    )
    assert sub.record.spec.to_dict() == {
        "job_display_name": "nightly",
        "model_name": "publishers/google/models/gemini-2.0-flash-001",
        "gcs_source": ["gs://bkt/prompts/day.jsonl"],
        "gcs_destination_prefix": "gs://bkt/prompts/day/dest",
        "labels": {"team": "x"},
    }
    assert sub.tenant == "team-a" and submitted_ids(redis_url) == [sub.submission_id]
    bq = client.create_batch(model="google/gemini-2.0-flash", src="bq://test-project.d.t")
    assert bq.display_name and bq.display_name.startswith("genai_batch_job_")
    assert (bq.record.spec.bigquery_destination_prefix or "").startswith(
        "bq://test-project.d.t_dest_"
    )
    with pytest.raises(SpecError) as info:
        client.create_batch(model="gemini-2.0-flash-001", src=[{"contents": []}])
    assert "src" in info.value.fields


def test_create_batch_with_a_key_builds_the_same_job_on_retry(client: Client) -> None:
    first = client.create_batch(model="gemini-x", src="bq://test-project.d.t", idempotency_key="k1")
    again = client.create_batch(model="gemini-x", src="bq://test-project.d.t", idempotency_key="k1")
    assert again.submission_id == first.submission_id and not again.created
    assert again.display_name == first.display_name


def test_delete_only_finished_submissions(client: Client) -> None:
    sub = client.create_batch(model="gemini-x", src="gs://bkt/a.jsonl", tenant="team-a")
    with pytest.raises(StateConflictError):
        client.delete(sub.submission_id, tenant="team-a")
    client.store.transition(sub.submission_id, expected={S.ACCEPTED}, new_state=S.CANCELLED)  # type: ignore[attr-defined]
    with pytest.raises(NotFoundError):
        client.delete(sub.submission_id, tenant="team-b")
    assert client.delete(sub.submission_id, tenant="team-a").state is S.CANCELLED
    with pytest.raises(NotFoundError):
        client.get(sub.submission_id)
    with pytest.raises(NotFoundError):
        client.delete("not-an-id")
