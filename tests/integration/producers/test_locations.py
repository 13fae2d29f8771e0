"""``locations`` through every producer surface: the HTTP API (single and batch), ``vbq submit
--location`` and ``vbq status`` (docs/contracts.md § Placement)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from tests.integration.producers.conftest import PROJECT, valid_kwargs
from vbq.cli import cli
from vbq.producers import Client
from vbq.producers.api import ApiKeyRing, create_app, generate_api_key, hash_api_key
from vbq.settings import Settings

pytestmark = pytest.mark.integration

KEY = generate_api_key()
EU, US = "europe-west4", "us-central1"
ENV = {"VBQ_PROJECT": PROJECT, "VBQ_LOCATIONS": f"{US},{EU}"}


@pytest.fixture
def api(redis_url: str) -> Iterator[TestClient]:
    settings = Settings.from_env({"VBQ_REDIS_URL": redis_url, **ENV})
    keyring = ApiKeyRing.from_mapping({hash_api_key(KEY): "team-a"})
    app = create_app(
        client=Client.from_settings(settings), keyring=keyring, max_body_bytes=64 * 1024
    )
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_api_takes_locations_and_names_the_broken_one(api: TestClient) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    resp = api.post(
        "/v1/submissions", json={**valid_kwargs(1), "locations": [EU, US]}, headers=auth
    )
    assert resp.status_code == 201, resp.text
    view = resp.json()
    assert view["locations"] == [EU, US] and view["location"] == EU
    got = api.get(f"/v1/submissions/{view['submission_id']}", headers=auth).json()
    assert got["locations"] == [EU, US]
    bad = api.post(
        "/v1/submissions", json={**valid_kwargs(2), "locations": [US, "asia-east1"]}, headers=auth
    )
    assert bad.status_code == 422, bad.text
    assert [(e["field"], e["rule"]) for e in bad.json()["errors"]] == [("locations[1]", "unknown")]
    batch = api.post(
        "/v1/submissions:batch",
        json={"items": [{**valid_kwargs(3), "locations": [US]}, valid_kwargs(4)]},
        headers=auth,
    )
    assert batch.status_code == 200, batch.text
    assert len(batch.json()["accepted"]) == 2


def test_cli_location_flag_and_status(redis_url: str, tmp_path: Path) -> None:
    runner = CliRunner(env={"VBQ_REDIS_URL": redis_url, "VBQ_BROKER_URL": redis_url, **ENV})
    one = tmp_path / "one.json"
    one.write_text(json.dumps(valid_kwargs(1)))
    result = runner.invoke(cli, ["submit", str(one), "--location", US, "--location", EU])
    assert result.exit_code == 0, result.output
    sid = result.stdout.strip().splitlines()[-1]
    status = runner.invoke(cli, ["status", sid, "--json"])
    assert status.exit_code == 0, status.output
    shown = json.loads(status.stdout)
    assert shown["locations"] == [US, EU] and shown["location"] == US
    refused = runner.invoke(cli, ["submit", str(one), "--location", "Mars"])
    assert refused.exit_code == 1
    assert "locations[0]" in refused.output and "[format]" in refused.output
