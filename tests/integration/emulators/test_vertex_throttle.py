"""Per-location create throttles of the Vertex emulator, set through its admin API."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.emulators.helpers import job_body
from tests.support.emulators import VertexEmulator

pytestmark = pytest.mark.integration

BUSY = "/v1/projects/test-project/locations/europe-west4/batchPredictionJobs"
FREE = "/v1/projects/test-project/locations/us-central1/batchPredictionJobs"


@pytest.fixture
def http(vertex_emulator: VertexEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=vertex_emulator.url, timeout=30.0) as client:
        yield client


def _statuses(http: httpx.Client, path: str, n: int) -> list[int]:
    return [http.post(path, json=job_body()).status_code for _ in range(n)]


def test_one_location_refuses_every_create_while_another_works(
    http: httpx.Client, vertex_emulator: VertexEmulator
) -> None:
    rules = vertex_emulator.throttle("europe-west4", limit_per_s=0)
    assert rules == [
        {
            "location": "europe-west4",
            "limit_per_s": 0,
            "then_per_s": None,
            "remaining_s": None,
            "current_limit_per_s": 0,
        }
    ]
    refused = http.post(BUSY, json=job_body())
    assert refused.status_code == 429
    error = refused.json()["error"]  # Google's JSON error envelope
    assert (error["code"], error["status"]) == (429, "RESOURCE_EXHAUSTED")
    assert "europe-west4" in error["message"]
    assert _statuses(http, BUSY, 3) == [429] * 3
    assert _statuses(http, FREE, 3) == [200] * 3
    log = [
        (e["location"], e["status"]) for e in vertex_emulator.requests() if e["method"] == "create"
    ]
    assert log == [("europe-west4", 429)] * 4 + [("us-central1", 200)] * 3
    assert vertex_emulator.stats()["jobs_created"] == 3


def test_limit_for_a_scaled_period_then_a_higher_limit(
    http: httpx.Client, vertex_emulator: VertexEmulator
) -> None:
    # for_s 150 at the session's time_scale 0.01: 1.5 s of real time.
    vertex_emulator.throttle("europe-west4", limit_per_s=2, for_s=150, then_per_s=4)
    assert _statuses(http, BUSY, 4) == [200, 200, 429, 429]
    time.sleep(1.6)
    (rule,) = vertex_emulator.throttle("europe-west4", limit_per_s=2, for_s=150, then_per_s=4)
    assert 1.0 <= rule["remaining_s"] <= 1.5  # set again: a new period
    time.sleep(1.6)
    (rule,) = vertex_emulator.throttles()
    assert rule["remaining_s"] == 0 and rule["current_limit_per_s"] == 4
    assert _statuses(http, BUSY, 6) == [200] * 4 + [429] * 2
    time.sleep(1.05)  # the window slides: a new second admits 4 again
    assert _statuses(http, BUSY, 1) == [200]


def test_star_applies_where_no_rule_is_and_clear_and_reset_remove(
    http: httpx.Client, vertex_emulator: VertexEmulator
) -> None:
    vertex_emulator.throttle("*", limit_per_s=0)
    vertex_emulator.throttle("us-central1", limit_per_s=10)
    assert _statuses(http, BUSY, 1) == [429]
    assert _statuses(http, FREE, 1) == [200]
    vertex_emulator.throttle("*", clear=True)
    assert _statuses(http, BUSY, 1) == [200]
    vertex_emulator.reset()
    assert vertex_emulator.throttles() == []


@pytest.mark.parametrize(
    "rule",
    [
        {"limit_per_s": 1},  # no location
        {"location": "x", "limit_per_s": -1},
        {"location": "x", "limit_per_s": 1.5},
        {"location": "x"},  # no limit
        {"location": "x", "limit_per_s": 1, "for_s": "soon"},
        {"location": "x", "limit_per_s": 1, "burst": 3},
    ],
)
def test_bad_rules_are_refused(http: httpx.Client, rule: dict[str, object]) -> None:
    response = http.post("/_emulator/throttle", json=rule)
    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
