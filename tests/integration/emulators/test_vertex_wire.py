"""The emulator's REST surface as plain HTTP: encodings, errors, pagination, lifecycle."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.integration.emulators.helpers import FINISHED, PARENT, job_body, wait_until
from tests.support.emulators import VertexEmulator

pytestmark = pytest.mark.integration

INT_ENUMS = {"$alt": "json;enum-encoding=int"}


@pytest.fixture
def http(vertex_emulator: VertexEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=vertex_emulator.url, timeout=30.0) as client:
        yield client


def create(http: httpx.Client, body: dict[str, Any] | None = None, **params: str) -> Any:
    response = http.post(
        f"/v1/{PARENT}/batchPredictionJobs", json=body or job_body(), params=params
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_enums_follow_the_requested_encoding(
    http: httpx.Client, vertex_emulator: VertexEmulator
) -> None:
    vertex_emulator.configure(queued_s=1e6)  # states stay put however slow the machine is
    body = job_body(model="projects/test-project/locations/us-central1/models/42")
    body["dedicatedResources"] = {
        "machineSpec": {"machineType": "n1-standard-4", "acceleratorType": 5},
        "startingReplicaCount": 1,
    }
    as_int = create(http, body, **INT_ENUMS)
    assert as_int["state"] == 2  # JOB_STATE_PENDING
    assert as_int["dedicatedResources"]["machineSpec"]["acceleratorType"] == 5
    as_str = http.get(f"/v1/{as_int['name']}").json()
    assert as_str["state"] == "JOB_STATE_PENDING"
    assert as_str["dedicatedResources"]["machineSpec"]["acceleratorType"] == "NVIDIA_TESLA_T4"
    gemini = create(http)
    assert gemini["state"] == "JOB_STATE_QUEUED"
    listed = http.get(f"/v1/{PARENT}/batchPredictionJobs", params=INT_ENUMS).json()
    assert {j["state"] for j in listed["batchPredictionJobs"]} == {1, 2}


def test_google_error_json(http: httpx.Client) -> None:
    missing = http.get(f"/v1/{PARENT}/batchPredictionJobs/123")
    assert missing.status_code == 404
    error = missing.json()["error"]
    assert error["code"] == 404 and error["status"] == "NOT_FOUND" and "123" in error["message"]
    bad = http.post(f"/v1/{PARENT}/batchPredictionJobs", json={**job_body(), "displayName": ""})
    assert bad.status_code == 400
    assert bad.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert "display_name" in bad.json()["error"]["message"]
    unknown = http.post(f"/v1/{PARENT}/batchPredictionJobs", json={**job_body(), "colour": 1})
    assert unknown.status_code == 400
    assert 'Unknown name "colour"' in unknown.json()["error"]["message"]
    garbage = http.post(f"/v1/{PARENT}/batchPredictionJobs", content=b"{not json")
    assert garbage.status_code == 400
    bad_filter = http.get(f"/v1/{PARENT}/batchPredictionJobs", params={"filter": "state<1"})
    assert bad_filter.status_code == 400 and "filter" in bad_filter.json()["error"]["message"]
    nowhere = http.get("/v1/projects/p/somethingElse")
    assert nowhere.status_code == 404 and nowhere.json()["error"]["status"] == "NOT_FOUND"


def test_pagination_over_250_jobs(http: httpx.Client, vertex_emulator: VertexEmulator) -> None:
    vertex_emulator.configure(queued_s=1e6)  # keep them all queued: states stay comparable
    with ThreadPoolExecutor(max_workers=4) as pool:
        created = list(
            pool.map(
                lambda i: create(http, job_body(labels={"n": str(i % 2)}, display_name=f"j{i}")),
                range(250),
            )
        )
    names: list[str] = []
    token = ""
    pages = 0
    while True:
        params = {"pageSize": "100", **({"pageToken": token} if token else {})}
        page = http.get(f"/v1/{PARENT}/batchPredictionJobs", params=params).json()
        pages += 1
        names += [j["name"] for j in page.get("batchPredictionJobs", [])]
        token = page.get("nextPageToken", "")
        if not token:
            break
    assert pages == 3
    assert len(names) == 250 and set(names) == {j["name"] for j in created}
    default = http.get(f"/v1/{PARENT}/batchPredictionJobs").json()
    assert len(default["batchPredictionJobs"]) == 100  # default page size
    filtered: list[dict[str, Any]] = []
    token = ""
    while True:
        params = {
            "filter": "labels.n=1",
            "pageSize": "40",
            **({"pageToken": token} if token else {}),
        }
        page = http.get(f"/v1/{PARENT}/batchPredictionJobs", params=params).json()
        filtered += page.get("batchPredictionJobs", [])
        token = page.get("nextPageToken", "")
        if not token:
            break
    assert len(filtered) == 125 and all(j["labels"]["n"] == "1" for j in filtered)
    masked = http.get(
        f"/v1/{PARENT}/batchPredictionJobs", params={"pageSize": "5", "readMask": "state,labels"}
    ).json()
    assert all(set(j) == {"name", "state", "labels"} for j in masked["batchPredictionJobs"])
    other_token = http.get(
        f"/v1/{PARENT}/batchPredictionJobs",
        params={"filter": "labels.n=0", "pageToken": default["nextPageToken"]},
    )
    assert other_token.status_code == 400
    other_parent = http.get("/v1/projects/other/locations/us-central1/batchPredictionJobs").json()
    assert other_parent == {}


def test_lifecycle_timestamps_and_states(http: httpx.Client, tmp_path: Any) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"request": {"contents": [{"role": "user", "parts": [{"text": "x"}]}]}}\n')
    job = create(http, job_body(uris=[f"file://{source}"], prefix=f"file://{tmp_path}/out"))
    seen: set[str] = set()

    def finished() -> Any:
        current = http.get(f"/v1/{job['name']}").json()
        seen.add(current["state"])
        return current if current["state"] in FINISHED else None

    done = wait_until(finished, interval_s=0.005)
    assert done["state"] == "JOB_STATE_SUCCEEDED"
    assert done["createTime"] <= done["startTime"] <= done["endTime"] <= done["updateTime"]
    assert done["completionStats"] == {
        "successfulCount": "1",  # int64 travels as a string
        "failedCount": "0",
        "incompleteCount": "0",
    }
    assert "JOB_STATE_RUNNING" in seen or "JOB_STATE_QUEUED" in seen
    directory = done["outputInfo"]["gcsOutputDirectory"].removeprefix("file://")
    assert (tmp_path / directory / "predictions.jsonl").exists()  # Gemini layout
    assert "/prediction-model-" in directory


def test_unreadable_input_fails_the_job(http: httpx.Client) -> None:
    job = create(http, job_body(uris=["file:///nonexistent/in.jsonl"]))
    done = wait_until(
        lambda: (j := http.get(f"/v1/{job['name']}").json())["state"] in FINISHED and j
    )
    assert done["state"] == "JOB_STATE_FAILED"
    assert done["error"]["code"] == 5 and "nonexistent" in done["error"]["message"]


def test_cancel_and_delete_preconditions(
    http: httpx.Client, vertex_emulator: VertexEmulator
) -> None:
    vertex_emulator.configure(queued_s=1e6)
    job = create(http)
    refused = http.delete(f"/v1/{job['name']}")
    assert refused.status_code == 400
    assert refused.json()["error"]["status"] == "FAILED_PRECONDITION"
    assert http.post(f"/v1/{job['name']}:cancel", json={}).json() == {}
    assert http.get(f"/v1/{job['name']}").json()["state"] in {
        "JOB_STATE_CANCELLING",
        "JOB_STATE_CANCELLED",
    }
    done = wait_until(
        lambda: (j := http.get(f"/v1/{job['name']}").json())["state"] == "JOB_STATE_CANCELLED" and j
    )
    assert done["error"]["code"] == 1
    again = http.post(f"/v1/{job['name']}:cancel", json={})
    assert again.status_code == 400 and again.json()["error"]["status"] == "FAILED_PRECONDITION"
    vertex_emulator.configure(delete_s=50.0)  # 0.5 s at time_scale 0.01
    operation = http.delete(f"/v1/{job['name']}", params=INT_ENUMS).json()
    assert operation["name"].startswith(f"{PARENT}/operations/")
    assert operation["done"] is False
    assert http.get(f"/v1/{job['name']}").status_code == 404
    finished = wait_until(
        lambda: (op := http.get(f"/v1/{operation['name']}").json())["done"] and op
    )
    assert finished["response"] == {"@type": "type.googleapis.com/google.protobuf.Empty"}
    assert http.get(f"/ui/{operation['name']}").json()["done"] is True
    counts = vertex_emulator.stats()["requests"]
    assert counts["create"] == 1 and counts["cancel"] == 2 and counts["delete"] == 2
    assert counts["operation_get"] >= 2


def test_v1beta1_create_and_get(http: httpx.Client) -> None:
    body = {**job_body(), "modelMonitoringConfig": {}}
    assert http.post(f"/v1/{PARENT}/batchPredictionJobs", json=body).status_code == 400
    created = http.post(f"/v1beta1/{PARENT}/batchPredictionJobs", json=body)
    assert created.status_code == 200
    name = created.json()["name"]
    assert http.get(f"/v1beta1/{name}").json()["name"] == name


def test_admin_requests_log(http: httpx.Client, vertex_emulator: VertexEmulator) -> None:
    start = time.time()
    create(http)
    http.get(f"/v1/{PARENT}/batchPredictionJobs")
    http.get(f"/v1/{PARENT}/batchPredictionJobs/404")
    log = vertex_emulator.requests(since=start)
    assert [(e["method"], e["status"]) for e in log] == [
        ("create", 200),
        ("list", 200),
        ("get", 404),
    ]
    assert all(start <= e["t"] <= time.time() for e in log)
    assert vertex_emulator.requests(since=time.time() + 10) == []
    vertex_emulator.reset()
    assert vertex_emulator.stats()["requests"]["create"] == 0
    assert vertex_emulator.jobs() == []


def test_chunked_request_body(http: httpx.Client) -> None:
    import json

    def chunks() -> Iterator[bytes]:
        data = json.dumps(job_body()).encode()
        yield data[:10]
        yield data[10:]

    response = http.post(
        f"/v1/{PARENT}/batchPredictionJobs",
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert http.get(f"/v1/{PARENT}/batchPredictionJobs").status_code == 200  # stream intact


def test_lifecycle_never_runs_early(http: httpx.Client, vertex_emulator: VertexEmulator) -> None:
    vertex_emulator.configure(queued_s=40.0, run_s=40.0)  # 0.4 s each at time_scale 0.01
    started = time.monotonic()
    job = create(http, job_body(model=f"{PARENT}/models/7"))
    assert job["state"] == "JOB_STATE_PENDING"
    running = wait_until(
        lambda: http.get(f"/v1/{job['name']}").json()["state"] != "JOB_STATE_PENDING",
        interval_s=0.01,
    )
    assert running and time.monotonic() - started >= 0.39
    wait_until(lambda: http.get(f"/v1/{job['name']}").json()["state"] in FINISHED, interval_s=0.01)
    assert time.monotonic() - started >= 0.79
