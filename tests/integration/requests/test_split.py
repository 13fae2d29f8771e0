"""Auto-split: a Gemini input over the limits becomes parts, each its own job, and one
submission that finishes when they have, listing every part's output (issue 16)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.requests.inproc import Flow
from tests.support.emulators import VertexEmulator
from vbq.subscribers.actions import iter_gemini_rows, iter_predictions
from vbq.workers.split_hook import marker_key
from vbq.workers.split_parent import outcome_of

pytestmark = pytest.mark.integration

GEMINI = "publishers/google/models/gemini-2.0-flash-001"


def upload_prompts(storage_client: Any, flow: Flow, name: str, rows: int) -> str:
    bucket = flow.settings.pack_prefix.removeprefix("gs://").split("/")[0]
    body = "".join(
        json.dumps({"request": {"contents": [{"role": "user", "parts": [{"text": f"p {i}"}]}]}})
        + "\n"
        for i in range(rows)
    )
    storage_client.bucket(bucket).blob(name).upload_from_string(body)
    return f"gs://{bucket}/{name}"


def run_split(
    make_flow: Any,
    vertex: VertexEmulator,
    storage_client: Any,
    *,
    rows: int,
    limit: int,
    timeout_s: float,
) -> tuple[Flow, Any]:
    vertex.configure(gemini_max_requests=limit)  # Google refuses a job over the limit
    flow = make_flow(VBQ_PACK_MAX_ROWS=str(limit))
    uri = upload_prompts(storage_client, flow, "in/big.jsonl", rows)
    out = flow.settings.pack_prefix.rsplit("/", 1)[0] + "/big-out"
    sub = flow.client.submit(
        job_display_name="big", model_name=GEMINI, gcs_source=uri, gcs_destination_prefix=out
    )
    flow.drive(lambda: flow.store.get(sub.submission_id).finished, timeout_s=timeout_s)
    return flow, flow.client.get(sub.submission_id)


def check_parts(flow: Flow, vertex: VertexEmulator, sub: Any, *, rows: int, parts: int) -> None:
    jobs = vertex.jobs()
    assert len(jobs) == parts, [j["displayName"] for j in jobs]
    assert sub.state.value == "SUCCEEDED", sub.to_dict()
    listed = sub.job["vbqParts"]
    assert len(listed) == parts and all(p["state"] == "JOB_STATE_SUCCEEDED" for p in listed)
    assert {p["name"] for p in listed} == {j["name"] for j in jobs}
    directory = sub.output_info["gcs_output_directory"]
    assert all(p["outputInfo"]["gcsOutputDirectory"].startswith(directory + "/") for p in listed)
    texts = sorted(row.text for row in iter_gemini_rows(sub.job))
    assert texts == sorted(f"echo: p {i}" for i in range(rows))
    assert sub.results["requests"] == rows and sub.results["usage"]["total"] > 0
    assert sub.completion_stats["successful_count"] == rows
    events = [e for e in flow.events() if e["submission_id"] == sub.submission_id]
    assert [e["type"] for e in events] == ["job.submitted", "job.succeeded"]
    assert len(events[1]["job"]["vbqParts"]) == parts


def test_an_input_over_the_limits_becomes_parts_and_one_submission(
    make_flow: Any, vertex_emulator: VertexEmulator, storage_client: Any
) -> None:
    flow, sub = run_split(
        make_flow, vertex_emulator, storage_client, rows=250, limit=100, timeout_s=90
    )
    check_parts(flow, vertex_emulator, sub, rows=250, parts=3)
    assert sum(1 for _ in iter_predictions(sub.job)) == 250


def test_an_input_at_the_limit_is_never_split(
    make_flow: Any, vertex_emulator: VertexEmulator, storage_client: Any
) -> None:
    flow, sub = run_split(
        make_flow, vertex_emulator, storage_client, rows=100, limit=100, timeout_s=60
    )
    assert sub.state.value == "SUCCEEDED"
    assert len(vertex_emulator.jobs()) == 1 and "vbqParts" not in sub.job
    assert flow.r.get(marker_key(sub.submission_id)) == b"whole"


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_450000_rows_become_3_jobs_and_one_submission(
    make_flow: Any, vertex_emulator: VertexEmulator, storage_client: Any
) -> None:
    flow, sub = run_split(
        make_flow, vertex_emulator, storage_client, rows=450_000, limit=200_000, timeout_s=1000
    )
    check_parts(flow, vertex_emulator, sub, rows=450_000, parts=3)


def test_outcome_of_the_parts() -> None:
    from vbq.states import SubmissionState as S

    assert outcome_of([S.SUCCEEDED, S.SUCCEEDED]) is S.SUCCEEDED
    assert outcome_of([S.SUCCEEDED, S.FAILED]) is S.PARTIALLY_SUCCEEDED
    assert outcome_of([S.PARTIALLY_SUCCEEDED, S.SUCCEEDED]) is S.PARTIALLY_SUCCEEDED
    assert outcome_of([S.FAILED, S.EXPIRED, S.REJECTED]) is S.FAILED
    assert outcome_of([S.CANCELLED, S.CANCELLED]) is S.CANCELLED
    assert outcome_of([S.CANCELLED, S.FAILED]) is S.FAILED


def test_a_crash_after_the_parts_were_created_splits_once(
    make_flow: Any,
    vertex_emulator: VertexEmulator,
    storage_client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.integration.requests.test_faults import Once
    from vbq.workers.splitter import Splitter

    Once(monkeypatch, Splitter, "_submit_parent")
    with pytest.raises(RuntimeError):
        run_split(make_flow, vertex_emulator, storage_client, rows=250, limit=100, timeout_s=90)
    flow = make_flow.flows[-1]  # type: ignore[attr-defined]
    parent = next(r for r in flow.store.list(page_size=50)[0] if "vbq_split" not in r.metadata)
    flow.recorder.submits.append(parent.id)  # the sweeper re-enqueues an ACCEPTED record
    flow.drive(lambda: flow.store.get(parent.id).finished, timeout_s=90)
    check_parts(flow, vertex_emulator, flow.client.get(parent.id), rows=250, parts=3)
