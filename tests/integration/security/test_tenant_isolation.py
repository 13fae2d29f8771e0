"""Tenant isolation on every read and write path: another tenant's submission does not exist.

HTTP API (get, list, cancel) with another tenant's key → 404 / absent from the list; the
Python client with ``tenant=`` → ``NotFoundError``. Real Redis (store and broker).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from vbq.errors import NotFoundError
from vbq.producers import Client
from vbq.producers.api import ApiKeyRing, create_app, generate_api_key, hash_api_key
from vbq.settings import Settings

pytestmark = pytest.mark.integration

KEY_A, KEY_B = generate_api_key(), generate_api_key()


def _kwargs(n: int) -> dict[str, Any]:
    return {
        "job_display_name": f"iso-{n}",
        "model_name": "publishers/google/models/gemini-2.0-flash-001",
        "gcs_source": "gs://iso-in/in.jsonl",
        "gcs_destination_prefix": "gs://iso-out/out",
        "labels": {"team": "a"},
    }


@pytest.fixture
def client(redis_url: str) -> Iterator[Client]:
    settings = Settings.from_env(
        {"VBQ_REDIS_URL": redis_url, "VBQ_BROKER_URL": redis_url, "VBQ_PROJECT": "iso-project"}
    )
    c = Client.from_settings(settings)
    yield c
    c.close()


@pytest.fixture
def api(client: Client) -> Iterator[TestClient]:
    ring = ApiKeyRing.from_mapping({hash_api_key(KEY_A): "team-a", hash_api_key(KEY_B): "team-b"})
    app = create_app(client=client, keyring=ring, max_body_bytes=64 * 1024)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def _h(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_api_another_tenants_submission_is_404_on_get_and_cancel_and_absent_from_lists(
    api: TestClient,
) -> None:
    created = api.post("/v1/submissions", json=_kwargs(1), headers=_h(KEY_A))
    assert created.status_code == 201, created.text
    sid = created.json()["submission_id"]
    assert api.get(f"/v1/submissions/{sid}", headers=_h(KEY_A)).status_code == 200

    paths = ((f"/v1/submissions/{sid}", "GET"), (f"/v1/submissions/{sid}:cancel", "POST"))
    for path, method in paths:
        resp = api.request(method, path, headers={**_h(KEY_B), "X-API-Key": KEY_A})
        assert resp.status_code == 404, (path, resp.text)  # Bearer wins; X-API-Key is ignored
        assert sid not in resp.text or "not found" in resp.text.lower()
    # The 404 is indistinguishable from an id that never existed.
    unknown = api.get(f"/v1/submissions/{'f' * 32}", headers=_h(KEY_B))
    mine = api.get(f"/v1/submissions/{sid}", headers=_h(KEY_B))
    assert unknown.status_code == mine.status_code == 404
    assert unknown.json()["type"] == mine.json()["type"]

    for query in ("", "?label=team=a", "?state=ACCEPTED"):
        listed_b = api.get(f"/v1/submissions{query}", headers=_h(KEY_B))
        assert listed_b.status_code == 200, listed_b.text
        assert sid not in listed_b.text
        listed_a = api.get(f"/v1/submissions{query}", headers=_h(KEY_A))
        assert sid in listed_a.text
    # The cancel attempt by B changed nothing.
    assert api.get(f"/v1/submissions/{sid}", headers=_h(KEY_A)).json()["state"] == "ACCEPTED"


def test_api_tenant_comes_from_the_key_never_from_the_body(api: TestClient) -> None:
    resp = api.post("/v1/submissions", json={**_kwargs(2), "tenant": "team-b"}, headers=_h(KEY_A))
    assert resp.status_code == 422, resp.text
    ok = api.post("/v1/submissions:batch", json={"items": [_kwargs(3)]}, headers=_h(KEY_A))
    assert ok.status_code == 200, ok.text
    sid = ok.json()["accepted"][0]["submission_id"]
    assert api.get(f"/v1/submissions/{sid}", headers=_h(KEY_B)).status_code == 404


def test_client_with_a_tenant_sees_only_its_own(client: Client) -> None:
    sub = client.submit(**_kwargs(4), tenant="team-a")
    assert client.get(sub.submission_id, tenant="team-a").submission_id == sub.submission_id
    with pytest.raises(NotFoundError):
        client.get(sub.submission_id, tenant="team-b")
    with pytest.raises(NotFoundError):
        client.cancel(sub.submission_id, tenant="team-b")
    page = client.list(tenant="team-b")
    assert sub.submission_id not in [s.submission_id for s in _items(page)]
    assert sub.submission_id in [s.submission_id for s in _items(client.list(tenant="team-a"))]
    assert client.get(sub.submission_id).state == "ACCEPTED"  # the refused cancel did nothing


def _items(page: Any) -> list[Any]:
    items = page[0] if isinstance(page, tuple) else getattr(page, "items", page)
    return list(items)
