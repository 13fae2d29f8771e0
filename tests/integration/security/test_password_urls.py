"""Redis and broker URLs with a password are never printed by vbq's long-running roles.

A private ``redis-server --requirepass`` is started; ``vbq worker`` (Celery's banner and its
own log lines) and ``vbq beat`` (its start line with the redacted settings) run against a
password URL until they are ready; their whole output must not contain the password.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from vbq_demo.redis_binary import find_redis_server

from tests.support.services import ManagedProcess, free_port, vbq_argv
from vbq.settings import Settings
from vbq.workers.celery_app import create_app

pytestmark = pytest.mark.integration

PASSWORD = "Pw-" + "q7Zx" * 6


@pytest.fixture
def secure_redis_url(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    proc = ManagedProcess(
        f"redis-auth-{port}",
        [
            find_redis_server(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--requirepass",
            PASSWORD,
            "--dir",
            str(tmp_path),
        ],
        log_dir=tmp_path,
        port=port,
    ).start()
    url = f"redis://:{PASSWORD}@127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    assert client.ping()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=port, password="wrong").ping()
    client.close()
    yield url
    proc.stop()


def _env(url: str) -> dict[str, str]:
    return {
        "VBQ_REDIS_URL": url,
        "VBQ_BROKER_URL": url,
        "VBQ_PROJECT": "sec-project",
        "VBQ_VERTEX_ENDPOINT": "http://127.0.0.1:9",
        "VBQ_LOG_FORMAT": "json",
        "VBQ_LOG_LEVEL": "DEBUG",
    }


def _wait_for(proc: ManagedProcess, marker: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while marker not in proc.log_text():
        assert proc.alive(), proc.log_text()[-3000:]
        assert time.monotonic() < deadline, f"{marker!r} not logged:\n{proc.log_text()[-3000:]}"
        time.sleep(0.1)


def test_worker_banner_and_logs_never_show_the_redis_password(
    secure_redis_url: str, tmp_path: Path
) -> None:
    name = f"sec-{time.monotonic_ns()}@test"
    worker = ManagedProcess(
        "worker",
        vbq_argv("worker", "--pool", "solo", "--hostname", name),
        log_dir=tmp_path,
        env=_env(secure_redis_url),
    ).start()
    app = create_app(Settings.from_env(_env(secure_redis_url)))
    try:
        deadline = time.monotonic() + 60
        while not (app.control.ping([name], timeout=0.5) or []):
            assert worker.alive(), worker.log_text()[-3000:]
            assert time.monotonic() < deadline, worker.log_text()[-3000:]
        # An unsafe message on top: the worker logs the refusal, still without the password.
        app.send_task("vbq.submit", args=["not-an-id"], queue="vbq.submit")
        _wait_for(worker, "transport:")  # Celery's banner names the broker
        _wait_for(worker, "task.malformed_message")
    finally:
        app.close()
        worker.stop()
    text = worker.log_text()
    assert "127.0.0.1" in text
    assert PASSWORD not in text


def test_beat_start_line_never_shows_the_redis_password(
    secure_redis_url: str, tmp_path: Path
) -> None:
    beat = ManagedProcess(
        "beat", vbq_argv("beat", "--no-relay"), log_dir=tmp_path, env=_env(secure_redis_url)
    ).start()
    try:
        _wait_for(beat, "beat starting")
        time.sleep(1.0)  # a few ticks: sending tasks logs the broker connection too
    finally:
        beat.stop()
    text = beat.log_text()
    assert "redis_url" in text and "***" in text
    assert PASSWORD not in text


def test_doctor_never_shows_the_redis_password(secure_redis_url: str, tmp_path: Path) -> None:
    import subprocess

    port = secure_redis_url.rsplit(":", 1)[1].split("/", 1)[0]
    wrong = "Wrong-" + "k3y" * 6
    cases = {
        "right password": secure_redis_url,
        "wrong password": f"redis://:{wrong}@127.0.0.1:{port}/0",
        "nothing listening": f"redis://user:{PASSWORD}@127.0.0.1:1/0",
    }
    for case, url in cases.items():
        proc = subprocess.run(
            vbq_argv("doctor", "--timeout-s", "1"),
            env={**_env(url), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        out = proc.stdout + proc.stderr
        assert "redis" in out, (case, out)
        assert PASSWORD not in out and wrong not in out, (case, out)
