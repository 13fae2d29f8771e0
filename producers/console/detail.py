"""One submission's page: its request, its Vertex job, its timeline.

The request is the stored spec (the SDK keyword arguments that differ from their defaults),
the Vertex job is the last resource the workers saw, and the timeline is the store's
(:mod:`vbq.store.timeline`): every state change with the event it recorded, events without a
change, and each subscriber group's completion of an event, in Redis time order. Outputs are
read separately (:mod:`vbq.producers.console.outputs`), after the page is on screen.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from vbq.producers.console.listing import display_name
from vbq.states import JobState, parse_job_state
from vbq.store import SubmissionRecord, TimelineEntry, read_timeline

__all__ = ["Detail", "TimelineRow", "build_detail", "cloud_console_url"]

_READABLE = frozenset({JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_PARTIALLY_SUCCEEDED})
_JOB_TIMES = (
    ("createTime", "Created at Google"),
    ("startTime", "Started"),
    ("endTime", "Ended"),
    ("updateTime", "Last updated"),
)


@dataclass(frozen=True, kw_only=True)
class TimelineRow:
    """One line of the timeline as shown."""

    at: float
    kind: str
    title: str
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class Detail:
    """Everything the submission page renders."""

    record: SubmissionRecord
    display_name: str
    request: dict[str, Any]
    job: dict[str, Any] | None
    job_id: str | None
    console_url: str | None
    job_times: list[tuple[str, str]]
    timeline: list[TimelineRow]
    timeline_reconstructed: bool
    can_cancel: bool
    outputs_readable: bool
    completion: dict[str, Any] = field(default_factory=dict)

    def pretty(self, value: Any) -> str:
        """``value`` as indented JSON."""
        return json.dumps(value, indent=2, sort_keys=True, default=str)


def cloud_console_url(job_name: str | None) -> str | None:
    """The Google Cloud console page of a ``projects/P/locations/L/batchPredictionJobs/ID``."""
    parts = (job_name or "").split("/")
    if len(parts) != 6 or parts[0] != "projects" or parts[4] != "batchPredictionJobs":
        return None
    project, location, job_id = parts[1], parts[3], parts[5]
    return (
        f"https://console.cloud.google.com/vertex-ai/locations/{quote(location)}"
        f"/batch-predictions/{quote(job_id)}?project={quote(project)}"
    )


def build_detail(redis: Any, record: SubmissionRecord) -> Detail:
    """Read the timeline and assemble the page of ``record``.

    Raises:
        redis.RedisError: Redis could not be reached.
    """
    entries = read_timeline(redis, record.id)
    reconstructed = not entries
    rows = [_row(e) for e in entries] if entries else _from_times(record)
    job = record.job
    state = JobState.JOB_STATE_UNSPECIFIED
    if job is not None:
        try:
            state = parse_job_state(job.get("state"))
        except ValueError:
            pass
    job_name = record.job_name or (job or {}).get("name")
    return Detail(
        record=record,
        display_name=display_name(record),
        request=record.spec.to_dict(),
        job=job,
        job_id=job_name.rsplit("/", 1)[-1] if job_name else None,
        console_url=cloud_console_url(job_name),
        job_times=[(label, str(job[k])) for k, label in _JOB_TIMES if job and job.get(k)],
        timeline=rows,
        timeline_reconstructed=reconstructed,
        can_cancel=not record.state.finished,
        outputs_readable=state in _READABLE,
        completion=dict((job or {}).get("completionStats") or {}),
    )


def _row(entry: TimelineEntry) -> TimelineRow:
    if entry.kind == "handled":
        return TimelineRow(
            at=entry.at,
            kind="handled",
            title=f"event {entry.state} handled",
            detail=f"by subscriber group {entry.group}" if entry.group else "",
        )
    if entry.kind == "event":
        return TimelineRow(
            at=entry.at, kind="event", title=f"event {entry.event_type}", detail=entry.state
        )
    if entry.previous_state is None:
        title = f"{entry.state} (submission accepted)" if entry.state == "ACCEPTED" else entry.state
    else:
        title = f"{entry.previous_state} → {entry.state}"
    detail = f"event {entry.event_type} recorded" if entry.event_type else ""
    return TimelineRow(at=entry.at, kind="state", title=title, detail=detail)


def _from_times(record: SubmissionRecord) -> list[TimelineRow]:
    """A timeline from the record's times, for records stored before timelines existed."""
    rows = [TimelineRow(at=record.created_at, kind="state", title="ACCEPTED (submission accepted)")]
    if record.submitted_at:
        rows.append(
            TimelineRow(at=record.submitted_at, kind="state", title="job created at Vertex")
        )
    if record.finished_at:
        rows.append(TimelineRow(at=record.finished_at, kind="state", title=record.state.value))
    return rows
