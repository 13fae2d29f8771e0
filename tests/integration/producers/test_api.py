"""HTTP API through Starlette's TestClient, on a real Redis store and broker."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from tests.integration.producers.conftest import stored_ids, submitted_ids, valid_kwargs
from vbq.producers import Client
from vbq.producers.api import ApiKeyRing, create_app, generate_api_key, hash_api_key
from vbq.settings import Settings

pytestmark = pytest.mark.integration

KEY_A = generate_api_key()
KEY_B = generate_api_key()
MAX_BODY = 64 * 1024


@pytest.fixture
def api(settings: Settings) -> Iterator[TestClient]:
    keyring = ApiKeyRing.from_mapping(
        {hash_api_key(KEY_A): "team-a", hash_api_key(KEY_B): "team-b"}
    )
    app = create_app(
        client=Client.from_settings(settings), keyring=keyring, max_body_bytes=MAX_BODY
    )
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def auth(key: str = KEY_A) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def assert_problem(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert body["status"] == status
    assert body["type"].startswith("https://") and body["title"] and body["detail"]
    return dict(body)


def test_unauthenticated_calls_get_401(api: TestClient, redis_url: str) -> None:
    for headers in ({}, auth("vbq_" + "x" * 32), {"Authorization": "Basic abc"}, {"X-API-Key": ""}):
        resp = api.post("/v1/submissions", json=valid_kwargs(1), headers=headers)
        assert_problem(resp, 401)
        assert "bearer" in resp.headers["www-authenticate"].lower()
    assert_problem(api.get("/v1/submissions"), 401)
    assert_problem(api.get(f"/v1/submissions/{'0' * 32}"), 401)
    assert_problem(api.post(f"/v1/submissions/{'0' * 32}:cancel"), 401)
    assert stored_ids(redis_url) == set()
    assert api.get("/healthz").json() == {"status": "ok"}


def test_create_get_and_replay(api: TestClient, redis_url: str) -> None:
    body = {**valid_kwargs(1), "idempotency_key": "abc", "metadata": {"order": 1}}
    resp = api.post("/v1/submissions", json=body, headers=auth())
    assert resp.status_code == 201, resp.text
    created = resp.json()
    sid = created["submission_id"]
    assert resp.headers["location"] == f"/v1/submissions/{sid}"
    assert created["state"] == "ACCEPTED" and created["tenant"] == "team-a"
    assert created["metadata"] == {"order": 1}
    assert submitted_ids(redis_url) == [sid]
    replay = api.post("/v1/submissions", json=body, headers={"X-API-Key": KEY_A})
    assert replay.status_code == 200 and replay.json()["submission_id"] == sid
    conflict = api.post(
        "/v1/submissions", json={**body, "job_display_name": "other"}, headers=auth()
    )
    assert_problem(conflict, 409)
    got = api.get(f"/v1/submissions/{sid}", headers=auth())
    assert got.status_code == 200 and got.json()["display_name"] == "job-1"


def test_other_tenant_sees_404(api: TestClient) -> None:
    sid = api.post("/v1/submissions", json=valid_kwargs(1), headers=auth()).json()["submission_id"]
    assert_problem(api.get(f"/v1/submissions/{sid}", headers=auth(KEY_B)), 404)
    assert_problem(api.post(f"/v1/submissions/{sid}:cancel", headers=auth(KEY_B)), 404)
    assert api.get("/v1/submissions", headers=auth(KEY_B)).json()["submissions"] == []
    # Unknown and malformed ids look exactly like another tenant's.
    assert_problem(api.get(f"/v1/submissions/{'f' * 32}", headers=auth(KEY_B)), 404)
    assert_problem(api.get("/v1/submissions/..%2F..", headers=auth(KEY_B)), 404)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"gcs_source": "http://x"}, "gcs_source"),
        ({"model_name": ""}, "model_name"),
        ({"labels": {"Bad Key": "v"}}, "labels"),
        ({"machine_type": 5}, "machine_type"),
        ({"unknown_param": 1}, "unknown_param"),
        ({"instances_format": "xml"}, "instances_format"),
        ({"tenant": "team-b"}, "tenant"),
        ({"idempotency_key": 17}, "idempotency_key"),
        ({"metadata": "not-an-object"}, "metadata"),
        ({"self": 1, "cls": 2}, "cls"),
    ],
)
def test_invalid_specs_get_422_naming_the_field(
    api: TestClient, redis_url: str, change: dict[str, Any], field: str
) -> None:
    resp = api.post("/v1/submissions", json={**valid_kwargs(1), **change}, headers=auth())
    body = assert_problem(resp, 422)
    fields = [e["field"] for e in body["errors"]]
    assert any(f == field or f.startswith((field + ".", field + "[")) for f in fields), fields
    assert all(e["rule"] and e["message"] for e in body["errors"])
    assert stored_ids(redis_url) == set()


@pytest.mark.parametrize(
    "raw", [b"", b"[]", b"42", b"{", b"\xff", b'{"a": NaN}', b"[" * 64 + b"]" * 64]
)
def test_malformed_bodies_get_400(api: TestClient, raw: bytes) -> None:
    resp = api.post(
        "/v1/submissions",
        content=raw,
        headers={**auth(), "Content-Type": "application/json"},
    )
    assert_problem(resp, 400)


def test_oversized_body_gets_413_before_parsing(api: TestClient, redis_url: str) -> None:
    body = {**valid_kwargs(1), "metadata": {"blob": "x" * MAX_BODY}}
    assert_problem(api.post("/v1/submissions", json=body, headers=auth()), 413)
    chunks = iter([b"{" + b" " * 1024] * 100)
    resp = api.post("/v1/submissions", content=chunks, headers=auth())
    assert_problem(resp, 413)
    # Unauthenticated oversized bodies are refused just the same.
    assert_problem(api.post("/v1/submissions", json=body), 413)
    assert stored_ids(redis_url) == set()


def test_list_filters_and_pages(api: TestClient) -> None:
    ids = [
        api.post("/v1/submissions", json=valid_kwargs(i), headers=auth()).json()["submission_id"]
        for i in range(5)
    ]
    api.post("/v1/submissions", json=valid_kwargs(9), headers=auth(KEY_B))
    seen: list[str] = []
    token = None
    while True:
        params: dict[str, Any] = {"page_size": 2}
        if token:
            params["page_token"] = token
        page = api.get("/v1/submissions", params=params, headers=auth()).json()
        seen += [s["submission_id"] for s in page["submissions"]]
        token = page["next_page_token"]
        if not token:
            break
    assert seen == list(reversed(ids))
    accepted = api.get("/v1/submissions?state=accepted", headers=auth()).json()
    assert len(accepted["submissions"]) == 5
    assert api.get("/v1/submissions?state=RUNNING", headers=auth()).json()["submissions"] == []
    labelled = api.get("/v1/submissions", params={"label": "n=3"}, headers=auth()).json()
    assert [s["submission_id"] for s in labelled["submissions"]] == [ids[3]]
    body = assert_problem(api.get("/v1/submissions?state=NOPE", headers=auth()), 422)
    assert body["errors"][0]["field"] == "state"
    assert_problem(api.get("/v1/submissions?label=novalue", headers=auth()), 422)
    body = assert_problem(api.get("/v1/submissions?page_size=0", headers=auth()), 422)
    assert body["errors"][0]["field"] == "page_size"
    assert_problem(api.get("/v1/submissions?page_size=abc", headers=auth()), 422)
    assert_problem(api.get("/v1/submissions?page_token=garbage!", headers=auth()), 400)


def test_cancel(api: TestClient, redis_url: str) -> None:
    sid = api.post("/v1/submissions", json=valid_kwargs(1), headers=auth()).json()["submission_id"]
    resp = api.post(f"/v1/submissions/{sid}:cancel", headers=auth())
    assert resp.status_code == 202 and resp.json()["submission_id"] == sid
    from tests.integration.producers.conftest import broker_messages

    assert [m["args"] for m in broker_messages(redis_url, "vbq.cancel")] == [[sid]]


def test_batch_reports_per_item(api: TestClient, redis_url: str) -> None:
    items = [valid_kwargs(i) for i in range(100)]
    items[10] = {**items[10], "gcs_destination_prefix": None}
    resp = api.post("/v1/submissions:batch", json={"items": items}, headers=auth())
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert not body["ok"]
    assert [e["index"] for e in body["errors"]] == [10]
    assert "gcs_destination_prefix" in body["errors"][0]["fields"][0]
    assert len(body["accepted"]) == 99
    assert len(stored_ids(redis_url)) == 99
    assert sorted(submitted_ids(redis_url)) == sorted(a["submission_id"] for a in body["accepted"])


def test_batch_atomic_refuses_all(api: TestClient, redis_url: str) -> None:
    items = [valid_kwargs(i) for i in range(20)]
    items[5] = {**items[5], "tenant": "team-b"}
    resp = api.post("/v1/submissions:batch", json={"items": items, "atomic": True}, headers=auth())
    body = assert_problem(resp, 422)
    assert body["errors"][0]["field"] == "items[5].tenant"
    assert stored_ids(redis_url) == set()
    for bad in ({"items": "x"}, {"items": [], "atomic": "yes"}, []):
        resp = api.post("/v1/submissions:batch", json=bad, headers=auth())
        assert resp.status_code in (400, 422), resp.text


def test_openapi_documents_the_routes(api: TestClient) -> None:
    doc = api.get("/openapi.json").json()
    paths = doc["paths"]
    assert {"/v1/submissions", "/v1/submissions:batch", "/v1/submissions/{submission_id}"} <= set(
        paths
    )
    assert "/v1/submissions/{submission_id}:cancel" in paths
    post = paths["/v1/submissions"]["post"]
    schema = post["requestBody"]["content"]["application/json"]["schema"]
    assert "model_name" in schema["properties"]
    assert "422" in post["responses"]
    batch = paths["/v1/submissions:batch"]["post"]["requestBody"]["content"]["application/json"]
    assert "$ref" not in json.dumps(batch)  # inlined: every reference resolves
    assert "model_name" in batch["schema"]["properties"]["items"]["items"]["properties"]


def test_unknown_routes_and_methods_are_problems(api: TestClient) -> None:
    assert_problem(api.get("/v2/nothing", headers=auth()), 404)
    assert_problem(api.delete("/v1/submissions", headers=auth()), 405)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
sdk_names = st.sampled_from([*sorted(valid_kwargs(0)), "machine_type", "batch_size", "project"])


@hsettings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=json_values
    | st.dictionaries(sdk_names, json_values, max_size=6).map(lambda d: {**valid_kwargs(0), **d})
)
def test_no_5xx_for_any_json_body(api: TestClient, body: Any) -> None:
    for path in ("/v1/submissions", "/v1/submissions:batch"):
        payload = {"items": [body]} if path.endswith("batch") else body
        resp = api.post(path, content=json.dumps(payload), headers=auth())
        assert resp.status_code < 500, resp.text


def test_store_down_is_503_not_500() -> None:
    from tests.support.services import free_port

    dead = f"redis://127.0.0.1:{free_port()}/0"
    settings = Settings.from_env(
        {"VBQ_REDIS_URL": dead, "VBQ_BROKER_URL": dead, "VBQ_PROJECT": "test-project"}
    )
    keyring = ApiKeyRing.from_mapping({hash_api_key(KEY_A): "team-a"})
    app = create_app(
        client=Client.from_settings(settings), keyring=keyring, max_body_bytes=MAX_BODY
    )
    with TestClient(app, raise_server_exceptions=False) as down:
        resp = down.post("/v1/submissions", json=valid_kwargs(1), headers=auth())
        assert_problem(resp, 503)
        assert resp.headers["retry-after"]
        assert_problem(down.get(f"/v1/submissions/{'a' * 32}", headers=auth()), 503)
        # Validation still answers without the store.
        assert_problem(down.post("/v1/submissions", json={}, headers=auth()), 422)
