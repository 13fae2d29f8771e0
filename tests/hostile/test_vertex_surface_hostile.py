"""Google's surface of ``vbq api`` under hostile input: never a 5xx, always Google's envelope;
a refused create names the field and stores nothing (so nothing can reach Vertex); an accepted
one is a spec the workers can send."""

from __future__ import annotations

import json
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from starlette.testclient import TestClient

from tests.hostile.strategies import JSONISH, ODD_TEXT
from tests.integration.producers.conftest import stored_ids
from vbq.producers import Client
from vbq.producers.api import ApiKeyRing, create_app, generate_api_key, hash_api_key
from vbq.settings import Settings
from vbq.store import JobStore

pytestmark = pytest.mark.integration

KEY = generate_api_key()
AUTH = {"Authorization": f"Bearer {KEY}"}
JOBS = "/v1/projects/hostile/locations/us-central1/batchPredictionJobs"
VALID: dict[str, Any] = {
    "displayName": "hostile",
    "model": "publishers/google/models/gemini-2.0-flash-001",
    "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": ["gs://hostile-in/x"]}},
    "outputConfig": {
        "predictionsFormat": "jsonl",
        "gcsDestination": {"outputUriPrefix": "gs://hostile-out/out"},
    },
}
FIELDS = [
    "displayName",
    "model",
    "inputConfig",
    "outputConfig",
    "labels",
    "modelParameters",
    "dedicatedResources",
    "manualBatchTuningParameters",
    "explanationSpec",
    "encryptionSpec",
    "serviceAccount",
    "generateExplanation",
    "instanceConfig",
    "state",
    "name",
]
BODIES = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), JSONISH, max_size=4).map(lambda c: {**VALID, **c}),
    st.dictionaries(st.sampled_from(FIELDS), JSONISH, max_size=6),
    st.dictionaries(ODD_TEXT, JSONISH, max_size=3).map(lambda c: {**VALID, **c}),
    JSONISH,
)


def _settings(redis_url: str) -> Settings:
    return Settings.from_env(
        {"VBQ_REDIS_URL": redis_url, "VBQ_BROKER_URL": redis_url, "VBQ_PROJECT": "hostile"}
    )


def _app(redis_url: str) -> Any:
    ring = ApiKeyRing.from_mapping({hash_api_key(KEY): "team-a"})
    return create_app(
        client=Client.from_settings(_settings(redis_url)), keyring=ring, max_body_bytes=64 * 1024
    )


def test_schemathesis_finds_no_server_error_on_the_surface(redis_url: str) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", _app(redis_url))
    operations = [
        op
        for op in (result.ok() for result in schema.get_all_operations())
        if op.path.startswith(("/v1/projects/", "/v1beta1/projects/"))
    ]
    assert len(operations) == 12, [op.label for op in operations]
    calls: list[str] = []
    for operation in operations:

        @hsettings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            response = case.call_and_validate(headers=AUTH, checks=[not_a_server_error])
            calls.append(f"{case.operation.label} {response.status_code}")

        check()
    assert len(calls) >= len(operations) * 5


@pytest.fixture
def api(redis_url: str) -> Any:
    with TestClient(_app(redis_url), raise_server_exceptions=False) as client:
        yield client


@hsettings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=BODIES)
def test_any_create_body_is_refused_by_name_or_queued_as_a_sendable_spec(
    api: TestClient, redis_url: str, body: Any
) -> None:
    try:
        content = json.dumps(body).encode()
    except (ValueError, TypeError):
        return
    before = stored_ids(redis_url)
    resp = api.post(JOBS, content=content, headers={**AUTH, "Content-Type": "application/json"})
    assert resp.status_code < 500, resp.text
    payload = resp.json()
    if resp.status_code == 200:
        sid = resp.headers["X-Vbq-Submission-Id"]
        record = JobStore.from_settings(_settings(redis_url)).get(sid)
        # What the worker will send: Google's message type takes it.
        record.spec.resolve(default_project="hostile", default_location="us-central1")
        return
    assert resp.status_code == 400, resp.text
    error = payload["error"]
    assert error["status"] == "INVALID_ARGUMENT" and error["code"] == 400
    fields = [v["field"] for d in error["details"] for v in d.get("fieldViolations", [])]
    if body != [] and isinstance(body, dict):
        assert fields and all(f.startswith(("batch_prediction_job", "parent")) for f in fields), (
            error
        )
    assert stored_ids(redis_url) == before


@hsettings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    flt=st.one_of(ODD_TEXT, st.text(alphabet='labels.sate=!:<>()"* ANDORNOT_x-', max_size=60)),
    token=ODD_TEXT,
    mask=ODD_TEXT,
)
def test_any_list_query_gets_a_clean_answer(
    api: TestClient, flt: str, token: str, mask: str
) -> None:
    resp = api.get(JOBS, params={"filter": flt, "pageToken": token, "readMask": mask}, headers=AUTH)
    assert resp.status_code in (200, 400), resp.text
    if resp.status_code == 400:
        assert resp.json()["error"]["status"] == "INVALID_ARGUMENT"
