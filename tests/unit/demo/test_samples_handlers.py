"""Sample requests are valid specs with the promised mix; stage 2 is built only for its parents."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from vbq_demo import handlers
from vbq_demo.samples import DEMO_TENANTS, GEMINI_MODEL, job_requests, sample_files

from vbq.errors import OutputsError
from vbq.events import JobEvent
from vbq.spec import JobSpec


def requests(count: int = 200) -> list[dict[str, Any]]:
    return job_requests(
        count=count, project="vbq-demo", location="us-central1", bucket="vbq-demo", run_id="r1"
    )


def test_every_request_is_a_valid_sdk_spec_and_the_mix_holds() -> None:
    items = requests()
    assert len(items) == 200
    for item in items:
        kwargs = {k: v for k, v in item.items() if k not in {"metadata", "tenant"}}
        spec = JobSpec.from_sdk_kwargs(**kwargs)
        spec.resolve(default_project="vbq-demo", default_location="us-central1")
        assert item["labels"] == {"demo-run": "r1", "demo-stage": "1"}
    gemini = sum(1 for i in items if i["model_name"] == GEMINI_MODEL)
    custom = sum(
        1 for i in items if "/models/" in i["model_name"] and "publishers" not in i["model_name"]
    )
    chained = sum(1 for i in items if i["metadata"]["demo_chain"])
    assert gemini + custom == 200
    assert 60 <= gemini <= 140 and 20 <= chained <= 80
    assert len({i["job_display_name"] for i in items}) == 200
    tenants = [i["tenant"] for i in items]
    assert set(tenants) == set(DEMO_TENANTS) and 70 <= tenants.count("search") <= 130
    assert requests() == items  # deterministic


def test_sample_files_are_json_lines_with_one_broken_line_per_set() -> None:
    files = sample_files()
    assert {f.kind for f in files} == {"custom", "gemini"}
    broken = 0
    for f in files:
        for line in f.data.decode().splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                broken += 1
                continue
            if f.kind == "gemini" and row["request"]["contents"]:
                assert row["request"]["contents"][0]["parts"][0]["text"]
            elif f.kind == "gemini":
                broken += 1  # an empty request: Gemini fails that row
    assert broken == 2


def event(*, metadata: dict[str, Any], state: str = "SUCCEEDED", output: bool = True) -> JobEvent:
    job: dict[str, Any] = {
        "name": "projects/p/locations/us-central1/batchPredictionJobs/1",
        "displayName": "demo-r1-0007",
        "model": GEMINI_MODEL,
        "state": f"JOB_STATE_{state}",
    }
    if output:
        job["outputInfo"] = {"gcsOutputDirectory": "gs://vbq-demo/outputs/stage1/prediction-x"}
    return JobEvent.create(
        type=f"job.{state.lower()}",
        submission_id="a" * 32,
        state=state,
        previous_state="RUNNING",
        job=job,
        labels={"demo-run": "r1", "demo-stage": "1"},
        metadata=metadata,
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def test_stage2_reads_the_parents_predictions_with_the_same_model() -> None:
    built = handlers.stage2_request(event(metadata={"demo_chain": True}))
    assert built is not None
    assert built["gcs_source"] == "gs://vbq-demo/outputs/stage1/prediction-x/predictions*.jsonl"
    assert built["model_name"] == GEMINI_MODEL
    assert built["labels"] == {"demo-run": "r1", "demo-stage": "2"}
    assert built["job_display_name"] == "demo-r1-0007-stage2"
    assert built["gcs_destination_prefix"].endswith("/stage2")
    JobSpec.from_sdk_kwargs(**built)  # a valid request


@pytest.mark.parametrize(
    "metadata",
    [{"demo_chain": False}, {}, {"demo_chain": True, "chain_stage": "stage2"}],
)
def test_no_stage2_for_unmarked_jobs_or_for_stage2_itself(metadata: dict[str, Any]) -> None:
    assert handlers.stage2_request(event(metadata=metadata)) is None


def test_stage2_of_a_parent_without_outputs_refuses() -> None:
    with pytest.raises(OutputsError):
        handlers.stage2_request(event(metadata={"demo_chain": True}, output=False))


def test_runs_key_is_per_run() -> None:
    assert handlers.runs_key("r1") == "vbq:demo:r1:runs"
    assert handlers.runs_key("r1") != handlers.runs_key("r2")
