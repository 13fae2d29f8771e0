"""Helpers of the operations tests: scrape /metrics, start vbq roles with a metrics port."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.services import ManagedProcess, free_port, vbq_argv
from vbq.pubsub.admin import ensure_event_resources
from vbq.settings import Settings

HANDLER = "tests.integration.events.handlers:record"


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``{(sample name, sorted labels): value}`` from ``http://127.0.0.1:port/metrics``."""
    r = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10.0)
    r.raise_for_status()
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = float(s.value)
    return out


def total(
    samples: Mapping[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    """Sum of the samples called ``name`` whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, lab), v in samples.items() if n == name and want <= set(lab))


def get_json(port: int, path: str) -> tuple[int, dict[str, object]]:
    r = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=10.0)
    return r.status_code, r.json()


def wait_healthy(port: int, proc: ManagedProcess, *, timeout_s: float = 60.0) -> None:
    """Block until ``/healthz`` answers 200 (fails with the log tail if the process dies)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} died:\n{proc.log_text()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{proc.name}: /healthz not 200 in {timeout_s}s:\n{proc.log_text()[-3000:]}")


def event_names(prefix: str = "ops") -> dict[str, str]:
    """Unique Pub/Sub names for one test on a shared emulator (VBQ_* variables)."""
    tag = f"{prefix}-{uuid.uuid4().hex[:10]}"
    return {
        "VBQ_EVENTS_TOPIC": f"{tag}-events",
        "VBQ_EVENTS_SUBSCRIPTION": f"{tag}-events-sub",
        "VBQ_DEAD_LETTER_TOPIC": f"{tag}-dead",
    }


def create_event_resources(env: Mapping[str, str]) -> Settings:
    """Create the topic and subscriptions that ``env`` names; returns its settings."""
    settings = Settings.from_env(dict(env))
    ensure_event_resources(settings)
    return settings


def start_role(
    name: str, args: Sequence[str], *, env: Mapping[str, str], log_dir: Path, metrics: bool = True
) -> tuple[ManagedProcess, int]:
    """Start ``vbq <args> --metrics-port P`` (a free P); returns the process and P."""
    port = free_port()
    argv = vbq_argv(*args, *(["--metrics-port", str(port)] if metrics else []))
    # Test servers listen on loopback only (containers use the 0.0.0.0 default).
    env = {"VBQ_METRICS_HOST": "127.0.0.1", **env}
    proc = ManagedProcess(name, argv, log_dir=log_dir, env=env).start()
    return proc, port
