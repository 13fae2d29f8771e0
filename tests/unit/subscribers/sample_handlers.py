"""Handlers used by the loader and runtime tests (imported by path, like a user's module)."""

from __future__ import annotations

from vbq.events import JobEvent
from vbq.subscribers import HandlerRegistry

SAMPLE = HandlerRegistry()
CALLS: list[tuple[str, str]] = []


@SAMPLE.handler("job.succeeded")
def on_succeeded(event: JobEvent) -> None:
    CALLS.append(("on_succeeded", event.event_id))


@SAMPLE.handler("job.failed", "job.cancelled")
def on_failed_or_cancelled(event: JobEvent) -> None:
    CALLS.append(("on_failed_or_cancelled", event.event_id))


def plain(event: JobEvent) -> None:
    CALLS.append(("plain", event.event_id))


NOT_CALLABLE = 42
