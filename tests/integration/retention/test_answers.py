"""Expired ids through every reader: the native API, Google's surface and ``vbq status``."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis
from click.testing import CliRunner
from starlette.testclient import TestClient

from tests.integration.retention.helpers import run_to_success
from vbq.archive import Archiver
from vbq.cli import cli
from vbq.producers import Client
from vbq.producers.api import ApiKeyRing, create_app, generate_api_key, hash_api_key
from vbq.settings import Settings
from vbq.store import JobStore

pytestmark = pytest.mark.integration

KEY = generate_api_key()
AUTH = {"Authorization": f"Bearer {KEY}"}
JOBS = "/v1/projects/proj-a/locations/us-central1/batchPredictionJobs"


class _NoEnqueue:
    def enqueue_submit_many(self, submission_ids: Any) -> None:
        raise AssertionError("nothing is submitted here")

    def enqueue_cancel(self, submission_id: str) -> None:
        raise AssertionError("nothing is cancelled here")


def _expire(raw: redis.Redis, settings: Settings) -> None:
    Archiver(redis=raw, settings=settings, clock=lambda: time.time() + 2 * 3600).run_once()


def test_the_apis_and_the_cli_answer_for_archived_and_expired_ids(
    store: JobStore, raw: redis.Redis, settings: Settings
) -> None:
    unarchived = run_to_success(store, raw, 1, tenant="team-a")
    _expire(raw, settings.replace(archive_prefix=""))
    archived = run_to_success(store, raw, 2, tenant="team-a")
    _expire(raw, settings)

    client = Client(settings=settings, store=store, enqueuer=_NoEnqueue())  # type: ignore[arg-type]
    ring = ApiKeyRing.from_mapping({hash_api_key(KEY): "team-a"})
    app = create_app(client=client, keyring=ring, max_body_bytes=64 * 1024)
    with TestClient(app, raise_server_exceptions=False) as api:
        ok = api.get(f"/v1/submissions/{archived}", headers=AUTH)
        assert ok.status_code == 200, ok.text
        assert ok.json()["state"] == "SUCCEEDED"
        gone = api.get(f"/v1/submissions/{unarchived}", headers=AUTH)
        assert gone.status_code == 404 and gone.json()["type"].endswith("expired")
        assert "expired from the store after the retention window" in gone.json()["detail"]
        assert (
            api.get(f"/v1/submissions/{'e' * 32}", headers=AUTH)
            .json()["type"]
            .endswith("not-found")
        )

        job = api.get(f"{JOBS}/{int(archived, 16)}", headers=AUTH)
        assert job.status_code == 200, job.text
        assert job.json()["state"] == "JOB_STATE_SUCCEEDED"
        assert job.json()["displayName"] == "Job-2"
        expired = api.get(f"{JOBS}/{int(unarchived, 16)}", headers=AUTH)
        assert expired.status_code == 404
        assert expired.json()["error"]["status"] == "NOT_FOUND"
        assert "expired from the store" in expired.json()["error"]["message"]

    env = {
        "VBQ_REDIS_URL": settings.redis_url,
        "VBQ_BROKER_URL": settings.redis_url,
        "VBQ_PROJECT": "proj-a",
        "VBQ_RETENTION_S": str(settings.retention_s),
        "VBQ_ARCHIVE_PREFIX": settings.archive_prefix,
    }
    runner = CliRunner(env=env)
    shown = runner.invoke(cli, ["status", archived, "--json"])
    assert shown.exit_code == 0, shown.output
    assert '"state": "SUCCEEDED"' in shown.output
    refused = runner.invoke(cli, ["status", unarchived])
    assert refused.exit_code != 0
    assert "expired from the store after the retention window" in refused.output
