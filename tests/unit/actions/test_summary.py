"""Summaries: stats, error classes, tokens, the JSON lines sink (fake storage)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.unit.actions.fakes import FakeStorage
from vbq.events import JobEvent
from vbq.subscribers.actions import JsonlFileSink, Summary, summarize
from vbq.subscribers.actions.summary import error_class_key

DIR = "gs://bkt/out/p"


def _event(job: dict[str, Any] | None, type_: str = "job.succeeded") -> JobEvent:
    state = type_.removeprefix("job.").upper()
    return JobEvent.create(
        type=type_, submission_id="c" * 32, state=state, previous_state="RUNNING", job=job,
        tenant="acme",
    )  # fmt: skip


def test_error_class_key_normalises_digits_space_and_length() -> None:
    assert error_class_key(3, "bad  line 12\ncol 7") == "3: bad line N col N"
    assert error_class_key(None, "x") == "?: x"
    assert len(error_class_key(3, "y" * 500)) == len("3: ") + 60


def test_summary_without_reading_rows() -> None:
    job = {
        "name": "projects/p/locations/l/batchPredictionJobs/9",
        "displayName": "nightly",
        "model": "m",
        "state": "JOB_STATE_PARTIALLY_SUCCEEDED",
        "completionStats": {"successfulCount": "7", "failedCount": "2"},
        "partialFailures": [{"code": 13, "message": "injected 1"}, {"code": 13, "message": "x"}],
        "outputInfo": {"gcsOutputDirectory": DIR},
    }
    s = summarize(_event(job, "job.partially_succeeded"))
    assert s.stats == {"successful": 7, "failed": 2, "incomplete": 0}
    assert s.rows is None and s.tokens is None and s.output == DIR
    assert (s.tenant, s.display_name, s.state) == ("acme", "nightly", "PARTIALLY_SUCCEEDED")
    assert [(c.key, c.count, c.source) for c in s.error_classes] == [
        ("13: injected N", 1, "job"),
        ("13: x", 1, "job"),
    ]


def test_summary_of_a_rejected_event_without_job() -> None:
    s = summarize(_event(None, "job.rejected"), read_rows=True)
    assert s.stats == {"successful": 0, "failed": 0, "incomplete": 0}
    assert s.rows is None and s.job_name == "" and s.read_error == ""


def test_reading_rows_counts_and_groups_failures_and_tokens() -> None:
    gem_ok = {
        "status": "",
        "request": {},
        "response": {
            "candidates": [{"content": {"parts": [{"text": "a"}]}}],
            "usageMetadata": {"promptTokenCount": 2, "candidatesTokenCount": 3},
        },
    }
    detail = {"error": {"code": 400, "message": "bad request 17"}}
    gem_bad = {"status": f"Bad Request: {json.dumps(detail)}", "request": {}}
    lines = [gem_ok, gem_ok, gem_bad, {**gem_bad}]
    data = "".join(json.dumps(r) + "\n" for r in lines).encode()
    storage = FakeStorage({"bkt": {"out/p/predictions.jsonl": data}})
    job = {"state": "JOB_STATE_SUCCEEDED", "outputInfo": {"gcsOutputDirectory": DIR}}
    s = summarize(_event(job), read_rows=True, client=storage)
    assert s.rows == {"predictions": 4, "errors": 0, "failed": 2}
    assert s.tokens == {"prompt": 4, "candidates": 6, "total": 10}
    assert [(c.key, c.count) for c in s.error_classes] == [("400: bad request N", 2)]
    assert s.error_classes[0].example == "bad request 17"


def test_custom_error_rows_and_read_errors() -> None:
    rows = [
        {"instance": 1, "prediction": 2},
        {"instance": "x", "error": {"code": 3, "message": "invalid JSON line: col 4"}},
        {"instance": "y", "error": {"code": 3, "message": "invalid JSON line: col 9"}},
        {"instance": "z", "error": {"code": 5, "message": "other"}},
    ]
    storage = FakeStorage(
        {
            "bkt": {
                "out/p/predictions_00001.jsonl": (json.dumps(rows[0]) + "\n").encode(),
                "out/p/errors_00001.jsonl": "".join(
                    json.dumps(r) + "\n" for r in rows[1:]
                ).encode(),
            }
        }
    )
    job = {"state": "JOB_STATE_SUCCEEDED", "outputInfo": {"gcsOutputDirectory": DIR}}
    s = summarize(_event(job), read_rows=True, client=storage, max_error_classes=1)
    assert s.rows == {"predictions": 1, "errors": 3, "failed": 3} and s.tokens is None
    assert [(c.key, c.count) for c in s.error_classes] == [("3: invalid JSON line: col N", 2)]
    broken = FakeStorage({"bkt": {"out/p/predictions_00001.jsonl": b"{nope\n"}})
    s2 = summarize(_event(job), read_rows=True, client=broken)
    assert "not JSON" in s2.read_error


def test_jsonl_sink_appends_one_line_per_summary(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "summaries.jsonl"
    action = Summary(sink=JsonlFileSink(path=path), name="s1")
    job = {"state": "JOB_STATE_FAILED", "error": {"code": 3, "message": "input missing"}}
    action(_event(job, "job.failed"))
    action(_event(job, "job.failed"))
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == 2
    assert lines[0]["job_error"] == "input missing"
    assert lines[0]["error_classes"][0] == {
        "key": "3: input missing",
        "count": 1,
        "example": "input missing",
        "source": "job",
    }
    assert action.__qualname__ == "Summary[s1]"
