"""A compact report per finished job, written to a sink (a JSON lines file by default).

One :class:`JobSummary` holds the submission id, state, Vertex's ``completionStats``, optionally
counts from actually reading the output rows, error classes (rows grouped by error code and
message prefix), and token totals for Gemini jobs. A redelivered event may write its summary
again (the sink is not transactional with the inbox): consumers key on ``event_id``.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from vbq.errors import OutputsError
from vbq.events import JobEvent
from vbq.states import JobState, parse_job_state
from vbq.subscribers.actions.gemini import GeminiRow, TokenUsage, is_gemini_row
from vbq.subscribers.actions.outputs import iter_predictions

__all__ = [
    "ErrorClass",
    "JobSummary",
    "JsonlFileSink",
    "Summary",
    "SummarySink",
    "error_class_key",
    "summarize",
]

_READABLE = {JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_PARTIALLY_SUCCEEDED}
_DIGITS = re.compile(r"\d+")
_SPACES = re.compile(r"\s+")
_PREFIX_CHARS = 60


@dataclass(frozen=True, kw_only=True)
class ErrorClass:
    """Failed rows (or job-level failures) sharing a code and message prefix.

    Attributes:
        key: ``"{code}: {message prefix}"`` with digit runs replaced by ``N``.
        count: how many rows fell in the class.
        example: the first full message seen.
        source: ``rows`` (output rows) or ``job`` (the job's ``error``/``partialFailures``).
    """

    key: str
    count: int
    example: str
    source: str = "rows"


@dataclass(frozen=True, kw_only=True)
class JobSummary:
    """One job's report; :meth:`to_dict` is the sink's JSON line.

    Attributes:
        submission_id, event_id, event_type, state, tenant: from the event.
        job_name, display_name, model: from the Vertex resource ("" when absent).
        output: ``gcsOutputDirectory`` or ``bq://dataset.table`` ("" when none).
        stats: ``completionStats`` as ints (``successful``, ``failed``, ``incomplete``).
        rows: counts from reading the output (``predictions``, ``errors``, ``failed``) or None.
        tokens: Gemini token totals (``prompt``, ``candidates``, ``total``) or None.
        error_classes: most frequent classes first.
        job_error: the job's ``error.message`` ("" when none).
        read_error: why reading rows stopped, when it did ("" otherwise).
        summarized_at: ISO 8601 UTC.
    """

    submission_id: str
    event_id: str
    event_type: str
    state: str
    tenant: str
    job_name: str = ""
    display_name: str = ""
    model: str = ""
    output: str = ""
    stats: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] | None = None
    tokens: dict[str, int] | None = None
    error_classes: list[ErrorClass] = field(default_factory=list)
    job_error: str = ""
    read_error: str = ""
    summarized_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


class SummarySink(Protocol):
    """Where summaries go. ``write`` may raise: the handler fails and the event is redelivered."""

    def write(self, summary: JobSummary) -> None: ...


class JsonlFileSink:
    """Appends one JSON line per summary to ``path`` (parents created); thread-safe.

    Each line is written with a single ``write`` on an ``O_APPEND`` descriptor, so lines of
    several processes sharing the file do not interleave.

    Args:
        path: the file.
        fsync: flush to disk after each line (durable, slower).
    """

    def __init__(self, *, path: str | Path, fsync: bool = False) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self._lock = threading.Lock()

    def write(self, summary: JobSummary) -> None:
        """Append ``summary`` as one line.

        Raises:
            OSError: the file cannot be written.
        """
        line = json.dumps(summary.to_dict(), separators=(",", ":"), sort_keys=True) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line.encode())
                if self.fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)


def error_class_key(code: object, message: str) -> str:
    """``"{code}: {prefix}"``: whitespace collapsed, digit runs as ``N``, 60 characters."""
    text = _DIGITS.sub("N", _SPACES.sub(" ", message).strip())[:_PREFIX_CHARS]
    return f"{code if code not in (None, '') else '?'}: {text}"


def summarize(
    event: JobEvent,
    *,
    read_rows: bool = False,
    client: Any = None,
    bigquery_client: Any = None,
    max_error_classes: int = 20,
) -> JobSummary:
    """Build the summary of the job in ``event``.

    Args:
        read_rows: also stream every output row (predictions and errors) to count rows,
            group failures and total Gemini tokens; only for (partially) succeeded jobs.
        client: storage client for reading rows (default: the thread's own).
        bigquery_client: for jobs with BigQuery output.
        max_error_classes: keep this many classes, most frequent first.

    A failure while reading rows is recorded in ``read_error``, not raised: the summary of a
    job whose outputs were deleted is still worth writing.
    """
    job = event.job or {}
    stats_raw = job.get("completionStats") or {}
    stats = {
        name: _int(stats_raw.get(f"{name}Count")) for name in ("successful", "failed", "incomplete")
    }
    classes: Counter[tuple[str, str]] = Counter()
    examples: dict[tuple[str, str], str] = {}
    for failure in [job.get("error") or {}, *(job.get("partialFailures") or [])]:
        if isinstance(failure, Mapping) and failure.get("message"):
            _count(classes, examples, "job", failure.get("code"), str(failure["message"]))
    rows: dict[str, int] | None = None
    tokens: TokenUsage | None = None
    read_error = ""
    if read_rows and _readable(job):
        rows = {"predictions": 0, "errors": 0, "failed": 0}
        try:
            for row in iter_predictions(
                job, include_errors=True, client=client, bigquery_client=bigquery_client
            ):
                tokens = _tally(row, rows, tokens, classes, examples)
        except OutputsError as exc:
            read_error = str(exc)
    info = job.get("outputInfo") or {}
    output = str(info.get("gcsOutputDirectory") or "")
    if not output and info.get("bigqueryOutputTable"):
        output = f"{info.get('bigqueryOutputDataset', '')}.{info['bigqueryOutputTable']}"
    ranked = sorted(classes.items(), key=lambda kv: (-kv[1], kv[0]))[:max_error_classes]
    return JobSummary(
        submission_id=event.submission_id,
        event_id=event.event_id,
        event_type=event.type,
        state=event.state,
        tenant=event.request.tenant,
        job_name=str(job.get("name") or ""),
        display_name=str(job.get("displayName") or ""),
        model=str(job.get("model") or ""),
        output=output,
        stats=stats,
        rows=rows,
        tokens=tokens.to_dict() if tokens is not None else None,
        error_classes=[
            ErrorClass(key=key, count=n, example=examples[(src, key)], source=src)
            for (src, key), n in ranked
        ],
        job_error=str((job.get("error") or {}).get("message") or ""),
        read_error=read_error,
        summarized_at=datetime.now(UTC).isoformat(),
    )


class Summary:
    """Handler: summarize each event and write it to ``sink``.

    Args:
        sink: where summaries go (default: ``JsonlFileSink(path="vbq-summaries.jsonl")``).
        read_rows: see :func:`summarize`.
        name: stable handler name (default ``summary``).
    """

    def __init__(
        self, *, sink: SummarySink | None = None, read_rows: bool = False, name: str = "summary"
    ) -> None:
        self.sink: SummarySink = sink or JsonlFileSink(path="vbq-summaries.jsonl")
        self.read_rows = read_rows
        self.name = name
        self.__qualname__ = f"Summary[{name}]"

    def __repr__(self) -> str:
        return f"Summary(name={self.name!r}, read_rows={self.read_rows})"

    def __call__(self, event: JobEvent) -> None:
        """Summarize ``event`` and write it.

        Raises:
            Exception: whatever the sink raises (the event is then redelivered).
        """
        self.sink.write(summarize(event, read_rows=self.read_rows))


def _readable(job: Mapping[str, Any]) -> bool:
    try:
        return parse_job_state(job.get("state")) in _READABLE
    except ValueError:
        return False


def _tally(
    row: Mapping[str, Any],
    rows: dict[str, int],
    tokens: TokenUsage | None,
    classes: Counter[tuple[str, str]],
    examples: dict[tuple[str, str], str],
) -> TokenUsage | None:
    if isinstance(row.get("error"), Mapping) and "prediction" not in row:
        rows["errors"] += 1
        rows["failed"] += 1
        err = row["error"]
        _count(classes, examples, "rows", err.get("code"), str(err.get("message") or ""))
        return tokens
    rows["predictions"] += 1
    if not is_gemini_row(row):
        return tokens
    gem = GeminiRow(row)
    tokens = (tokens or TokenUsage()) + gem.usage
    if gem.failed:
        rows["failed"] += 1
        code = gem.error_code if gem.error_code is not None else gem.status.split(":", 1)[0]
        _count(classes, examples, "rows", code, gem.error_message)
    return tokens


def _count(
    classes: Counter[tuple[str, str]],
    examples: dict[tuple[str, str], str],
    source: str,
    code: object,
    message: str,
) -> None:
    key = (source, error_class_key(code, message))
    classes[key] += 1
    examples.setdefault(key, message[:500])


def _int(value: object) -> int:
    # int64 fields travel as strings in proto JSON.
    try:
        return int(value) if value is not None and not isinstance(value, bool) else 0  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0
