"""Request shapes (paths, headers, bodies), pagination, delete waiting, hooks, fork safety."""

from __future__ import annotations

import json
import os
from typing import Any

import httpx
import pytest

from tests.unit.vertex.helpers import EMULATOR, JOB, PARENT, make_client
from vbq.errors import VertexPermanentError, VertexRetryableError
from vbq.vertex import ListPage, VertexClient


class Recorder:
    """A handler that records requests and answers from a queue (or one fixed answer)."""

    def __init__(self, *answers: httpx.Response) -> None:
        self.requests: list[httpx.Request] = []
        self.answers = list(answers)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if len(self.answers) > 1:
            return self.answers.pop(0)
        return self.answers[0]


def _ok(body: Any) -> httpx.Response:
    return httpx.Response(200, json=body)


def test_create_request_shape() -> None:
    rec = Recorder(_ok({"name": JOB, "state": "JOB_STATE_PENDING"}))
    client = make_client(rec)
    body = {"displayName": "d", "labels": {"vbq-submission": "a" * 32}}
    job = client.create_batch_prediction_job(PARENT, body, api_version="v1beta1")
    assert job == {"name": JOB, "state": "JOB_STATE_PENDING"}
    request = rec.requests[0]
    assert request.method == "POST"
    assert str(request.url) == f"{EMULATOR}/v1beta1/{PARENT}/batchPredictionJobs"
    assert json.loads(request.content) == body
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-goog-request-params"] == f"parent={PARENT}"
    assert request.headers["user-agent"].startswith("vbq/0.1.0")
    assert request.headers["x-goog-api-client"].startswith("vbq/0.1.0 gl-python/")
    assert "$alt" not in str(request.url)  # never ask for integer enums


def test_get_cancel_shapes() -> None:
    rec = Recorder(_ok({"name": JOB}))
    client = make_client(rec)
    client.get_batch_prediction_job(JOB)
    client.cancel_batch_prediction_job(JOB)
    get, cancel = rec.requests
    assert (get.method, get.url.path) == ("GET", f"/v1/{JOB}")
    assert get.headers["x-goog-request-params"] == f"name={JOB}"
    assert (cancel.method, cancel.url.path) == ("POST", f"/v1/{JOB}:cancel")
    assert json.loads(cancel.content) == {}


def test_routing_header_encodes_but_keeps_slashes() -> None:
    rec = Recorder(_ok({}))
    name = "projects/my-proj/locations/us-central1/batchPredictionJobs/4@v1"
    make_client(rec).get_batch_prediction_job(name)
    assert rec.requests[0].headers["x-goog-request-params"] == f"name={name.replace('@', '%40')}"


def test_list_parameters() -> None:
    rec = Recorder(_ok({"batchPredictionJobs": [{"name": JOB}], "nextPageToken": "t2"}))
    page = make_client(rec).list_batch_prediction_jobs(
        PARENT, filter='labels.vbq-submission="abc"', page_size=50, page_token="t1"
    )
    assert page == ListPage(jobs=[{"name": JOB}], next_page_token="t2")
    params = rec.requests[0].url.params
    assert params["filter"] == 'labels.vbq-submission="abc"'
    assert params["pageSize"] == "50"
    assert params["pageToken"] == "t1"


def test_list_first_page_has_no_token_or_filter() -> None:
    rec = Recorder(_ok({}))
    page = make_client(rec).list_batch_prediction_jobs(PARENT)
    assert page == ListPage(jobs=[], next_page_token="")
    assert dict(rec.requests[0].url.params) == {"pageSize": "100"}


def test_iter_follows_every_page() -> None:
    jobs = [{"name": f"{PARENT}/batchPredictionJobs/{i}"} for i in range(7)]

    def handler(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params.get("pageToken") or 0)
        size = int(request.url.params["pageSize"])
        end = start + size
        return _ok(
            {
                "batchPredictionJobs": jobs[start:end],
                "nextPageToken": str(end) if end < len(jobs) else "",
            }
        )

    client = make_client(handler)
    assert list(client.iter_batch_prediction_jobs(PARENT, page_size=3)) == jobs
    assert client.call_counts() == {"list": {200: 3}}


def test_iter_stops_on_a_repeated_token() -> None:
    rec = Recorder(_ok({"batchPredictionJobs": [{"name": JOB}], "nextPageToken": "same"}))
    with pytest.raises(VertexRetryableError, match="twice"):
        list(make_client(rec).iter_batch_prediction_jobs(PARENT))
    assert len(rec.requests) == 2


@pytest.mark.parametrize(
    "name",
    [
        "",
        "jobs/1",
        "projects/p/locations/l/batchPredictionJobs/1?alt=x",
        "projects/p/locations/l/batchPredictionJobs/1#x",
        "projects/p/locations/l/batchPredictionJobs/../../other",
        "projects/p/locations/l/batchPredictionJobs/1:cancel",
        "projects/p/locations//batchPredictionJobs/1",
        "projects/p/locations/l/batchPredictionJobs/1 ",
        "https://evil.example/projects/p/locations/l",
    ],
)
def test_malformed_names_are_never_sent(name: str) -> None:
    rec = Recorder(_ok({}))
    client = make_client(rec)
    for call in (
        client.get_batch_prediction_job,
        client.cancel_batch_prediction_job,
        client.delete_batch_prediction_job,
    ):
        with pytest.raises(VertexPermanentError) as info:
            call(name)
        assert info.value.status == "INVALID_ARGUMENT"
    assert rec.requests == []


@pytest.mark.parametrize("parent", ["projects/p", JOB, "projects/p/locations/l/"])
def test_parent_must_be_project_and_location(parent: str) -> None:
    rec = Recorder(_ok({}))
    with pytest.raises(VertexPermanentError):
        make_client(rec).create_batch_prediction_job(parent, {})
    with pytest.raises(VertexPermanentError):
        make_client(rec).list_batch_prediction_jobs(parent)
    assert rec.requests == []


def test_bad_api_version_is_refused() -> None:
    rec = Recorder(_ok({}))
    with pytest.raises(VertexPermanentError):
        make_client(rec).create_batch_prediction_job(PARENT, {}, api_version="../v1")
    assert rec.requests == []


def test_delete_without_wait_returns_the_operation() -> None:
    op = {"name": f"{PARENT}/operations/9", "done": False}
    rec = Recorder(_ok(op))
    assert make_client(rec).delete_batch_prediction_job(JOB) == op
    assert [(r.method, r.url.path) for r in rec.requests] == [("DELETE", f"/v1/{JOB}")]


def test_delete_wait_polls_the_operation() -> None:
    op_name = f"{PARENT}/operations/9"
    rec = Recorder(
        _ok({"name": op_name}),
        _ok({"name": op_name, "done": False}),
        _ok({"name": op_name, "done": True, "response": {}}),
    )
    op = make_client(rec).delete_batch_prediction_job(JOB, wait=True, timeout_s=10)
    assert op["done"] is True
    assert [(r.method, r.url.path) for r in rec.requests] == [
        ("DELETE", f"/v1/{JOB}"),
        ("GET", f"/v1/{op_name}"),
        ("GET", f"/v1/{op_name}"),
    ]


def test_delete_wait_times_out() -> None:
    rec = Recorder(_ok({"name": f"{PARENT}/operations/9", "done": False}))
    with pytest.raises(VertexRetryableError) as info:
        make_client(rec).delete_batch_prediction_job(JOB, wait=True, timeout_s=0.3)
    assert info.value.status == "DEADLINE_EXCEEDED"
    assert 2 <= len(rec.requests) <= 6


def test_delete_operation_error_raises() -> None:
    op = {
        "name": f"{PARENT}/operations/9",
        "done": True,
        "error": {"code": 9, "message": "job is still running"},
    }
    with pytest.raises(VertexPermanentError, match="still running") as info:
        make_client(Recorder(_ok(op))).delete_batch_prediction_job(JOB, wait=True)
    assert info.value.status == "FAILED_PRECONDITION"


def test_on_call_hook_and_counters() -> None:
    calls: list[tuple[str, int, float]] = []
    rec = Recorder(_ok({"name": JOB}), httpx.Response(404, json={}), _ok({}))
    client = make_client(rec, on_call=lambda m, s, d: calls.append((m, s, d)))
    client.get_batch_prediction_job(JOB)
    with pytest.raises(VertexPermanentError):
        client.get_batch_prediction_job(JOB)
    client.cancel_batch_prediction_job(JOB)
    assert [(m, s) for m, s, _ in calls] == [("get", 200), ("get", 404), ("cancel", 200)]
    assert all(d >= 0 for _, _, d in calls)
    assert client.call_counts() == {"get": {200: 1, 404: 1}, "cancel": {200: 1}}


def test_transport_failure_counted_as_status_zero() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    calls: list[tuple[str, int]] = []
    client = make_client(handler, on_call=lambda m, s, d: calls.append((m, s)))
    with pytest.raises(VertexRetryableError):
        client.get_batch_prediction_job(JOB)
    assert calls == [("get", 0)]


def test_failing_hook_does_not_fail_the_call() -> None:
    def hook(method: str, status: int, duration_s: float) -> None:
        raise ValueError("metrics down")

    client = make_client(Recorder(_ok({"name": JOB})), on_call=hook)
    assert client.get_batch_prediction_job(JOB) == {"name": JOB}


def test_per_call_timeout_reaches_httpx() -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return _ok({})

    client = make_client(handler, timeout_s=12.0)
    client.get_batch_prediction_job(JOB)
    client.create_batch_prediction_job(PARENT, {}, timeout_s=90.0)
    assert seen[0]["read"] == 12.0
    assert seen[1]["read"] == 90.0
    assert seen[1]["connect"] == 10.0


def test_fork_rebuilds_the_http_client(monkeypatch: pytest.MonkeyPatch) -> None:
    client = make_client(Recorder(_ok({})))
    client.get_batch_prediction_job(JOB)
    pool = client._rest.pool
    first = pool.get()
    assert pool.get() is first
    real_pid = os.getpid()
    monkeypatch.setattr(os, "getpid", lambda: real_pid + 1)
    child = pool.get()
    assert child is not first
    assert not first.is_closed  # the parent's connections are left alone
    client.get_batch_prediction_job(JOB)
    assert pool.builds == 2


def test_context_manager_closes() -> None:
    with make_client(Recorder(_ok({}))) as client:
        client.get_batch_prediction_job(JOB)
        http = client._rest.pool.get()
    assert http.is_closed
    with pytest.raises(VertexPermanentError, match="closed"):
        client.get_batch_prediction_job(JOB)


def test_from_settings_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VBQ_VERTEX_ENDPOINT", "http://127.0.0.1:1234/")
    monkeypatch.setenv("VBQ_HTTP_TIMEOUT_S", "7.5")
    client = VertexClient.from_settings()
    assert client.settings.vertex_endpoint == "http://127.0.0.1:1234"
    assert client.timeout_s == 7.5
    client.close()
