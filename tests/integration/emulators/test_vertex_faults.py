"""Every fault of the Vertex emulator is observable from a client."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.emulators.helpers import FINISHED, PARENT, job_body, wait_until
from tests.support.emulators import VertexEmulator

pytestmark = pytest.mark.integration

JOBS_URL = f"/v1/{PARENT}/batchPredictionJobs"


@pytest.fixture
def http(vertex_emulator: VertexEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=vertex_emulator.url, timeout=30.0) as client:
        yield client


def final(http: httpx.Client, name: str) -> dict[str, Any]:
    result: dict[str, Any] = wait_until(
        lambda: (j := http.get(f"/v1/{name}").json())["state"] in FINISHED and j
    )
    return result


def local_job(tmp_path: Any, rows: int = 4) -> dict[str, Any]:
    source = tmp_path / "in.jsonl"
    source.write_text("".join(f'{{"x": {i}}}\n' for i in range(rows)))
    return job_body(
        model=f"{PARENT}/models/1", uris=[f"file://{source}"], prefix=f"file://{tmp_path}/out"
    )


def test_fail_share(http: httpx.Client, vertex_emulator: VertexEmulator, tmp_path: Any) -> None:
    vertex_emulator.configure(fail_share=1.0)
    job = http.post(JOBS_URL, json=local_job(tmp_path)).json()
    done = final(http, job["name"])
    assert done["state"] == "JOB_STATE_FAILED"
    assert done["error"]["code"] == 13


def test_partial_share(http: httpx.Client, vertex_emulator: VertexEmulator, tmp_path: Any) -> None:
    vertex_emulator.configure(partial_share=1.0)
    job = http.post(JOBS_URL, json=local_job(tmp_path, rows=4)).json()
    done = final(http, job["name"])
    assert done["state"] == "JOB_STATE_PARTIALLY_SUCCEEDED"
    assert done["partialFailures"] and done["partialFailures"][0]["code"] == 13
    assert done["completionStats"]["successfulCount"] == "2"
    assert done["completionStats"]["failedCount"] == "2"
    directory = tmp_path / done["outputInfo"]["gcsOutputDirectory"].removeprefix("file://")
    assert len((directory / "errors_00001.jsonl").read_text().splitlines()) == 2


def test_expire_share(http: httpx.Client, vertex_emulator: VertexEmulator) -> None:
    vertex_emulator.configure(expire_share=1.0)
    job = http.post(JOBS_URL, json=job_body()).json()
    done = final(http, job["name"])
    assert done["state"] == "JOB_STATE_EXPIRED"
    assert "startTime" not in done and done["error"]["code"] == 4


def test_outcome_shares_are_deterministic_across_resets(
    http: httpx.Client, vertex_emulator: VertexEmulator
) -> None:
    def run() -> list[tuple[str, str]]:
        vertex_emulator.configure(
            seed=11, fail_share=0.3, partial_share=0.2, expire_share=0.2, queued_s=0.0
        )
        names = [http.post(JOBS_URL, json=job_body()).json()["name"] for _ in range(30)]
        return [(n, final(http, n)["state"]) for n in names]

    first = run()
    vertex_emulator.reset()
    second = run()
    assert first == second
    states = {state for _, state in first}
    assert {"JOB_STATE_FAILED", "JOB_STATE_EXPIRED"} <= states


def test_concurrent_jobs_quota(http: httpx.Client, vertex_emulator: VertexEmulator) -> None:
    vertex_emulator.configure(max_concurrent_jobs=3, queued_s=1e6, retry_after_s=7)
    names = [http.post(JOBS_URL, json=job_body()).json()["name"] for _ in range(3)]
    refused = http.post(JOBS_URL, json=job_body())
    assert refused.status_code == 429
    assert refused.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert refused.headers["Retry-After"] == "7"
    http.post(f"/v1/{names[0]}:cancel", json={})
    final(http, names[0])
    assert http.post(JOBS_URL, json=job_body()).status_code == 200
    assert len(vertex_emulator.jobs()) == 4


def test_per_minute_quotas(http: httpx.Client, vertex_emulator: VertexEmulator) -> None:
    vertex_emulator.configure(create_per_min=5, read_per_min=8, queued_s=1e6)
    codes = [http.post(JOBS_URL, json=job_body()).status_code for _ in range(7)]
    assert codes == [200] * 5 + [429] * 2
    reads = [http.get(JOBS_URL).status_code for _ in range(10)]
    assert reads == [200] * 8 + [429] * 2
    assert "Retry-After" not in http.get(JOBS_URL).headers  # retry_after_s is 0
    log = vertex_emulator.requests()
    assert sum(1 for e in log if e["method"] == "create" and e["status"] == 429) == 2
    assert len(vertex_emulator.jobs()) == 5
    # cancel is not rate limited
    name = vertex_emulator.jobs()[0]["name"]
    assert http.post(f"/v1/{name}:cancel", json={}).status_code == 200


def test_injected_500_and_503(http: httpx.Client, vertex_emulator: VertexEmulator) -> None:
    vertex_emulator.configure(error_503_rate=1.0, retry_after_s=2)
    unavailable = http.get(JOBS_URL)
    assert unavailable.status_code == 503
    assert unavailable.json()["error"]["status"] == "UNAVAILABLE"
    assert unavailable.headers["Retry-After"] == "2"
    vertex_emulator.configure(error_503_rate=0.0, error_500_rate=1.0, fault_methods=["get"])
    assert http.get(JOBS_URL).status_code == 200  # list is not a faulted method now
    internal = http.get(f"{JOBS_URL}/1")
    assert internal.status_code == 500 and internal.json()["error"]["status"] == "INTERNAL"


def test_error_rate_is_seeded(http: httpx.Client, vertex_emulator: VertexEmulator) -> None:
    def run() -> list[int]:
        vertex_emulator.configure(seed=3, error_500_rate=0.25, error_503_rate=0.25)
        return [http.get(JOBS_URL).status_code for _ in range(200)]

    first = run()
    vertex_emulator.reset()
    assert run() == first
    failures = sum(1 for code in first if code != 200) / len(first)
    assert 0.35 < failures < 0.65
    assert {500, 503, 200} == set(first)


def test_latency(http: httpx.Client, vertex_emulator: VertexEmulator) -> None:
    vertex_emulator.configure(latency_s=0.5, latency_jitter_s=0.1, fault_methods=["list"])
    started = time.monotonic()
    assert http.get(JOBS_URL).status_code == 200
    assert time.monotonic() - started >= 0.5
    started = time.monotonic()
    http.get(f"{JOBS_URL}/1")  # get is not delayed
    assert time.monotonic() - started < 0.5


def test_create_then_drop(http: httpx.Client, vertex_emulator: VertexEmulator) -> None:
    vertex_emulator.configure(create_then_drop_rate=1.0)
    with pytest.raises(httpx.TransportError):
        http.post(JOBS_URL, json=job_body(labels={"vbq-submission": "abc"}))
    (job,) = vertex_emulator.jobs()  # the job exists although no answer came
    assert job["labels"] == {"vbq-submission": "abc"}
    log = vertex_emulator.requests()
    assert log[-1]["method"] == "create" and log[-1]["status"] == 0
    assert log[-1]["fault"] == "create_then_drop"
    listed = http.get(JOBS_URL, params={"filter": 'labels.vbq-submission="abc"'}).json()
    assert [j["name"] for j in listed["batchPredictionJobs"]] == [job["name"]]


def test_429_storm(http: httpx.Client, vertex_emulator: VertexEmulator) -> None:
    vertex_emulator.configure(storm_429_s=2.0, retry_after_s=1)
    started = time.monotonic()
    stormy = http.post(JOBS_URL, json=job_body())
    assert stormy.status_code == 429 and stormy.headers["Retry-After"] == "1"
    assert http.get(JOBS_URL).status_code == 200  # reads are not part of the storm
    wait_until(lambda: http.post(JOBS_URL, json=job_body()).status_code == 200, interval_s=0.1)
    assert time.monotonic() - started >= 1.9


def test_sdk_sees_quota_errors_as_too_many_requests(vertex_emulator: VertexEmulator) -> None:
    from google.api_core import exceptions as gexc
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform

    aiplatform.init(
        project="test-project",
        location="us-central1",
        api_transport="rest",
        api_endpoint=vertex_emulator.url,
        credentials=AnonymousCredentials(),
    )
    vertex_emulator.configure(storm_429_s=60.0)
    with pytest.raises(gexc.TooManyRequests, match="429"):
        aiplatform.BatchPredictionJob.submit(
            job_display_name="x",
            model_name="publishers/google/models/gemini-2.0-flash-001",
            gcs_source="gs://b/in.jsonl",
            gcs_destination_prefix="gs://b/out",
        )


def test_bad_config_is_refused(vertex_emulator: VertexEmulator) -> None:
    with pytest.raises(httpx.HTTPStatusError) as info:
        vertex_emulator.configure(fail_share=3)
    assert info.value.response.status_code == 400
    with pytest.raises(httpx.HTTPStatusError):
        vertex_emulator.configure(no_such_key=1)
