"""``POST/GET /v1/requests`` and ``vbq request add|status`` / ``vbq usage`` on a real Redis."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from click.testing import CliRunner
from starlette.testclient import TestClient

from vbq.cli import cli
from vbq.producers import Client
from vbq.producers.api import ApiKeyRing, create_app, generate_api_key, hash_api_key
from vbq.settings import Settings

pytestmark = pytest.mark.integration

KEY_A = generate_api_key()
KEY_B = generate_api_key()
GOOD = {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}


def env(redis_url: str, **extra: str) -> dict[str, str]:
    return {
        "VBQ_REDIS_URL": redis_url,
        "VBQ_BROKER_URL": redis_url,
        "VBQ_PROJECT": "req-project",
        "VBQ_PACK_PREFIX": "gs://req-bucket/vbq",
        **extra,
    }


@pytest.fixture
def api(redis_url: str) -> Iterator[TestClient]:
    keyring = ApiKeyRing.from_mapping(
        {hash_api_key(KEY_A): "team-a", hash_api_key(KEY_B): "team-b"}
    )
    settings = Settings.from_env(env(redis_url))
    app = create_app(client=Client.from_settings(settings), keyring=keyring, max_body_bytes=65536)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def auth(key: str = KEY_A) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_add_get_replay_and_tenant_isolation(api: TestClient) -> None:
    body = {"model": "gemini-2.0-flash-001", "request": GOOD, "idempotency_key": "k1"}
    first = api.post("/v1/requests", json=body, headers=auth())
    assert first.status_code == 201, first.text
    view = first.json()
    assert view["state"] == "PENDING" and view["tenant"] == "team-a"
    assert view["model"] == "publishers/google/models/gemini-2.0-flash-001"
    assert first.headers["location"] == f"/v1/requests/{view['request_id']}"
    replay = api.post("/v1/requests", json=body, headers=auth())
    assert replay.status_code == 200 and replay.json()["request_id"] == view["request_id"]
    conflict = api.post(
        "/v1/requests",
        json={**body, "request": {"contents": [{"parts": [{"text": "x"}]}]}},
        headers=auth(),
    )
    assert conflict.status_code == 409
    got = api.get(f"/v1/requests/{view['request_id']}", headers=auth())
    assert got.status_code == 200 and got.json()["response"] is None
    assert api.get(f"/v1/requests/{view['request_id']}", headers=auth(KEY_B)).status_code == 404
    assert api.get("/v1/requests/not-an-id", headers=auth()).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": "text-bison", "request": GOOD}, "model"),
        ({"model": "gemini-2.0-flash-001", "request": {"contents": []}}, "request.contents"),
        ({"model": "gemini-2.0-flash-001", "request": {"contentz": []}}, "request.contentz"),
        ({"model": "gemini-2.0-flash-001", "request": GOOD, "tenant": "x"}, "tenant"),
    ],
)
def test_bad_requests_are_refused_naming_the_field(
    api: TestClient, body: dict[str, Any], field: str, redis_url: str
) -> None:
    resp = api.post("/v1/requests", json=body, headers=auth())
    assert resp.status_code == 422, resp.text
    assert field in [e["field"] for e in resp.json()["errors"]]
    assert not list(redis.Redis.from_url(redis_url).scan_iter("vbq:req:*"))


def test_batch_reports_each_item_and_atomic_refuses_all(api: TestClient, redis_url: str) -> None:
    items = [
        {"model": "gemini-2.0-flash-001", "request": GOOD},
        {"model": "gemini-2.0-flash-001", "request": {"contents": [{"parts": []}]}},
        {"model": "gemini-2.0-flash-001", "request": GOOD, "metadata": {"n": 3}},
    ]
    atomic = api.post("/v1/requests:batch", json={"items": items, "atomic": True}, headers=auth())
    assert atomic.status_code == 422
    assert [e["field"] for e in atomic.json()["errors"]] == ["items[1].request.contents[0].parts"]
    assert not list(redis.Redis.from_url(redis_url).scan_iter("vbq:req:*"))
    resp = api.post("/v1/requests:batch", json={"items": items}, headers=auth())
    assert resp.status_code == 200
    out = resp.json()
    assert [a["index"] for a in out["accepted"]] == [0, 2]
    assert [e["index"] for e in out["errors"]] == [1]


def test_requests_off_without_a_pack_prefix(redis_url: str) -> None:
    keyring = ApiKeyRing.from_mapping({hash_api_key(KEY_A): "team-a"})
    settings = Settings.from_env({**env(redis_url), "VBQ_PACK_PREFIX": ""})
    app = create_app(client=Client.from_settings(settings), keyring=keyring, max_body_bytes=65536)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        resp = test_client.post(
            "/v1/requests", json={"model": "gemini-2.0-flash-001", "request": GOOD}, headers=auth()
        )
    assert resp.status_code == 404 and resp.json()["type"].endswith("requests-disabled")


def test_cli_add_status_and_usage(redis_url: str, tmp_path: Path) -> None:
    runner = CliRunner(env=env(redis_url))
    path = tmp_path / "prompts.jsonl"
    lines = [
        json.dumps({"request": GOOD}),
        json.dumps({"request": GOOD, "model": "gemini-2.5-pro", "idempotency_key": "a"}),
        "{not json",
        json.dumps({"request": {"contents": []}}),
    ]
    path.write_text("\n".join(lines) + "\n")
    result = runner.invoke(cli, ["request", "add", str(path), "--model", "gemini-2.0-flash-001"])
    assert result.exit_code == 1, result.output
    ids = [line for line in result.stdout.splitlines() if len(line) == 32]
    assert len(ids) == 2
    assert f"{path}:3: not JSON" in result.stderr
    assert f"{path}:4: request.contents:" in result.stderr
    shown = runner.invoke(cli, ["request", "status", ids[1], "--json"])
    assert shown.exit_code == 0, shown.output
    view = json.loads(shown.stdout)
    assert view["state"] == "PENDING" and view["model"].endswith("gemini-2.5-pro")
    assert runner.invoke(cli, ["request", "status", "0" * 32]).exit_code == 1
    usage = runner.invoke(cli, ["usage", "--json"])
    assert usage.exit_code == 0 and json.loads(usage.stdout) == {"tenant": [], "model": []}
