"""Fixtures for producer tests: a real Redis (job store and Celery broker) and a client on it."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from vbq.producers import Client
from vbq.settings import Settings

PROJECT = "test-project"


def valid_kwargs(n: int = 0, **extra: Any) -> dict[str, Any]:
    """SDK keyword arguments that pass every spec rule."""
    return {
        "job_display_name": f"job-{n}",
        "model_name": "publishers/google/models/gemini-2.0-flash-001",
        "gcs_source": f"gs://vbq-test-in/batch-{n}.jsonl",
        "gcs_destination_prefix": "gs://vbq-test-out/results",
        "labels": {"team": "ml", "n": str(n)},
        **extra,
    }


def broker_messages(url: str, queue: str) -> list[dict[str, Any]]:
    """Celery messages waiting in ``queue`` on a Redis broker: ``{task, args, kwargs}``."""
    client = redis.Redis.from_url(url)
    try:
        raw = client.lrange(queue, 0, -1)
    finally:
        client.close()
    out = []
    # kombu LPUSHes, so the list is newest first.
    for item in reversed(raw):
        envelope = json.loads(item)
        body = json.loads(base64.b64decode(envelope["body"]))
        out.append({"task": envelope["headers"]["task"], "args": body[0], "kwargs": body[1]})
    return out


def queued_ids(url: str) -> list[str]:
    """Submission ids waiting in the scheduler's queues (docs/contracts.md § Scheduler), in
    arrival order."""
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        found: list[tuple[float, str]] = []
        for key in client.scan_iter("vbq:sched:queue:*"):
            found += [(score, sid) for sid, score in client.zrange(key, 0, -1, withscores=True)]
    finally:
        client.close()
    return [sid for _, sid in sorted(found)]


def submitted_ids(url: str) -> list[str]:
    """Submission ids handed to the workers: queued for the dispatcher (in arrival order),
    then any ``vbq.submit`` message waiting on the broker (in publish order)."""
    msgs = broker_messages(url, "vbq.submit")
    assert all(m["task"] == "vbq.submit" for m in msgs)
    return [*queued_ids(url), *(m["args"][0] for m in msgs)]


def stored_ids(url: str) -> set[str]:
    """Ids of every submission record in the store."""
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        return {k.removeprefix("vbq:sub:") for k in client.scan_iter("vbq:sub:*")}
    finally:
        client.close()


@pytest.fixture
def settings(redis_url: str) -> Settings:
    return Settings.from_env(
        {"VBQ_REDIS_URL": redis_url, "VBQ_BROKER_URL": redis_url, "VBQ_PROJECT": PROJECT}
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[Client]:
    yield Client.from_settings(settings)
