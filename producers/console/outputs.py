"""The first rows of a finished job's outputs, and its token usage, read in bounded time.

Rows are streamed with the core readers (:mod:`vbq.outputs`: ranged reads of ``chunk``
bytes, parsed line by line), so showing ten rows of a 10 GB output reads a few hundred
kilobytes. Gemini rows (``usageMetadata``) are summed for the token usage up to
``usage_rows`` rows or ``budget_s`` seconds; the page says when the sum covers only part of
the output.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from vbq.errors import OutputsError
from vbq.outputs import (
    GeminiRow,
    OutputFile,
    TokenUsage,
    is_gemini_row,
    iter_output_files,
    iter_predictions,
    readable_job,
)

__all__ = ["FileView", "OutputPreview", "RowView", "preview_outputs"]

_CHUNK_BYTES = 256 * 1024
_CELL_CHARS = 400


@dataclass(frozen=True, kw_only=True)
class RowView:
    """One output row as shown (long values cut to a few hundred characters)."""

    number: int
    gemini: bool
    input: str
    output: str
    status: str = ""
    usage: dict[str, int] | None = None


@dataclass(frozen=True, kw_only=True)
class FileView:
    """One object of the output directory."""

    uri: str
    kind: str
    size_bytes: int


@dataclass(frozen=True, kw_only=True)
class OutputPreview:
    """What the outputs section shows.

    Attributes:
        location: the output directory (``gs://``) or BigQuery table.
        files: the objects listed in the directory.
        predictions: the first prediction rows.
        errors: the first rows of the errors files.
        usage: summed Gemini token usage (None when no row carried any).
        usage_rows: rows the sum covers.
        usage_complete: the sum covers every prediction row.
        problem: why nothing could be read (job not readable, storage refused), or "".
    """

    location: str = ""
    files: list[FileView] = field(default_factory=list)
    predictions: list[RowView] = field(default_factory=list)
    errors: list[RowView] = field(default_factory=list)
    usage: TokenUsage | None = None
    usage_rows: int = 0
    usage_complete: bool = False
    problem: str = ""


def preview_outputs(
    job: dict[str, Any] | None,
    *,
    rows: int = 10,
    usage_rows: int = 5000,
    budget_s: float = 3.0,
    client: Any = None,
) -> OutputPreview:
    """Read the first ``rows`` prediction and error rows of ``job``, and its token usage.

    Never raises for a job without readable outputs or a failed read: ``problem`` says why.

    Args:
        job: the Vertex job resource (SUCCEEDED or PARTIALLY_SUCCEEDED to have outputs).
        rows: rows of each kind to show.
        usage_rows: most prediction rows read to sum token usage.
        budget_s: stop summing after this many seconds.
        client: a google-cloud-storage client (default: :func:`vbq.outputs.storage_client`).
    """
    if job is None:
        return OutputPreview(problem="no Vertex job yet")
    try:
        readable = readable_job(job)
        info = readable.get("outputInfo") or {}
        directory = str(info.get("gcsOutputDirectory") or "")
        if not directory:
            table = str(info.get("bigqueryOutputTable") or "")
            shown = [_view(i, r) for i, r in _first(iter_predictions(readable), rows)]
            return OutputPreview(location=table, predictions=shown)
        files = list(iter_output_files(readable, client=client))
        deadline = time.monotonic() + budget_s
        preview = _read(files, rows=rows, usage_rows=usage_rows, deadline=deadline)
        return OutputPreview(location=directory, **preview)
    except OutputsError as exc:
        return OutputPreview(problem=str(exc))


def _read(
    files: list[OutputFile], *, rows: int, usage_rows: int, deadline: float
) -> dict[str, Any]:
    shown: list[RowView] = []
    usage = TokenUsage()
    counted = 0
    any_usage = False
    complete = True
    number = 0
    for row in _rows(f for f in files if f.kind == "predictions"):
        number += 1
        gemini = is_gemini_row(row)
        if len(shown) < rows:
            shown.append(_view(number, row))
        if not gemini:
            if len(shown) >= rows:
                complete = False
                break
            continue
        row_usage = GeminiRow(row).usage
        any_usage = any_usage or row_usage.total_tokens > 0
        usage = usage + row_usage
        counted += 1
        if counted >= usage_rows or time.monotonic() > deadline:
            complete = False
            break
    errors = [_view(i, r) for i, r in _first(_rows(f for f in files if f.kind == "errors"), rows)]
    return {
        "files": [FileView(uri=f.uri, kind=f.kind, size_bytes=f.size_bytes) for f in files],
        "predictions": shown,
        "errors": errors,
        "usage": usage if any_usage else None,
        "usage_rows": counted,
        "usage_complete": complete and any_usage,
    }


def _rows(files: Iterator[OutputFile]) -> Iterator[dict[str, Any]]:
    for file in files:
        if file.format in {"jsonl", "csv"}:
            yield from file.iter_rows(chunk_size_bytes=_CHUNK_BYTES)


def _first(rows: Iterator[dict[str, Any]], n: int) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, row in enumerate(rows, start=1):
        if number > n:
            return
        yield number, row


def _view(number: int, row: dict[str, Any]) -> RowView:
    if is_gemini_row(row):
        g = GeminiRow(row)
        return RowView(
            number=number,
            gemini=True,
            input=_cut(_prompt_text(g.request) or _json(g.request)),
            output=_cut(g.text if not g.failed else g.error_message),
            status=g.status,
            usage=g.usage.to_dict() if g.usage.total_tokens else None,
        )
    if "error" in row and "prediction" not in row:
        return RowView(
            number=number,
            gemini=False,
            input=_cut(_json(row.get("instance"))),
            output=_cut(_json(row.get("error"))),
            status="error",
        )
    rest = {k: v for k, v in row.items() if k != "instance"}
    output = row.get("prediction", rest)
    return RowView(
        number=number,
        gemini=False,
        input=_cut(_json(row.get("instance"))),
        output=_cut(_json(output)),
    )


def _prompt_text(request: dict[str, Any]) -> str:
    for content in request.get("contents") or []:
        parts = content.get("parts") if isinstance(content, dict) else None
        for part in parts if isinstance(parts, list) else []:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                return str(part["text"])
    return ""


def _json(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def _cut(text: str) -> str:
    return text if len(text) <= _CELL_CHARS else text[: _CELL_CHARS - 1] + "…"
