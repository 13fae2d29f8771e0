"""A read-only view of one Gemini batch prediction output row.

Google writes one JSON object per request::

    {"status": "", "processed_time": "...", "request": {...},
     "response": {"candidates": [{"content": {"parts": [{"text": ...}]}}],
                  "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 5,
                                    "totalTokenCount": 8}}}

A failed request keeps its row in the predictions file with a non-empty ``status`` and no
``response``. BigQuery output has the same columns, ``response`` possibly as a JSON string.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["GeminiRow", "TokenUsage", "is_gemini_row"]


@dataclass(frozen=True, kw_only=True)
class TokenUsage:
    """Token counts of one response (``usageMetadata``); zero when absent.

    Attributes:
        prompt_tokens: ``promptTokenCount``.
        candidates_tokens: ``candidatesTokenCount``.
        total_tokens: ``totalTokenCount`` (prompt + candidates when Google omits it).
    """

    prompt_tokens: int = 0
    candidates_tokens: int = 0
    total_tokens: int = 0

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            candidates_tokens=self.candidates_tokens + other.candidates_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
        )

    def to_dict(self) -> dict[str, int]:
        """``{"prompt": n, "candidates": n, "total": n}``."""
        return {
            "prompt": self.prompt_tokens,
            "candidates": self.candidates_tokens,
            "total": self.total_tokens,
        }


def is_gemini_row(row: Mapping[str, Any]) -> bool:
    """True when ``row`` has the shape of a Gemini batch output row."""
    return "request" in row and ("response" in row or "status" in row)


@dataclass(frozen=True)
class GeminiRow:
    """One Gemini output row. Build with ``GeminiRow(row_dict)``.

    Attributes:
        raw: the row as read (JSON object or BigQuery row mapping).
    """

    raw: Mapping[str, Any]

    @property
    def status(self) -> str:
        """Google's ``status``: empty on success, an error description otherwise."""
        value = self.raw.get("status")
        return "" if value is None else str(value)

    @property
    def failed(self) -> bool:
        """True when the request failed (non-empty status, or no response at all)."""
        return bool(self.status) or not self.response

    @property
    def key(self) -> str | None:
        """The ``key`` the input line carried, if any."""
        value = self.raw.get("key")
        return None if value is None else str(value)

    @property
    def request(self) -> dict[str, Any]:
        """The request as sent (``contents``, ``generationConfig``, ...)."""
        return _as_dict(self.raw.get("request"))

    @property
    def response(self) -> dict[str, Any]:
        """The ``GenerateContentResponse`` (empty for a failed row)."""
        return _as_dict(self.raw.get("response"))

    @property
    def candidates(self) -> list[dict[str, Any]]:
        """The response's candidates (empty for a failed row)."""
        value = self.response.get("candidates")
        return [c for c in value if isinstance(c, dict)] if isinstance(value, list) else []

    @property
    def text(self) -> str:
        """The text parts of the first candidate, concatenated ("" when there is none)."""
        if not self.candidates:
            return ""
        parts = _as_dict(self.candidates[0].get("content")).get("parts")
        if not isinstance(parts, list):
            return ""
        return "".join(
            str(p["text"]) for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)
        )

    @property
    def finish_reason(self) -> str | None:
        """The first candidate's ``finishReason``."""
        if not self.candidates:
            return None
        value = self.candidates[0].get("finishReason")
        return None if value is None else str(value)

    @property
    def usage(self) -> TokenUsage:
        """Token counts from ``usageMetadata`` (zeros when the row has none)."""
        meta = _as_dict(self.response.get("usageMetadata"))
        prompt = _int(meta.get("promptTokenCount"))
        candidates = _int(meta.get("candidatesTokenCount"))
        total = _int(meta.get("totalTokenCount")) or prompt + candidates
        return TokenUsage(prompt_tokens=prompt, candidates_tokens=candidates, total_tokens=total)

    @property
    def error_code(self) -> int | None:
        """The numeric code inside a failed row's ``status`` JSON, when Google put one there."""
        detail = _status_detail(self.status)
        code = _as_dict(detail.get("error")).get("code")
        return code if isinstance(code, int) and not isinstance(code, bool) else None

    @property
    def error_message(self) -> str:
        """The error message of a failed row ("" for a successful one)."""
        if not self.failed:
            return ""
        message = _as_dict(_status_detail(self.status).get("error")).get("message")
        if isinstance(message, str) and message:
            return message
        return self.status or "no response"


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, str) and value.startswith("{"):
        # BigQuery output may hold JSON columns as strings.
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return dict(value) if isinstance(value, Mapping) else {}


def _int(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():  # int64 travels as a string in proto JSON
        return int(value)
    return 0


def _status_detail(status: str) -> dict[str, Any]:
    # Google's status reads "Bad Request: {json}"; the JSON part carries code and message.
    start = status.find("{")
    return _as_dict(status[start:]) if start >= 0 else {}
