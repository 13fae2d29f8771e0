"""Shared helpers for the emulator integration tests."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

FINISHED = {
    "JOB_STATE_SUCCEEDED",
    "JOB_STATE_PARTIALLY_SUCCEEDED",
    "JOB_STATE_FAILED",
    "JOB_STATE_CANCELLED",
    "JOB_STATE_EXPIRED",
}
PARENT = "projects/test-project/locations/us-central1"


def wait_until(
    check: Callable[[], Any], *, timeout_s: float = 20.0, interval_s: float = 0.05
) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s (last: {value!r})")
        time.sleep(interval_s)


def new_bucket(storage_client: Any) -> Any:
    """A fresh bucket with a unique name in the storage emulator."""
    return storage_client.create_bucket(f"b-{uuid.uuid4().hex[:12]}")


def upload_jsonl(bucket: Any, name: str, rows: list[Any]) -> str:
    """Upload rows as JSON lines; returns the gs:// uri."""
    data = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)
    bucket.blob(name).upload_from_string(data)
    return f"gs://{bucket.name}/{name}"


def job_body(
    *,
    model: str = "publishers/google/models/gemini-2.0-flash-001",
    uris: list[str] | None = None,
    prefix: str = "gs://nowhere/out",
    labels: dict[str, str] | None = None,
    display_name: str = "job",
) -> dict[str, Any]:
    """A valid create body in REST camelCase."""
    body: dict[str, Any] = {
        "displayName": display_name,
        "model": model,
        "inputConfig": {
            "instancesFormat": "jsonl",
            "gcsSource": {"uris": uris or ["gs://nowhere/in.jsonl"]},
        },
        "outputConfig": {
            "predictionsFormat": "jsonl",
            "gcsDestination": {"outputUriPrefix": prefix},
        },
    }
    if labels:
        body["labels"] = labels
    return body


def gemini_request(text: str) -> dict[str, Any]:
    """One Gemini batch input line."""
    return {"request": {"contents": [{"role": "user", "parts": [{"text": text}]}]}}
