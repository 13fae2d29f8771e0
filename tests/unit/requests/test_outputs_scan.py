"""Routing output rows: the fast path agrees with a full parse, and steps aside when unsure."""

from __future__ import annotations

import json
from typing import Any

import pytest

from vbq.usage import Tokens
from vbq.workers.outputs_scan import _fast_row, row_error

RID = "0123456789abcdef0123456789abcdef"


def row(request: dict[str, Any] | None = None, **extra: Any) -> bytes:
    body = {
        "status": "",
        "processed_time": "2026-11-27T10:00:00.000+00:00",
        "request": request
        or {
            "contents": [{"role": "user", "parts": [{"text": 'say "hi"'}]}],
            "labels": {"team": "x", "vbq-request": RID, "vbq-tenant": "t1"},
        },
        "response": {
            "candidates": [
                {"content": {"role": "model", "parts": [{"text": 'hi "vbq-request":"x'}]}}
            ],
            "usageMetadata": {
                "promptTokenCount": 4,
                "candidatesTokenCount": 2,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 4}],
                "totalTokenCount": 6,
            },
            "modelVersion": "gemini",
        },
        **extra,
    }
    return json.dumps(body, separators=(",", ":")).encode()


def test_fast_path_reads_route_tenant_and_usage() -> None:
    out = _fast_row(2, 100, row())
    assert out is not None
    assert (out.file_index, out.offset, out.request_id, out.tenant, out.ok) == (
        2,
        100,
        RID,
        "t1",
        True,
    )
    assert out.tokens == Tokens(prompt=4, candidates=2, thoughts=0, cached=0, total=6)


@pytest.mark.parametrize(
    "line",
    [
        row().replace(b'"status":""', b'"status":"Bad Request: {}"'),  # a failed row
        row(
            {
                "contents": [{"role": "user", "parts": [{"text": "x"}]}],
                "labels": {"vbq-request": RID, "vbq-tenant": "t1"},
                "x": {"vbq-request": RID},
            }
        ),  # the label twice
        row(
            {
                "contents": [
                    {"parts": [{"functionResponse": {"name": "f", "response": {"a": 1}}}]}
                ],
                "labels": {"vbq-request": RID},
            }
        ),  # "response":{ inside the request, before the labels
        b'{"processed_time":"x","status":"","request":{}}',  # another key order
    ],
)
def test_fast_path_steps_aside_when_unsure(line: bytes) -> None:
    assert _fast_row(0, 0, line) is None


def test_row_error_reads_googles_status() -> None:
    status = 'Bad Request: {"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}}'
    assert row_error(status) == {
        "code": 400,
        "message": "bad",
        "status": "INVALID_ARGUMENT",
        "source": "row",
    }
    assert row_error("quota")["message"] == "quota"
