"""``vbq api`` as a real uvicorn process, driven over HTTP with httpx."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.integration.producers.conftest import PROJECT, stored_ids, submitted_ids, valid_kwargs
from tests.support.services import ManagedProcess, free_port, vbq_argv
from vbq.producers.api import generate_api_key
from vbq.producers.api.auth import key_file_line

pytestmark = pytest.mark.integration

KEY = generate_api_key()
KEYS_FILE = "keys.yaml"


@pytest.fixture
def server(redis_url: str, tmp_path: Path) -> Iterator[str]:
    keys = tmp_path / KEYS_FILE
    keys.write_text(key_file_line(KEY, "team-a") + "\n")
    port = free_port()
    proc = ManagedProcess(
        "vbq-api",
        vbq_argv("api", "--host", "127.0.0.1", "--port", str(port)),
        log_dir=tmp_path,
        port=port,
        env={
            "VBQ_REDIS_URL": redis_url,
            "VBQ_PROJECT": PROJECT,
            "VBQ_API_KEYS_FILE": str(keys),
            "VBQ_API_MAX_BODY_BYTES": "4096",
            "VBQ_LOG_FORMAT": "json",
        },
    ).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.stop()
        assert KEY not in proc.log_text()  # keys never reach a log


def _concurrent_replays_create_each_submission_once(
    server: str, redis_url: str, *, before: set[str]
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def post(i: int) -> tuple[int, str]:
        with httpx.Client(base_url=server, timeout=30) as http:
            resp = http.post(
                "/v1/submissions",
                json={**valid_kwargs(i % 12), "idempotency_key": f"k{i % 12}"},
                headers={"X-API-Key": KEY},
            )
            assert resp.status_code in (200, 201), resp.text
            return resp.status_code, str(resp.json()["submission_id"])

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(post, range(24)))
    ids = {sid for _, sid in results}
    assert len(ids) == 12
    assert sum(1 for status, _ in results if status == 201) == 12  # one creator per key
    assert stored_ids(redis_url) == ids | before
    assert set(submitted_ids(redis_url)) == ids


def test_real_server_round_trip(server: str, redis_url: str, tmp_path: Path) -> None:
    keys_file = tmp_path / KEYS_FILE
    with httpx.Client(base_url=server, timeout=10) as http:
        assert http.get("/healthz").status_code == 200
        assert http.post("/v1/submissions", json=valid_kwargs(1)).status_code == 401
        resp = http.post("/v1/submissions", json=valid_kwargs(1), headers={"X-API-Key": KEY})
        assert resp.status_code == 201, resp.text
        sid = resp.json()["submission_id"]
        assert stored_ids(redis_url) == {sid}
        assert submitted_ids(redis_url) == [sid]
        got = http.get(f"/v1/submissions/{sid}", headers={"Authorization": f"Bearer {KEY}"})
        assert got.json()["state"] == "ACCEPTED"
        # Oversized, with and without Content-Length (chunked): refused on the stream.
        big = http.post("/v1/submissions", content=b"{" + b" " * 5000, headers={"X-API-Key": KEY})
        assert big.status_code == 413
        chunked = http.post(
            "/v1/submissions",
            content=iter([b"{" + b" " * 1000] * 10),
            headers={"X-API-Key": KEY},
        )
        assert chunked.status_code == 413
        assert chunked.headers["content-type"].startswith("application/problem+json")
        assert http.get("/openapi.json").json()["info"]["title"] == "vertex-batch-queue"
        # Keys added to the file work without a restart (re-read within ~1 s).
        added = generate_api_key()
        with keys_file.open("a") as handle:
            handle.write(key_file_line(added, "team-b") + "\n")
        deadline = time.monotonic() + 15
        while http.get("/v1/submissions", headers={"X-API-Key": added}).status_code != 200:
            assert time.monotonic() < deadline, "added key not picked up"
            time.sleep(0.2)
        listed = http.get("/v1/submissions", headers={"X-API-Key": added}).json()
        assert listed["submissions"] == []  # team-b sees nothing of team-a
    # Same process: starting a server costs seconds on a loaded machine.
    r = redis.Redis.from_url(redis_url)
    r.delete("vbq.submit", *r.keys("vbq:sched:queue:*"))
    _concurrent_replays_create_each_submission_once(server, redis_url, before={sid})


def test_api_refuses_to_start_without_keys(redis_url: str) -> None:
    from click.testing import CliRunner

    from vbq.cli import cli

    env = {"VBQ_REDIS_URL": redis_url, "VBQ_API_KEYS_FILE": ""}
    result = CliRunner(env=env).invoke(cli, ["api", "--port", str(free_port())])
    assert result.exit_code == 1
    assert "VBQ_API_KEYS_FILE" in result.output
