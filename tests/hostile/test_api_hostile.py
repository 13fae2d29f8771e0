"""The HTTP API under hostile input: never a 5xx, always a problem+json answer.

- schemathesis against the app's own ``/openapi.json`` (API key configured, bounded examples,
  check ``not_a_server_error``);
- hypothesis bodies (any JSON, wrong types) on the write routes;
- oversized bodies (413) and JSON nested 10,000 deep (400) through the ASGI app, then through a
  live ``vbq api`` (uvicorn) process that must still be alive and serving afterwards, with no
  traceback in its log.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from schemathesis.checks import not_a_server_error
from starlette.testclient import TestClient

from tests.hostile.strategies import JSONISH, VALID, nested
from tests.support.services import ManagedProcess, free_port, vbq_argv
from vbq.producers import Client
from vbq.producers.api import ApiKeyRing, create_app, generate_api_key, hash_api_key
from vbq.producers.api.auth import key_file_line
from vbq.settings import Settings

pytestmark = pytest.mark.integration

KEY = generate_api_key()
AUTH = {"Authorization": f"Bearer {KEY}"}
MAX_BODY = 64 * 1024


def _app(redis_url: str) -> Any:
    settings = Settings.from_env(
        {
            "VBQ_REDIS_URL": redis_url,
            "VBQ_BROKER_URL": redis_url,
            "VBQ_PROJECT": "hostile",
            "VBQ_PACK_PREFIX": "gs://hostile-bucket/vbq",  # the /v1/requests routes are fuzzed too
        }
    )
    ring = ApiKeyRing.from_mapping({hash_api_key(KEY): "team-a"})
    return create_app(client=Client.from_settings(settings), keyring=ring, max_body_bytes=MAX_BODY)


@pytest.fixture
def api(redis_url: str) -> Iterator[TestClient]:
    with TestClient(_app(redis_url), raise_server_exceptions=False) as client:
        yield client


def test_schemathesis_finds_no_server_error(redis_url: str) -> None:
    # Programmatic rather than ``schemathesis.pytest.from_fixture`` (which does not run under
    # pytest 9): every operation of the app's own OpenAPI document, bounded examples each.
    schema = schemathesis.openapi.from_asgi("/openapi.json", _app(redis_url))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 5, [op.label for op in operations]
    calls: list[str] = []
    for operation in operations:

        @hsettings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            response = case.call_and_validate(headers=AUTH, checks=[not_a_server_error])
            calls.append(f"{case.operation.label} {response.status_code}")

        check()
    assert len(calls) >= len(operations)


def _assert_clean_refusal_or_success(resp: Any) -> None:
    assert resp.status_code < 500, resp.text
    if resp.status_code >= 400:
        assert resp.headers["content-type"].startswith("application/problem+json"), resp.text
        assert resp.json()["status"] == resp.status_code


@hsettings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=JSONISH)
def test_any_json_body_gets_a_clean_answer(api: TestClient, body: Any) -> None:
    try:
        content = json.dumps(body).encode()
    except (ValueError, TypeError):
        return
    for path in ("/v1/submissions", "/v1/submissions:batch"):
        resp = api.post(path, content=content, headers={**AUTH, "Content-Type": "application/json"})
        _assert_clean_refusal_or_success(resp)
    batch = {"items": [body, VALID], "atomic": False}
    try:
        resp = api.post("/v1/submissions:batch", json=batch, headers=AUTH)
    except ValueError:
        return
    _assert_clean_refusal_or_success(resp)


def test_oversized_and_deeply_nested_bodies_are_refused_cleanly(api: TestClient) -> None:
    big = b'{"job_display_name": "' + b"x" * (MAX_BODY + 1) + b'"}'
    resp = api.post("/v1/submissions", content=big, headers=AUTH)
    assert resp.status_code == 413, resp.text
    for kind in ("list", "object"):
        deep = nested(10_000, kind=kind).encode()
        for path in ("/v1/submissions", "/v1/submissions:batch"):
            resp = api.post(path, content=deep, headers=AUTH)
            assert 400 <= resp.status_code < 500, resp.text
            _assert_clean_refusal_or_success(resp)
    deep_field = json.dumps({**VALID, "model_parameters": "PLACEHOLDER"}).replace(
        '"PLACEHOLDER"', nested(10_000, kind="object")
    )
    resp = api.post("/v1/submissions", content=deep_field.encode(), headers=AUTH)
    assert 400 <= resp.status_code < 500, resp.text
    for raw in (b"", b"\xff\xfe", b"NaN", b'{"a": NaN}', b"{" * 10, b"[" + b"1," * 50_000 + b"1]"):
        _assert_clean_refusal_or_success(api.post("/v1/submissions", content=raw, headers=AUTH))
    assert api.get("/healthz").status_code == 200


@pytest.fixture
def live_api(redis_url: str, tmp_path: Path) -> Iterator[tuple[str, ManagedProcess]]:
    keys = tmp_path / "keys.yaml"
    keys.write_text(key_file_line(KEY, "team-a") + "\n")
    port = free_port()
    proc = ManagedProcess(
        "vbq-api",
        vbq_argv("api", "--host", "127.0.0.1", "--port", str(port)),
        log_dir=tmp_path,
        port=port,
        env={
            "VBQ_REDIS_URL": redis_url,
            "VBQ_PROJECT": "hostile",
            "VBQ_API_KEYS_FILE": str(keys),
            "VBQ_API_MAX_BODY_BYTES": str(MAX_BODY),
            "VBQ_LOG_FORMAT": "json",
        },
    ).start()
    try:
        yield f"http://127.0.0.1:{port}", proc
    finally:
        proc.stop()


def test_live_server_survives_oversized_chunked_and_deep_bodies(
    live_api: tuple[str, ManagedProcess],
) -> None:
    url, proc = live_api
    with httpx.Client(base_url=url, headers=AUTH, timeout=30) as http:
        # Declared too large: refused before the body is read.
        big = b"x" * (4 * MAX_BODY)
        assert http.post("/v1/submissions", content=big).status_code == 413

        # Chunked, no Content-Length: counted while streaming, refused past the limit.
        def chunks() -> Iterator[bytes]:
            for _ in range(64):
                yield b" " * 4096

        assert http.post("/v1/submissions", content=chunks()).status_code == 413
        for kind in ("list", "object"):
            resp = http.post("/v1/submissions", content=nested(10_000, kind=kind).encode())
            assert 400 <= resp.status_code < 500, resp.text
            assert resp.headers["content-type"].startswith("application/problem+json")
        ok = http.post("/v1/submissions", json=VALID)
        assert ok.status_code == 201, ok.text
        assert http.get("/healthz").status_code == 200
    assert proc.alive()
    log = proc.log_text()
    assert "Traceback" not in log and "RecursionError" not in log, log[-3000:]
    assert KEY not in log
