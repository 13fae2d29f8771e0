"""The health server and readiness checks, in process (no outside service)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.support.services import free_port
from vbq.health import HealthServer
from vbq.metrics import observe_vertex_call
from vbq.readiness import Readiness, readiness_for_role, redis_check
from vbq.settings import Settings


def _fail() -> None:
    raise ConnectionError("connection refused to redis://:secretpw@10.0.0.1:6379")


def _serve(readiness: Readiness, *, alive: bool = True) -> HealthServer:
    return HealthServer(
        port=0, host="127.0.0.1", readiness=readiness, liveness=lambda: alive, role="test"
    ).start()


def test_ready_and_alive_answer_200_with_each_check() -> None:
    server = _serve(Readiness(checks={"redis": lambda: None, "broker": lambda: None}))
    try:
        base = f"http://127.0.0.1:{server.port}"
        r = httpx.get(f"{base}/healthz")
        assert r.status_code == 200 and r.json()["status"] == "ok"
        r = httpx.get(f"{base}/readyz")
        assert r.status_code == 200
        checks = {"redis": "ok", "broker": "ok"}
        assert r.json() == {"ready": True, "checks": checks, "role": "test"}
        assert httpx.get(f"{base}/nope").status_code == 404
    finally:
        server.stop()


def test_a_failing_check_makes_readyz_503_names_it_and_redacts_passwords() -> None:
    server = _serve(Readiness(checks={"redis": _fail, "broker": lambda: None}), alive=True)
    try:
        r = httpx.get(f"http://127.0.0.1:{server.port}/readyz")
        assert r.status_code == 503
        body = r.json()
        assert body["ready"] is False
        assert body["checks"]["broker"] == "ok"
        assert body["checks"]["redis"].startswith("ConnectionError")
        assert "secretpw" not in r.text
        # Liveness does not depend on the dependencies.
        assert httpx.get(f"http://127.0.0.1:{server.port}/healthz").status_code == 200
    finally:
        server.stop()


def test_dead_loop_makes_healthz_503() -> None:
    server = _serve(Readiness(checks={}), alive=False)
    try:
        r = httpx.get(f"http://127.0.0.1:{server.port}/healthz")
        assert r.status_code == 503 and r.json()["status"] == "dead"
    finally:
        server.stop()


def test_metrics_endpoint_serves_prometheus_text_with_vbq_metrics() -> None:
    observe_vertex_call("get", 200, 0.01)
    server = _serve(Readiness(checks={}))
    try:
        r = httpx.get(f"http://127.0.0.1:{server.port}/metrics")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain")
        assert 'vbq_vertex_api_calls_total{method="get",status="200"}' in r.text
        assert "vbq_submit_latency_seconds_bucket" in r.text
    finally:
        server.stop()


def test_readiness_caches_results_for_cache_s() -> None:
    calls: list[int] = []
    readiness = Readiness(checks={"x": lambda: calls.append(1)}, cache_s=60)
    assert readiness.run() == (True, {"x": "ok"})
    assert readiness.run() == (True, {"x": "ok"})
    assert len(calls) == 1
    uncached = Readiness(checks={"x": lambda: calls.append(1)}, cache_s=0)
    uncached.run()
    uncached.run()
    assert len(calls) == 3


def test_redis_check_fails_fast_on_a_closed_port() -> None:
    check = redis_check(f"redis://127.0.0.1:{free_port()}/0", timeout_s=0.5)
    with pytest.raises(Exception, match=r"(?i)connect"):
        check()


@pytest.mark.parametrize(
    ("role", "names"),
    [
        ("worker", ["redis", "broker"]),
        ("beat", ["redis", "broker", "pubsub"]),
        ("relay", ["redis", "pubsub"]),
        ("subscriber", ["redis", "pubsub"]),
        ("api", ["redis", "broker"]),
    ],
)
def test_each_role_checks_what_it_needs(role: str, names: list[str]) -> None:
    settings = Settings(project="p")
    assert list(readiness_for_role(role, settings).checks) == names


def test_json_bodies_are_json() -> None:
    server = _serve(Readiness(checks={}))
    try:
        status, doc = server.readyz_body()
        assert status == 200 and json.loads(json.dumps(doc))["ready"] is True
    finally:
        server.stop()


def test_loading_the_cli_does_not_import_the_metrics_module() -> None:
    # `vbq worker` must switch prometheus-client to multiprocess mode before vbq.metrics loads.
    import subprocess
    import sys

    code = "import sys, vbq.cli; sys.exit(1 if 'vbq.metrics' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_multiprocess_mode_aggregates_samples_written_by_other_processes(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = (
        "import os, sys\n"
        "from vbq.health import enable_multiprocess_metrics\n"
        "os.environ['PROMETHEUS_MULTIPROC_DIR'] = sys.argv[1]\n"
        "enable_multiprocess_metrics()\n"
        "from vbq import metrics\n"
        "if os.fork() == 0:\n"
        "    metrics.observe_vertex_call('create', 200, 0.1)\n"
        "    os._exit(0)\n"
        "os.wait()\n"
        "from vbq.health import render_metrics\n"
        "print(render_metrics()[0].decode())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], check=True, capture_output=True, text=True
    ).stdout
    assert 'vbq_vertex_api_calls_total{method="create",status="200"} 1.0' in out


def test_start_for_role_binds_the_configured_address_and_is_off_at_port_0() -> None:
    from vbq.health import start_for_role

    assert start_for_role("worker", Settings(metrics_port=0)) is None
    port = free_port()
    server = start_for_role("worker", Settings(metrics_port=port, metrics_host="127.0.0.1"))
    assert server is not None
    try:
        assert (server.host, server.port) == ("127.0.0.1", port)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
    finally:
        server.stop()
