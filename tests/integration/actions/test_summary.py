"""Summary rows in a JSON lines file for real emulator jobs (custom model and Gemini)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.actions.helpers import CUSTOM, GEMINI, event_for, gemini_line, run_job, sid
from tests.integration.emulators.helpers import new_bucket, upload_jsonl
from tests.support.emulators import VertexEmulator
from vbq.subscribers.actions import JsonlFileSink, Summary

pytestmark = pytest.mark.integration


def test_file_sink_rows_for_custom_and_gemini_jobs(
    vertex_emulator: VertexEmulator, storage_client: Any, tmp_path: Path
) -> None:
    bucket = new_bucket(storage_client)
    custom_in = upload_jsonl(bucket, "in/c.jsonl", [{"i": 1}, "bad 1 {", {"i": 2}, "bad 22 {", "x"])
    prompts = ["one two", "three four five"]
    gem_in = upload_jsonl(
        bucket, "in/g.jsonl", [*(gemini_line(p) for p in prompts), {"request": {}}]
    )
    custom = run_job(
        vertex_emulator, model=CUSTOM, uris=[custom_in], prefix=f"gs://{bucket.name}/c"
    )
    gemini = run_job(vertex_emulator, model=GEMINI, uris=[gem_in], prefix=f"gs://{bucket.name}/g")

    path = tmp_path / "summaries.jsonl"
    action = Summary(sink=JsonlFileSink(path=path), read_rows=True)
    action(event_for(custom, submission_id=sid(1)))
    action(event_for(gemini, submission_id=sid(2)))
    brief = Summary(sink=JsonlFileSink(path=path), read_rows=False)
    brief(event_for(custom, submission_id=sid(3)))

    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["submission_id"] for r in rows] == [sid(1), sid(2), sid(3)]
    c, g, b = rows

    assert c["stats"] == {"successful": 2, "failed": 3, "incomplete": 0}
    assert c["rows"] == {"predictions": 2, "errors": 3, "failed": 3}
    assert c["tokens"] is None
    assert c["output"] == custom["outputInfo"]["gcsOutputDirectory"]
    (err_class,) = [e for e in c["error_classes"] if e["source"] == "rows"]
    assert err_class["count"] == 3 and err_class["key"].startswith("3: invalid JSON line")

    want_prompt = sum(len(p.split()) for p in prompts)
    assert g["rows"] == {"predictions": 3, "errors": 0, "failed": 1}
    assert g["tokens"] == {
        "prompt": want_prompt,
        "candidates": want_prompt + len(prompts),
        "total": 2 * want_prompt + len(prompts),
    }
    assert [(e["key"][:4], e["count"]) for e in g["error_classes"]] == [("400:", 1)]
    assert g["stats"]["successful"] == 2 and g["stats"]["failed"] == 1

    assert b["rows"] is None and b["stats"] == c["stats"]
