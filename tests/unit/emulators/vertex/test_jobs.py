"""The emulator's job store and lifecycle clock, in process (real threads, local files)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from vbq_emulators.errors import ApiError
from vbq_emulators.vertex.config import EmulatorConfig
from vbq_emulators.vertex.filters import parse_filter
from vbq_emulators.vertex.jobs import JobStore

PARENT = "projects/p/locations/us-central1"
FINISHED = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"}


def wait_for(check: Any, timeout_s: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError("condition not met")


@pytest.fixture
def make_store() -> Iterator[Any]:
    stores: list[JobStore] = []

    def make(**changes: Any) -> JobStore:
        config = EmulatorConfig().merged(changes)
        store = JobStore(config=lambda: config)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


def body(tmp_path: Path, *, rows: int = 2) -> dict[str, Any]:
    source = tmp_path / "in.jsonl"
    source.write_text("".join(f'{{"x": {i}}}\n' for i in range(rows)))
    return {
        "displayName": "job",
        "model": f"{PARENT}/models/9",
        "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": [f"file://{source}"]}},
        "outputConfig": {
            "predictionsFormat": "jsonl",
            "gcsDestination": {"outputUriPrefix": f"file://{tmp_path}/out"},
        },
    }


def test_outputs_exist_before_success_is_reported(make_store: Any, tmp_path: Path) -> None:
    store = make_store(queued_s=0.0, run_s=0.0)
    name = store.create(PARENT, body(tmp_path, rows=3), api_version="v1")["name"]
    job = wait_for(lambda: (j := store.get(name))["state"] in FINISHED and j)
    assert job["state"] == "JOB_STATE_SUCCEEDED"
    directory = Path(job["outputInfo"]["gcsOutputDirectory"].removeprefix("file://"))
    assert len((directory / "predictions_00001.jsonl").read_text().splitlines()) == 3


def test_cancel_while_finishing_ends_with_the_real_outcome(make_store: Any, tmp_path: Path) -> None:
    # run_s 1 s: the toy model writes its outputs at once, then the job waits to finish.
    store = make_store(queued_s=0.0, run_s=1.0, cancel_s=0.05)
    name = store.create(PARENT, body(tmp_path), api_version="v1")["name"]
    wait_for(lambda: list((tmp_path / "out").glob("*/predictions_00001.jsonl")))
    store.cancel(name)
    assert store.get(name)["state"] == "JOB_STATE_CANCELLING"
    time.sleep(0.2)  # past cancel_s: a job without outputs would be CANCELLED by now
    assert store.get(name)["state"] == "JOB_STATE_CANCELLING"
    job = wait_for(lambda: (j := store.get(name))["state"] in FINISHED and j)
    assert job["state"] == "JOB_STATE_SUCCEEDED"


def test_cancel_while_queued(make_store: Any, tmp_path: Path) -> None:
    store = make_store(queued_s=100.0, cancel_s=0.0)
    name = store.create(PARENT, body(tmp_path), api_version="v1")["name"]
    store.cancel(name)
    job = wait_for(lambda: (j := store.get(name))["state"] in FINISHED and j)
    assert job["state"] == "JOB_STATE_CANCELLED"
    assert "startTime" not in job
    with pytest.raises(ApiError) as info:
        store.cancel(name)
    assert info.value.status == "FAILED_PRECONDITION"


def test_concurrency_count_and_reset(make_store: Any, tmp_path: Path) -> None:
    store = make_store(queued_s=100.0)
    for _ in range(3):
        store.create(PARENT, body(tmp_path), api_version="v1")
    assert store.unfinished_count() == 3
    assert store.state_counts() == {"JOB_STATE_PENDING": 3}
    page, token = store.list(PARENT, parse_filter(""), page_size=2, page_token="", filter_text="")
    assert len(page) == 2 and token
    store.reset()
    assert store.unfinished_count() == 0 and store.all_jobs() == []
    with pytest.raises(ApiError):  # tokens do not survive a reset
        store.list(PARENT, parse_filter(""), page_size=2, page_token=token, filter_text="")


def test_job_ids_repeat_with_the_seed(make_store: Any, tmp_path: Path) -> None:
    first = make_store(seed=5, queued_s=100.0)
    second = make_store(seed=5, queued_s=100.0)
    names_a = [first.create(PARENT, body(tmp_path), api_version="v1")["name"] for _ in range(3)]
    names_b = [second.create(PARENT, body(tmp_path), api_version="v1")["name"] for _ in range(3)]
    assert names_a == names_b and len(set(names_a)) == 3
