"""The Google surface of ``vbq api`` over HTTP (ASGI) on a real Redis: auth, validation,
idempotency, tenants, Google's filter grammar and pagination, cancel, delete, caps, outages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.integration.producers.conftest import broker_messages, queued_ids, stored_ids
from tests.support.services import free_port
from vbq.errors import TenantCapError
from vbq.producers import Client
from vbq.producers.api import ApiKeyRing, create_app, generate_api_key, hash_api_key
from vbq.producers.api.vertex import submission_id_of
from vbq.settings import Settings
from vbq.states import SubmissionState as S
from vbq.store import JobStore

pytestmark = pytest.mark.integration

KEY, OTHER = generate_api_key(), generate_api_key()
AUTH = {"Authorization": f"Bearer {KEY}"}
PARENT = "projects/surface-proj/locations/us-central1"
JOBS = f"/v1/{PARENT}/batchPredictionJobs"
INT = {"$alt": "json;enum-encoding=int"}


def body(i: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "displayName": f"job-{i}",
        "model": "publishers/google/models/gemini-2.0-flash-001",
        "inputConfig": {
            "instancesFormat": "jsonl",
            "gcsSource": {"uris": [f"gs://bkt/in-{i}.jsonl"]},
        },
        "outputConfig": {
            "predictionsFormat": "jsonl",
            "gcsDestination": {"outputUriPrefix": "gs://bkt/out"},
        },
        "labels": {"n": str(i), "parity": str(i % 2)},
        **extra,
    }


def settings_for(redis_url: str) -> Settings:
    return Settings.from_env(
        {"VBQ_REDIS_URL": redis_url, "VBQ_BROKER_URL": redis_url, "VBQ_PROJECT": "surface-proj"}
    )


def make_client(settings: Settings, client: Client | None = None) -> TestClient:
    ring = ApiKeyRing.from_mapping({hash_api_key(KEY): "team-a", hash_api_key(OTHER): "team-b"})
    app = create_app(
        client=client or Client.from_settings(settings), keyring=ring, max_body_bytes=64 * 1024
    )
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def api(redis_url: str) -> Iterator[TestClient]:
    with make_client(settings_for(redis_url)) as client:
        yield client


def error(resp: Any) -> dict[str, Any]:
    assert resp.headers["content-type"].startswith("application/json"), resp.text
    payload: dict[str, Any] = resp.json()["error"]
    assert set(payload) == {"code", "message", "status", "details"}
    assert payload["code"] == resp.status_code
    return payload


def violations(resp: Any) -> list[str]:
    details = error(resp)["details"]
    return [v["field"] for d in details for v in d.get("fieldViolations", [])]


def test_keys_decide_access_and_tenant(api: TestClient, redis_url: str) -> None:
    assert error(api.post(JOBS, json=body()))["status"] == "UNAUTHENTICATED"
    resp = api.post(JOBS, json=body(), headers={"Authorization": "Bearer vbq_nope"})
    assert resp.status_code == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")
    created = api.post(JOBS, json=body(), headers={"X-API-Key": KEY}, params=INT)
    assert created.status_code == 200, created.text
    job = created.json()
    assert job["state"] == 1 and job["displayName"] == "job-0"
    sid = created.headers["X-Vbq-Submission-Id"]
    assert submission_id_of(job["name"].rsplit("/", 1)[-1]) == sid
    store = JobStore.from_settings(settings_for(redis_url))
    assert store.get(sid).tenant == "team-a"
    assert queued_ids(redis_url) == [sid]  # waits in its scheduler queue
    # Another tenant never sees it; reads never touch Vertex (there is none here).
    other = api.get(f"/v1/{job['name']}", headers={"Authorization": f"Bearer {OTHER}"})
    assert error(other)["status"] == "NOT_FOUND"
    same = api.get(f"/v1beta1/{job['name']}", headers=AUTH)
    assert same.json()["state"] == "JOB_STATE_QUEUED"
    elsewhere = job["name"].replace("us-central1", "europe-west4")
    assert api.get(f"/v1/{elsewhere}", headers=AUTH).status_code == 404
    for bad in ("abc", "0" + job["name"].rsplit("/", 1)[-1], "1" * 45):
        assert api.get(f"{JOBS}/{bad}", headers=AUTH).status_code == 404


def test_bodies_googles_types_refuse_are_400_naming_the_field(
    api: TestClient, redis_url: str
) -> None:
    cases = {
        "batch_prediction_job.foo": body(foo=1),
        "batch_prediction_job.display_name": {**body(), "displayName": 3},
        "batch_prediction_job.input_config.gcs_source.uris": body(
            inputConfig={"gcsSource": {"uris": "gs://bkt/x"}}
        ),
        "batch_prediction_job.labels.vbq-submission": body(labels={"vbq-submission": "x"}),
        "batch_prediction_job.instance_config.instance_type": body(
            instanceConfig={"instanceType": "array"}
        ),
        "parent": None,
    }
    for field, payload in cases.items():
        if payload is None:
            resp = api.post(
                "/v1/projects/NOT_A_PROJECT/locations/us-central1/batchPredictionJobs",
                json=body(),
                headers=AUTH,
            )
        else:
            resp = api.post(JOBS, json=payload, headers=AUTH)
        assert resp.status_code == 400, (field, resp.text)
        assert error(resp)["status"] == "INVALID_ARGUMENT"
        assert field in violations(resp), (field, resp.text)
    for raw in (b"", b"{", b"[1]", b'{"a": NaN}', b"[" * 5000):
        resp = api.post(JOBS, content=raw, headers=AUTH)
        assert resp.status_code == 400 and error(resp)["status"] == "INVALID_ARGUMENT"
    resp = api.post(JOBS, content=b"x" * (65 * 1024), headers=AUTH)
    assert resp.status_code == 400 and "payload size" in error(resp)["message"]
    assert stored_ids(redis_url) == set()
    assert broker_messages(redis_url, "vbq.submit") == []


def test_idempotency_header(api: TestClient, redis_url: str) -> None:
    headers = {**AUTH, "X-Idempotency-Key": "nightly-1"}
    first = api.post(JOBS, json=body(1), headers=headers).json()
    again = api.post(JOBS, json=body(1), headers=headers).json()
    assert first["name"] == again["name"]
    assert len(stored_ids(redis_url)) == 1
    clash = api.post(JOBS, json=body(2), headers=headers)
    assert error(clash)["status"] == "ALREADY_EXISTS" and clash.status_code == 409
    plain = [api.post(JOBS, json=body(1), headers=AUTH).json()["name"] for _ in range(2)]
    assert len(set(plain)) == 2  # without a key each POST is a new job, as at Google
    bad = api.post(JOBS, json=body(1), headers={**AUTH, "X-Idempotency-Key": "k" * 300})
    assert "X-Idempotency-Key" in violations(bad)


def test_list_filters_and_pages(api: TestClient, redis_url: str) -> None:
    names = [api.post(JOBS, json=body(i), headers=AUTH).json()["name"] for i in range(24)]
    api.post(JOBS, json=body(99), headers={"Authorization": f"Bearer {OTHER}"})
    store = JobStore.from_settings(settings_for(redis_url))
    sids = [submission_id_of(n.rsplit("/", 1)[-1]) or "" for n in names]
    for sid in sids[:6]:
        store.transition(sid, expected={S.ACCEPTED}, new_state=S.RUNNING)
    store.transition(
        sids[6], expected={S.ACCEPTED}, new_state=S.REJECTED, updates={"last_error": "nope"}
    )

    def listed(flt: str = "", size: int = 5, **params: str) -> list[str]:
        out: list[str] = []
        token = ""
        while True:
            query = {"filter": flt, "pageSize": str(size), "pageToken": token, **params}
            page = api.get(JOBS, params=query, headers=AUTH)
            assert page.status_code == 200, page.text
            out += [j["name"] for j in page.json().get("batchPredictionJobs", [])]
            token = page.json().get("nextPageToken", "")
            if not token:
                return out

    assert listed() == list(reversed(names))
    assert set(listed('labels.parity="0"')) == set(names[0::2])
    assert set(listed("state=JOB_STATE_RUNNING")) == set(names[:6])
    assert set(listed('state="JOB_STATE_FAILED"')) == {names[6]}
    assert set(listed("state=JOB_STATE_QUEUED AND labels.parity=1")) == set(names[7::2])
    assert set(listed('display_name:"job-1*" OR labels.n="3"')) == {
        names[i] for i in (1, 3, *range(10, 20))
    }
    assert set(listed('NOT labels.parity:* OR create_time<"2000-01-01T00:00:00Z"')) == set()
    assert set(listed("-state=JOB_STATE_QUEUED")) == set(names[:7])
    masked = api.get(JOBS, params={"readMask": "state", "pageSize": "1"}, headers=AUTH).json()
    assert set(masked["batchPredictionJobs"][0]) == {"name", "state"}
    first = api.get(JOBS, params={"pageSize": "2"}, headers=AUTH).json()
    wrong = api.get(
        JOBS, params={"pageToken": first["nextPageToken"], "filter": "labels.n=1"}, headers=AUTH
    )
    assert "page_token" in violations(wrong)
    assert "filter" in violations(api.get(JOBS, params={"filter": "state<1"}, headers=AUTH))
    assert "page_size" in violations(api.get(JOBS, params={"pageSize": "-1"}, headers=AUTH))


def test_cancel_and_delete(api: TestClient, redis_url: str) -> None:
    job = api.post(JOBS, json=body(), headers=AUTH).json()
    name = job["name"]
    assert api.post(f"/v1/{name}:cancel", headers=AUTH).json() == {}
    sid = submission_id_of(name.rsplit("/", 1)[-1])
    assert [m["args"] for m in broker_messages(redis_url, "vbq.cancel")] == [[sid]]
    refused = api.delete(f"/v1/{name}", headers=AUTH)
    assert error(refused)["status"] == "FAILED_PRECONDITION" and refused.status_code == 400
    store = JobStore.from_settings(settings_for(redis_url))
    store.transition(sid or "", expected={S.ACCEPTED}, new_state=S.CANCELLED)
    again = api.post(f"/v1/{name}:cancel", headers=AUTH)
    assert error(again)["status"] == "FAILED_PRECONDITION"
    assert (
        api.delete(f"/v1/{name}", headers={"Authorization": f"Bearer {OTHER}"}).status_code == 404
    )
    operation = api.delete(f"/v1/{name}", headers=AUTH).json()
    assert operation["done"] is True and operation["response"]["@type"].endswith("Empty")
    assert operation["metadata"]["@type"].endswith("v1.DeleteOperationMetadata")
    assert api.get(f"/v1/{name}", headers=AUTH).status_code == 404
    assert api.get(f"/v1/{operation['name']}", headers=AUTH).json()["done"] is True
    other = api.get(f"/v1/{operation['name']}", headers={"Authorization": f"Bearer {OTHER}"})
    assert other.status_code == 404
    assert api.delete(f"/v1/{name}", headers=AUTH).status_code == 404


def test_tenant_caps_answer_resource_exhausted(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(redis_url)
    client = Client.from_settings(settings)

    def capped(item: Any) -> Any:
        raise TenantCapError(tenant=item.tenant, cap="max_queued", limit=2, retry_after_s=4)

    monkeypatch.setattr(client.store, "create", capped)
    with make_client(settings, client) as api:
        resp = api.post(JOBS, json=body(), headers=AUTH)
    payload = error(resp)
    assert resp.status_code == 429 and payload["status"] == "RESOURCE_EXHAUSTED"
    assert resp.headers["Retry-After"] == "4"
    retry = [d for d in payload["details"] if d["@type"].endswith("google.rpc.RetryInfo")]
    assert retry == [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "4s"}]


def test_paths_and_outages(api: TestClient) -> None:
    missing = api.get(f"/v1/{PARENT}/customJobs", headers=AUTH)
    assert error(missing)["status"] == "NOT_FOUND"
    assert api.put(JOBS, json=body(), headers=AUTH).status_code == 404
    own = api.get("/v1/submissions/abc", headers=AUTH)  # vbq's own API keeps problem+json
    assert own.headers["content-type"].startswith("application/problem+json")
    down = settings_for(f"redis://127.0.0.1:{free_port()}/0")
    with make_client(down) as dead:
        resp = dead.get(JOBS, headers=AUTH)
    assert resp.status_code == 503 and error(resp)["status"] == "UNAVAILABLE"
    assert json.loads(resp.text)["error"]["details"][0]["retryDelay"] == "1s"
