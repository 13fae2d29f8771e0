"""Per-tenant caps refuse at submit, atomically with the write: through the Python client, the
native HTTP API (429 + Retry-After), Google's surface (429 RESOURCE_EXHAUSTED) and the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner
from starlette.testclient import TestClient

from tests.integration.producers.conftest import queued_ids, stored_ids, valid_kwargs
from tests.integration.producers.test_vertex_surface_api import JOBS, body
from vbq.errors import TenantCapError
from vbq.producers import Client
from vbq.producers.api import ApiKeyRing, create_app, generate_api_key, hash_api_key
from vbq.settings import Settings

pytestmark = pytest.mark.integration

KEY = generate_api_key()
OVERRIDES = json.dumps({"team-a": {"max_queued": 2}, "roomy": {"max_queued": 5}})


def capped_env(redis_url: str) -> dict[str, str]:
    return {
        "VBQ_REDIS_URL": redis_url,
        "VBQ_BROKER_URL": redis_url,
        "VBQ_PROJECT": "surface-proj",
        "VBQ_TENANT_MAX_QUEUED": "3",
        "VBQ_TENANT_OVERRIDES": OVERRIDES,
    }


@pytest.fixture
def settings(redis_url: str) -> Settings:
    return Settings.from_env(capped_env(redis_url))


@pytest.fixture
def client(settings: Settings) -> Iterator[Client]:
    c = Client.from_settings(settings)
    yield c
    c.close()


@pytest.fixture
def api(client: Client) -> Iterator[TestClient]:
    ring = ApiKeyRing.from_mapping({hash_api_key(KEY): "team-a"})
    with TestClient(
        create_app(client=client, keyring=ring, max_body_bytes=1 << 20),
        raise_server_exceptions=False,
    ) as t:
        yield t


def test_client_refuses_over_max_queued_and_stores_nothing(client: Client, redis_url: str) -> None:
    kept = [
        client.submit(**valid_kwargs(i), tenant="t1", idempotency_key=f"k{i}").submission_id
        for i in range(3)
    ]
    before = stored_ids(redis_url)
    with pytest.raises(TenantCapError) as info:
        client.submit(**valid_kwargs(9), tenant="t1")
    assert info.value.tenant == "t1" and info.value.cap == "max_queued" and info.value.limit == 3
    assert "'t1'" in str(info.value) and "max_queued" in str(info.value)
    assert info.value.retry_after_s >= 1
    assert stored_ids(redis_url) == before == set(kept)  # nothing written
    assert queued_ids(redis_url) == kept
    # Other tenants have their own count; an override raises the cap.
    client.submit(**valid_kwargs(1), tenant="t2")
    for i in range(5):
        client.submit(**valid_kwargs(i), tenant="roomy")
    # An idempotent replay of a stored submission is no new work: answered, not refused.
    replay = client.submit(**valid_kwargs(0), tenant="t1", idempotency_key="k0")
    assert replay.submission_id == kept[0] and not replay.created
    # submit_many: items over the cap are item errors naming the tenant and the cap.
    result = client.submit_many([valid_kwargs(i) for i in range(4)], tenant="t3")
    assert len(result.accepted) == 3
    (err,) = result.errors
    assert err.index == 3 and err.errors[0]["field"] == "tenant"
    assert err.errors[0]["rule"] == "max_queued"


def test_leaving_the_queue_frees_a_place(client: Client, redis_url: str) -> None:
    subs = [client.submit(**valid_kwargs(i), tenant="t1") for i in range(3)]
    with pytest.raises(TenantCapError):
        client.submit(**valid_kwargs(7), tenant="t1")
    store = client.store
    from vbq.states import SubmissionState as S

    store.transition(subs[0].submission_id, expected={S.ACCEPTED}, new_state=S.CANCELLED)  # type: ignore[attr-defined]
    assert subs[0].submission_id not in queued_ids(redis_url)  # cancel leaves the queue
    client.submit(**valid_kwargs(7), tenant="t1")


def test_native_api_answers_429_with_retry_after(api: TestClient, redis_url: str) -> None:
    headers = {"X-API-Key": KEY}
    for i in range(2):
        assert api.post("/v1/submissions", json=valid_kwargs(i), headers=headers).status_code == 201
    before = stored_ids(redis_url)
    resp = api.post("/v1/submissions", json=valid_kwargs(5), headers=headers)
    assert resp.status_code == 429, resp.text
    assert int(resp.headers["Retry-After"]) >= 1
    problem = resp.json()
    assert "team-a" in problem["detail"] and "max_queued" in problem["detail"]
    assert problem["errors"] == [
        {"field": "tenant", "rule": "max_queued", "message": problem["detail"]}
    ]
    assert stored_ids(redis_url) == before


def test_google_surface_answers_resource_exhausted(api: TestClient, redis_url: str) -> None:
    headers = {"X-API-Key": KEY}
    for i in range(2):
        assert api.post(JOBS, json=body(i), headers=headers).status_code == 200
    before = stored_ids(redis_url)
    resp = api.post(JOBS, json=body(5), headers=headers)
    assert resp.status_code == 429, resp.text
    error = resp.json()["error"]
    assert error["status"] == "RESOURCE_EXHAUSTED" and "max_queued" in error["message"]
    assert stored_ids(redis_url) == before


def test_cli_exits_2_with_a_clear_message(redis_url: str, tmp_path: Path) -> None:
    from vbq.cli import cli

    request = tmp_path / "job.json"
    request.write_text(json.dumps(valid_kwargs(1)))
    runner = CliRunner(env=capped_env(redis_url))
    for _ in range(3):
        ok = runner.invoke(cli, ["submit", "--tenant", "t9", "--priority", "bulk", str(request)])
        assert ok.exit_code == 0, ok.output
    before = stored_ids(redis_url)
    refused = runner.invoke(cli, ["submit", "--tenant", "t9", str(request)])
    assert refused.exit_code == 2
    assert "'t9'" in refused.output and "max_queued" in refused.output
    assert stored_ids(redis_url) == before
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    assert {r.hget(f"vbq:sub:{sid}", "priority") for sid in before} == {"bulk"}
    r.close()


def test_priority_is_validated_and_shown(client: Client, api: TestClient, redis_url: str) -> None:
    from vbq.errors import SpecError

    with pytest.raises(SpecError) as info:
        client.submit(**valid_kwargs(1), tenant="t1", priority="urgent")
    assert info.value.fields == ["priority"]
    resp = api.post(
        "/v1/submissions", json={**valid_kwargs(1), "priority": "asap"}, headers={"X-API-Key": KEY}
    )
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "priority"
    assert stored_ids(redis_url) == set()
    ok = api.post(
        "/v1/submissions",
        json={**valid_kwargs(1), "priority": "interactive"},
        headers={"X-API-Key": KEY},
    )
    assert ok.status_code == 201 and ok.json()["priority"] == "interactive"
    sid = ok.json()["submission_id"]
    assert (
        api.get(f"/v1/submissions/{sid}", headers={"X-API-Key": KEY}).json()["priority"]
        == "interactive"
    )
