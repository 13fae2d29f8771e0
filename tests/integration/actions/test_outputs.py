"""Outputs written by the real Vertex emulator into the real storage emulator, read back."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.actions.helpers import CUSTOM, GEMINI, event_for, gemini_line, run_job
from tests.integration.emulators.helpers import new_bucket, upload_jsonl
from tests.support.emulators import VertexEmulator
from vbq.errors import OutputsError
from vbq.subscribers.actions import (
    GeminiRow,
    iter_gemini_rows,
    iter_output_files,
    iter_predictions,
)

pytestmark = pytest.mark.integration


def _instances(n: int) -> list[dict[str, Any]]:
    return [{"id": i, "text": f"row {i} " + "x" * (i % 7)} for i in range(n)]


def test_custom_model_predictions_and_errors_stream_across_files(
    vertex_emulator: VertexEmulator, storage_client: Any
) -> None:
    vertex_emulator.configure(rows_per_file=10)
    bucket = new_bucket(storage_client)
    good = _instances(25)
    bad = ["not json {", "{also: bad"]
    uri = upload_jsonl(bucket, "in/a.jsonl", [*good[:12], bad[0], *good[12:], bad[1]])
    job = run_job(vertex_emulator, model=CUSTOM, uris=[uri], prefix=f"gs://{bucket.name}/out")
    assert job["state"] in {"JOB_STATE_SUCCEEDED", "JOB_STATE_PARTIALLY_SUCCEEDED"}
    event = event_for(job)

    files = list(iter_output_files(event, client=storage_client))
    kinds = [(f.kind, f.format, f.name.rsplit("/", 1)[-1]) for f in files]
    assert kinds == [
        ("errors", "jsonl", "errors_00001.jsonl"),
        ("predictions", "jsonl", "predictions_00001.jsonl"),
        ("predictions", "jsonl", "predictions_00002.jsonl"),
        ("predictions", "jsonl", "predictions_00003.jsonl"),
    ]
    assert all(f.uri.startswith(job["outputInfo"]["gcsOutputDirectory"] + "/") for f in files)
    assert sum(f.size_bytes for f in files) > 0

    rows = list(iter_predictions(event, client=storage_client))
    assert [r["instance"] for r in rows] == good
    assert all(r["prediction"]["echo"] == r["instance"] for r in rows)

    # Tiny chunks: many ranged reads, lines split across chunk boundaries, same rows.
    small = list(iter_predictions(job, client=storage_client, chunk_size_bytes=37))
    assert small == rows

    everything = list(iter_predictions(event, include_errors=True, client=storage_client))
    assert everything[: len(good)] == rows
    errors = everything[len(good) :]
    assert [e["instance"] for e in errors] == bad
    assert all(e["error"]["code"] == 3 for e in errors)


def test_gemini_rows_text_usage_and_failures(
    vertex_emulator: VertexEmulator, storage_client: Any
) -> None:
    bucket = new_bucket(storage_client)
    prompts = ["hello there", "what is two plus two", "one"]
    lines: list[Any] = [gemini_line(p, key=f"k{i}") for i, p in enumerate(prompts)]
    lines.append({"request": {"contents": []}, "key": "broken"})
    uri = upload_jsonl(bucket, "in/g.jsonl", lines)
    job = run_job(vertex_emulator, model=GEMINI, uris=[uri], prefix=f"gs://{bucket.name}/g")
    rows = list(iter_gemini_rows(event_for(job), client=storage_client))
    assert len(rows) == 4
    by_key = {r.key: r for r in rows}
    for i, prompt in enumerate(prompts):
        row = by_key[f"k{i}"]
        assert not row.failed and row.status == ""
        assert row.text == f"echo: {prompt}"
        assert row.request["contents"][0]["parts"][0]["text"] == prompt
        assert row.usage.prompt_tokens == len(prompt.split())
        assert row.usage.candidates_tokens == len(prompt.split()) + 1
        assert row.usage.total_tokens == row.usage.prompt_tokens + row.usage.candidates_tokens
    broken = by_key["broken"]
    assert broken.failed and broken.text == "" and broken.usage.total_tokens == 0
    assert broken.error_code == 400 and "contents" in broken.error_message
    assert isinstance(rows[0], GeminiRow)


def test_csv_predictions_parse_row_by_row(
    vertex_emulator: VertexEmulator, storage_client: Any
) -> None:
    bucket = new_bucket(storage_client)
    good = _instances(7)
    # A value with a comma, quotes and a newline exercises CSV quoting across lines.
    good.append({"id": 99, "text": 'a, "quoted"\nsecond line'})
    uri = upload_jsonl(bucket, "in/c.jsonl", [*good, "broken line"])
    job = run_job(
        vertex_emulator,
        model=CUSTOM,
        uris=[uri],
        prefix=f"gs://{bucket.name}/csv",
        predictions_format="csv",
    )
    files = list(iter_output_files(job, client=storage_client))
    assert {f.format for f in files} == {"csv"}
    rows = list(iter_predictions(job, client=storage_client, chunk_size_bytes=16))
    assert [r["instance"] for r in rows] == good
    assert all(r["prediction"]["echo"] == r["instance"] for r in rows)
    errors = list(iter_predictions(job, include_errors=True, client=storage_client))[len(good) :]
    assert [e["instance"] for e in errors] == ["broken line"]
    raw = list(iter_predictions(job, client=storage_client, decode_json_cells=False))
    assert json.loads(raw[0]["instance"]) == good[0]


def test_failed_job_outputs_are_refused(
    vertex_emulator: VertexEmulator, storage_client: Any
) -> None:
    vertex_emulator.configure(fail_share=1.0)
    bucket = new_bucket(storage_client)
    uri = upload_jsonl(bucket, "in/f.jsonl", _instances(3))
    job = run_job(vertex_emulator, model=CUSTOM, uris=[uri], prefix=f"gs://{bucket.name}/f")
    assert job["state"] == "JOB_STATE_FAILED"
    with pytest.raises(OutputsError, match="JOB_STATE_FAILED"):
        next(iter_predictions(event_for(job), client=storage_client))
    with pytest.raises(OutputsError):
        list(iter_output_files(job, client=storage_client))


def test_empty_predictions_file_yields_no_rows(
    vertex_emulator: VertexEmulator, storage_client: Any
) -> None:
    bucket = new_bucket(storage_client)
    uri = upload_jsonl(bucket, "in/empty.jsonl", [])
    job = run_job(vertex_emulator, model=CUSTOM, uris=[uri], prefix=f"gs://{bucket.name}/e")
    assert job["state"] == "JOB_STATE_SUCCEEDED", job.get("error")
    files = list(iter_output_files(job, client=storage_client))
    assert [(f.kind, f.size_bytes) for f in files] == [("predictions", 0)]
    assert list(iter_predictions(job, include_errors=True, client=storage_client)) == []
