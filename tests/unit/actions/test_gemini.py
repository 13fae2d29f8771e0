"""GeminiRow: text, usage, failures, BigQuery string columns."""

from __future__ import annotations

import json

from vbq.subscribers.actions import GeminiRow, TokenUsage, is_gemini_row


def _row(parts: list[dict[str, object]], usage: dict[str, object] | None = None) -> dict:
    return {
        "status": "",
        "request": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
        "response": {
            "candidates": [
                {"content": {"role": "model", "parts": parts}, "finishReason": "STOP"},
                {"content": {"parts": [{"text": "second candidate"}]}},
            ],
            "usageMetadata": usage or {},
        },
    }


def test_text_joins_text_parts_of_first_candidate_only() -> None:
    row = GeminiRow(_row([{"text": "a"}, {"inlineData": {}}, {"text": "b"}]))
    assert row.text == "ab"
    assert row.finish_reason == "STOP"
    assert not row.failed and row.error_message == "" and row.error_code is None


def test_usage_parses_ints_and_int64_strings_and_fills_total() -> None:
    row = GeminiRow(_row([{"text": "x"}], {"promptTokenCount": "3", "candidatesTokenCount": 4}))
    assert row.usage == TokenUsage(prompt_tokens=3, candidates_tokens=4, total_tokens=7)
    total = row.usage + TokenUsage(prompt_tokens=1, candidates_tokens=1, total_tokens=2)
    assert total.to_dict() == {"prompt": 4, "candidates": 5, "total": 9}


def test_failed_row_exposes_status_code_and_message() -> None:
    detail = {"error": {"code": 429, "message": "Resource exhausted", "status": "X"}}
    row = GeminiRow({"status": f"Too Many Requests: {json.dumps(detail)}", "request": {}})
    assert row.failed and row.text == "" and row.usage.total_tokens == 0
    assert row.error_code == 429 and row.error_message == "Resource exhausted"
    plain = GeminiRow({"status": "something odd", "request": {}})
    assert plain.error_code is None and plain.error_message == "something odd"


def test_row_without_response_is_failed_even_with_empty_status() -> None:
    assert GeminiRow({"status": "", "request": {}}).failed


def test_bigquery_row_with_json_string_columns() -> None:
    raw = _row([{"text": "ok"}], {"totalTokenCount": 9})
    bq = {**raw, "response": json.dumps(raw["response"]), "request": json.dumps(raw["request"])}
    row = GeminiRow(bq)
    assert row.text == "ok" and row.usage.total_tokens == 9
    assert row.request["contents"][0]["parts"][0]["text"] == "hi"


def test_is_gemini_row() -> None:
    assert is_gemini_row({"request": {}, "status": ""})
    assert not is_gemini_row({"instance": 1, "prediction": 2})
