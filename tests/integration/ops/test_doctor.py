"""`vbq doctor` against real services: all OK (exit 0); a missing subscription fails (exit 1)."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.integration.ops.helpers import create_event_resources, event_names
from tests.support.emulators import VertexEmulator
from tests.support.services import REPO_ROOT, vbq_argv

pytestmark = [pytest.mark.integration]


def _doctor(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VBQ_")}
    return subprocess.run(
        vbq_argv("doctor", "--timeout-s", "5"),
        check=False,
        env={**clean, **env, "COLUMNS": "160"},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_doctor_passes_on_healthy_services_and_names_a_missing_subscription(
    redis_url: str, vertex_emulator: VertexEmulator, shared_pubsub_host: str
) -> None:
    env = {
        "VBQ_PROJECT": "vbq-doctor",
        "VBQ_REDIS_URL": redis_url,
        "VBQ_VERTEX_ENDPOINT": vertex_emulator.url,
        "PUBSUB_EMULATOR_HOST": shared_pubsub_host,
        **event_names("doctor"),
    }
    missing_sub = {**env, "VBQ_EVENTS_SUBSCRIPTION": env["VBQ_EVENTS_SUBSCRIPTION"] + "-none"}
    create_event_resources(env)

    ok = _doctor(env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    for name in ("config", "credentials", "redis", "broker", "vertex", "pubsub topic"):
        assert name in ok.stdout
    assert "FAIL" not in ok.stdout and "WARN" not in ok.stdout

    bad = _doctor(missing_sub)
    assert bad.returncode == 1, bad.stdout
    line = next(x for x in bad.stdout.splitlines() if "pubsub subscription" in x)
    assert "FAIL" in line and "NotFound" in line
