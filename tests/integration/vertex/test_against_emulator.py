"""Every client method and every error class against the real Vertex emulator process."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.support.emulators import VertexEmulator
from vbq.errors import VertexAmbiguousError, VertexPermanentError, VertexRetryableError
from vbq.settings import Settings
from vbq.states import JobState, parse_job_state
from vbq.vertex import VertexClient

pytestmark = pytest.mark.integration

PARENT = "projects/test-project/locations/us-central1"


def job_body(*, labels: dict[str, str] | None = None, display_name: str = "job") -> dict[str, Any]:
    """A valid create body (REST camelCase)."""
    return {
        "displayName": display_name,
        "model": "publishers/google/models/gemini-2.0-flash-001",
        "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": ["gs://in/a.jsonl"]}},
        "outputConfig": {
            "predictionsFormat": "jsonl",
            "gcsDestination": {"outputUriPrefix": "gs://out/prefix"},
        },
        "labels": labels or {},
    }


def wait_for(check: Callable[[], Any], *, timeout_s: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s (last: {value!r})")
        time.sleep(0.05)


@pytest.fixture
def client(vertex_emulator: VertexEmulator) -> Iterator[VertexClient]:
    settings = Settings(vertex_endpoint=vertex_emulator.url, project="test-project")
    with VertexClient.from_settings(settings, timeout_s=10.0) as c:
        yield c


def test_create_get_and_finish(client: VertexClient, vertex_emulator: VertexEmulator) -> None:
    job = client.create_batch_prediction_job(
        PARENT, job_body(labels={"vbq-submission": "a" * 32}, display_name="first")
    )
    name = job["name"]
    assert name.startswith(f"{PARENT}/batchPredictionJobs/")
    assert job["displayName"] == "first"
    assert job["labels"] == {"vbq-submission": "a" * 32}
    assert isinstance(job["state"], str) and job["state"].startswith("JOB_STATE_")
    got = client.get_batch_prediction_job(name)
    assert got["name"] == name
    finished = wait_for(
        lambda: (
            (j := client.get_batch_prediction_job(name)) and parse_job_state(j["state"]).finished
        )
    )
    assert finished
    assert vertex_emulator.stats()["requests"]["create"] == 1


def test_list_filter_and_pagination_over_250_jobs(
    client: VertexClient, vertex_emulator: VertexEmulator
) -> None:
    # Keep jobs unfinished so they all stay listed under a stable state.
    vertex_emulator.configure(queued_s=10_000)
    teams = ["a" if i % 2 == 0 else "b" for i in range(250)]

    def create(i: int) -> tuple[str, str]:
        body = job_body(labels={"team": teams[i]}, display_name=f"job-{i}")
        return client.create_batch_prediction_job(PARENT, body)["name"], teams[i]

    # Eight threads share the client's pool (the emulator answers each call in ~45 ms).
    with ThreadPoolExecutor(max_workers=8) as pool:
        created = dict(pool.map(create, range(250)))
    assert len(created) == 250
    first = client.list_batch_prediction_jobs(PARENT, page_size=100)
    assert len(first.jobs) == 100
    assert first.next_page_token

    before = vertex_emulator.stats()["requests"]["list"]
    everything = list(client.iter_batch_prediction_jobs(PARENT, page_size=100))
    assert vertex_emulator.stats()["requests"]["list"] - before == 3
    names = [j["name"] for j in everything]
    assert len(names) == len(set(names)) == 250
    assert set(names) == set(created)

    team_a = list(client.iter_batch_prediction_jobs(PARENT, filter="labels.team=a", page_size=40))
    assert {j["name"] for j in team_a} == {n for n, t in created.items() if t == "a"}
    assert len(team_a) == 125

    none = client.list_batch_prediction_jobs(PARENT, filter="labels.team=zzz")
    assert none.jobs == [] and none.next_page_token == ""


def test_read_mask(client: VertexClient) -> None:
    client.create_batch_prediction_job(PARENT, job_body(labels={"k": "v"}))
    page = client.list_batch_prediction_jobs(PARENT, read_mask="name,state")
    assert set(page.jobs[0]) <= {"name", "state"}


def test_cancel(client: VertexClient, vertex_emulator: VertexEmulator) -> None:
    vertex_emulator.configure(queued_s=10_000)
    name = client.create_batch_prediction_job(PARENT, job_body())["name"]
    assert client.cancel_batch_prediction_job(name) is None
    state = wait_for(
        lambda: (
            (s := parse_job_state(client.get_batch_prediction_job(name)["state"]))
            is JobState.JOB_STATE_CANCELLED
            and s
        )
    )
    assert state is JobState.JOB_STATE_CANCELLED


def test_delete_wait(client: VertexClient, vertex_emulator: VertexEmulator) -> None:
    vertex_emulator.configure(
        delete_s=20
    )  # 0.2 s at time_scale 0.01: the first poll sees done=False
    name = client.create_batch_prediction_job(PARENT, job_body())["name"]
    wait_for(lambda: parse_job_state(client.get_batch_prediction_job(name)["state"]).finished)
    op = client.delete_batch_prediction_job(name, wait=True, timeout_s=10)
    assert op["done"] is True
    assert "error" not in op
    assert vertex_emulator.stats()["requests"]["operation_get"] >= 1
    with pytest.raises(VertexPermanentError) as info:
        client.get_batch_prediction_job(name)
    assert info.value.status_code == 404


def test_delete_unfinished_job_is_refused(
    client: VertexClient, vertex_emulator: VertexEmulator
) -> None:
    vertex_emulator.configure(queued_s=10_000)
    name = client.create_batch_prediction_job(PARENT, job_body())["name"]
    with pytest.raises(VertexPermanentError) as info:
        client.delete_batch_prediction_job(name, wait=True)
    assert info.value.status_code == 400
    assert info.value.status == "FAILED_PRECONDITION"


def test_429_with_retry_after(client: VertexClient, vertex_emulator: VertexEmulator) -> None:
    vertex_emulator.configure(storm_429_s=60, retry_after_s=3)
    with pytest.raises(VertexRetryableError) as info:
        client.create_batch_prediction_job(PARENT, job_body())
    err = info.value
    assert type(err) is VertexRetryableError
    assert (err.status_code, err.status) == (429, "RESOURCE_EXHAUSTED")
    assert err.retry_after_s == 3.0
    assert "Quota exceeded" in err.message
    assert vertex_emulator.stats()["jobs"] == 0


def test_503_is_retryable(client: VertexClient, vertex_emulator: VertexEmulator) -> None:
    vertex_emulator.configure(error_503_rate=1.0, fault_methods=["get", "list"])
    for call in (
        lambda: client.get_batch_prediction_job(f"{PARENT}/batchPredictionJobs/1"),
        lambda: client.list_batch_prediction_jobs(PARENT),
    ):
        with pytest.raises(VertexRetryableError) as info:
            call()
        assert (info.value.status_code, info.value.status) == (503, "UNAVAILABLE")


def test_500_on_create_is_retryable(client: VertexClient, vertex_emulator: VertexEmulator) -> None:
    vertex_emulator.configure(error_500_rate=1.0, fault_methods=["create"])
    with pytest.raises(VertexRetryableError) as info:
        client.create_batch_prediction_job(PARENT, job_body())
    assert (info.value.status_code, info.value.status) == (500, "INTERNAL")
    assert type(info.value) is VertexRetryableError


def test_400_invalid_body_carries_googles_message(
    client: VertexClient, vertex_emulator: VertexEmulator
) -> None:
    body = job_body()
    body["inputConfig"]["instancesFormat"] = "xml"
    with pytest.raises(VertexPermanentError) as info:
        client.create_batch_prediction_job(PARENT, body)
    err = info.value
    assert (err.status_code, err.status) == (400, "INVALID_ARGUMENT")
    assert "instances_format" in err.message or "instancesFormat" in err.message
    assert not err.retryable
    unknown = {**job_body(), "notAField": 1}
    with pytest.raises(VertexPermanentError, match="notAField"):
        client.create_batch_prediction_job(PARENT, unknown)
    assert vertex_emulator.stats()["jobs"] == 0


def test_404_get_is_permanent(client: VertexClient) -> None:
    with pytest.raises(VertexPermanentError) as info:
        client.get_batch_prediction_job(f"{PARENT}/batchPredictionJobs/424242")
    assert (info.value.status_code, info.value.status) == (404, "NOT_FOUND")
    with pytest.raises(VertexPermanentError):
        client.cancel_batch_prediction_job(f"{PARENT}/batchPredictionJobs/424242")


def test_create_then_drop_is_ambiguous_and_the_job_exists(
    client: VertexClient, vertex_emulator: VertexEmulator
) -> None:
    submission = "c" * 32
    vertex_emulator.configure(create_then_drop_rate=1.0)
    with pytest.raises(VertexAmbiguousError) as info:
        client.create_batch_prediction_job(PARENT, job_body(labels={"vbq-submission": submission}))
    assert info.value.ambiguous and info.value.status_code == 0
    jobs = vertex_emulator.jobs()
    assert [j["labels"]["vbq-submission"] for j in jobs] == [submission]
    # Reconciliation as the submit task does it: list by the label before creating again.
    found = list(
        client.iter_batch_prediction_jobs(PARENT, filter=f"labels.vbq-submission={submission}")
    )
    assert [j["name"] for j in found] == [jobs[0]["name"]]


def test_counters_match_the_emulators(
    client: VertexClient, vertex_emulator: VertexEmulator
) -> None:
    calls: list[tuple[str, int]] = []
    settings = client.settings
    with VertexClient(settings=settings, on_call=lambda m, s, d: calls.append((m, s))) as c:
        name = c.create_batch_prediction_job(PARENT, job_body())["name"]
        c.get_batch_prediction_job(name)
        c.list_batch_prediction_jobs(PARENT)
        with pytest.raises(VertexPermanentError):
            c.get_batch_prediction_job(f"{PARENT}/batchPredictionJobs/999999")
        counts = c.call_counts()
    assert calls == [("create", 200), ("get", 200), ("list", 200), ("get", 404)]
    assert counts == {"create": {200: 1}, "get": {200: 1, 404: 1}, "list": {200: 1}}
    server = vertex_emulator.stats()["requests"]
    assert (server["create"], server["get"], server["list"]) == (1, 2, 1)
