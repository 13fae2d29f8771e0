"""The console's pure parts: session tokens and origins, filters, links, output previews."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from starlette.requests import Request

from vbq.producers.console.detail import cloud_console_url
from vbq.producers.console.listing import parse_filters
from vbq.producers.console.outputs import preview_outputs
from vbq.producers.console.render import duration, number, size
from vbq.producers.console.session import Viewer, same_origin


def request(headers: dict[str, str]) -> Request:
    raw = [
        (k.lower().encode(), v.encode()) for k, v in {"host": "vbq.example:8080", **headers}.items()
    ]
    return Request({"type": "http", "method": "POST", "path": "/", "headers": raw, "scheme": "http",
                    "server": ("vbq.example", 8080), "query_string": b""})  # fmt: skip


def test_csrf_token_is_per_key_and_checked_in_constant_time() -> None:
    a, b = Viewer(key="vbq_a", tenant="t"), Viewer(key="vbq_b", tenant="t")
    assert a.csrf_token != b.csrf_token and len(a.csrf_token) == 64
    assert a.check_csrf(a.csrf_token) and not a.check_csrf(b.csrf_token)
    assert not a.check_csrf(None) and not a.check_csrf("")
    assert Viewer(key="k", tenant="*").scope is None and a.scope == "t"
    assert Viewer(key="k", tenant="*").can_see("x") and not a.can_see("x")


@pytest.mark.parametrize(
    ("headers", "ok"),
    [
        ({}, True),
        ({"origin": "http://vbq.example:8080"}, True),
        ({"origin": "https://vbq.example:8080"}, True),
        ({"origin": "https://evil.example"}, False),
        ({"origin": "null"}, False),
        ({"referer": "http://vbq.example:8080/console/x"}, True),
        ({"referer": "https://evil.example/console"}, False),
    ],
)
def test_same_origin(headers: dict[str, str], ok: bool) -> None:
    assert same_origin(request(headers)) is ok


def test_filters_are_checked_and_a_tenant_key_keeps_its_tenant() -> None:
    tenant = Viewer(key="k", tenant="team-a")
    filters, errors = parse_filters({"tenant": "team-b", "state": "failed", "label": "a=b"}, tenant)
    assert filters.tenant == "team-a" and not errors
    assert "state=failed" in filters.query_string() and "model" not in filters.query_string()
    bad = {"state": "NOPE", "label": "novalue", "created_from": "yesterday"}
    _, errors = parse_filters({**bad, "created_to": "2026-11-26"}, Viewer(key="k", tenant="*"))
    assert set(errors) == {"state", "label", "created_from"}


def test_cloud_console_link() -> None:
    name = "projects/my-proj/locations/europe-west4/batchPredictionJobs/123"
    assert cloud_console_url(name) == (
        "https://console.cloud.google.com/vertex-ai/locations/europe-west4/batch-predictions/123"
        "?project=my-proj"
    )
    assert cloud_console_url("projects/p/locations/l/customJobs/1") is None
    assert cloud_console_url(None) is None


def test_render_filters() -> None:
    assert (
        duration(42.4) == "42 s" and duration(185) == "3 min 5 s" and duration(7500) == "2 h 5 min"
    )
    assert number(1234) == "1,234" and number(1.5) == "1.5"
    assert size(999) == "999 B" and size(1_500_000) == "1.5 MB" and size(3 * 10**12) == "3000.0 GB"


class Blob:
    def __init__(self, name: str, rows: list[dict[str, Any]]) -> None:
        self.name = name
        self.data = "".join(json.dumps(r) + "\n" for r in rows).encode()
        self.size = len(self.data)
        self.reads = 0

    def open(self, mode: str, chunk_size: int) -> Any:
        assert mode == "rb"
        blob = self

        class Reader(io.BytesIO):
            def read(self, n: int = -1, /) -> bytes:
                blob.reads += 1
                return super().read(n)

        return Reader(self.data)


class Storage:
    def __init__(self, blobs: list[Blob]) -> None:
        self.blobs = blobs

    def list_blobs(self, bucket: str, prefix: str) -> list[Blob]:
        return [b for b in self.blobs if b.name.startswith(prefix)]


def gemini_row(i: int, *, failed: bool = False) -> dict[str, Any]:
    row: dict[str, Any] = {
        "request": {"contents": [{"role": "user", "parts": [{"text": f"q{i}"}]}]}
    }
    if failed:
        row["status"] = 'Bad Request: {"error": {"code": 400, "message": "bad prompt"}}'
    else:
        row["status"] = ""
        row["response"] = {
            "candidates": [{"content": {"parts": [{"text": f"a{i}"}]}}],
            "usageMetadata": {
                "promptTokenCount": 2,
                "candidatesTokenCount": 3,
                "totalTokenCount": 5,
            },
        }
    return row


JOB = {
    "name": "projects/p/locations/l/batchPredictionJobs/1",
    "state": "JOB_STATE_PARTIALLY_SUCCEEDED",
    "outputInfo": {"gcsOutputDirectory": "gs://out/dir"},
}


def test_preview_shows_first_rows_and_sums_tokens() -> None:
    rows = [gemini_row(i, failed=i == 3) for i in range(40)]
    preds = Blob("dir/predictions_00001.jsonl", rows)
    errors = Blob("dir/errors_00001.jsonl", [{"instance": {"x": 1}, "error": {"message": "boom"}}])
    preview = preview_outputs(JOB, rows=5, client=Storage([preds, errors]))
    assert not preview.problem and preview.location == "gs://out/dir"
    assert [r.input for r in preview.predictions] == ["q0", "q1", "q2", "q3", "q4"]
    assert preview.predictions[3].output == "bad prompt" and preview.predictions[3].status
    assert preview.usage is not None and preview.usage.total_tokens == 39 * 5
    assert preview.usage_complete and preview.usage_rows == 40
    assert [e.output for e in preview.errors] == ['{"message": "boom"}']
    partial = preview_outputs(JOB, rows=2, usage_rows=10, client=Storage([preds]))
    assert partial.usage_rows == 10 and not partial.usage_complete


def test_preview_of_a_big_custom_model_output_reads_only_the_start() -> None:
    rows = [{"instance": {"i": i}, "prediction": [i]} for i in range(20_000)]
    big = Blob("dir/predictions_00001.jsonl", rows)
    preview = preview_outputs(JOB, rows=3, client=Storage([big]))
    assert [r.output for r in preview.predictions] == ["[0]", "[1]", "[2]"]
    assert preview.usage is None and big.reads <= 2  # a 256 KiB chunk, not the whole file


def test_preview_explains_why_nothing_can_be_read() -> None:
    assert preview_outputs(None).problem == "no Vertex job yet"
    running = preview_outputs({**JOB, "state": "JOB_STATE_RUNNING"}, client=Storage([]))
    assert "only SUCCEEDED or PARTIALLY_SUCCEEDED" in running.problem
