"""Helpers for the actions integration tests: run real emulator jobs, build their events."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.integration.emulators.helpers import FINISHED, PARENT, job_body
from tests.support.emulators import VertexEmulator
from vbq.events import JobEvent
from vbq.states import parse_job_state

__all__ = ["event_for", "gemini_line", "run_job", "sid"]

GEMINI = "publishers/google/models/gemini-2.0-flash-001"
CUSTOM = "projects/test-project/locations/us-central1/models/1234567890"


def sid(i: int) -> str:
    return f"{i:032x}"


def gemini_line(text: str, key: str | None = None) -> dict[str, Any]:
    line: dict[str, Any] = {"request": {"contents": [{"role": "user", "parts": [{"text": text}]}]}}
    if key is not None:
        line["key"] = key
    return line


def run_job(
    emulator: VertexEmulator,
    *,
    model: str,
    uris: list[str],
    prefix: str,
    predictions_format: str = "jsonl",
    timeout_s: float = 30.0,
) -> dict[str, Any]:
    """Create a job on the emulator and wait until it finishes; returns the final resource."""
    body = job_body(model=model, uris=uris, prefix=prefix)
    body["outputConfig"]["predictionsFormat"] = predictions_format
    with httpx.Client(base_url=emulator.url, timeout=30.0) as http:
        created = http.post(f"/v1/{PARENT}/batchPredictionJobs", json=body)
        assert created.status_code == 200, created.text
        name = created.json()["name"]
        deadline = time.monotonic() + timeout_s
        while True:
            job: dict[str, Any] = http.get(f"/v1/{name}").json()
            if job["state"] in FINISHED:
                return job
            assert time.monotonic() < deadline, f"job did not finish: {job['state']}"
            time.sleep(0.05)


def event_for(job: dict[str, Any] | None, *, submission_id: str = sid(1), **kw: Any) -> JobEvent:
    """The event the poller publishes when ``job`` reached its state."""
    if job is None:
        state, type_ = kw.pop("state", "REJECTED"), kw.pop("type", "job.rejected")
    else:
        short = parse_job_state(job["state"]).short
        state, type_ = short, f"job.{short.lower()}"
    return JobEvent.create(
        type=type_,
        submission_id=submission_id,
        state=state,
        previous_state="RUNNING",
        job=job,
        **kw,
    )
