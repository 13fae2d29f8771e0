"""A submission's timeline: its state changes, events and handler completions, with times.

The list ``vbq:timeline:{id}`` is appended inside the store's Lua scripts (``create.lua``:
the ACCEPTED entry; ``update.lua``: each state change, each event without one) and by
:func:`vbq.stats.record_handled` when a subscriber group finished an event. Every time is the
Redis server's clock. An entry is one string ``{t}|{kind}|{a}|{b}|{c}``:

============  ====================  ==============  =====================
kind          a                     b               c
============  ====================  ==============  =====================
``state``     previous state ("")   new state       event type ("" = none)
``event``     ""                    current state   event type
``handled``   subscriber group      event's state   ""
============  ====================  ==============  =====================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from vbq.store.keys import timeline_key

__all__ = ["MAX_TIMELINE_ENTRIES", "TimelineEntry", "parse_entry", "read_timeline"]

MAX_TIMELINE_ENTRIES = 1000
"""Most entries :func:`read_timeline` returns (a submission has a few dozen at most)."""

Kind = Literal["state", "event", "handled"]
_KINDS: frozenset[str] = frozenset({"state", "event", "handled"})


@dataclass(frozen=True, kw_only=True)
class TimelineEntry:
    """One line of a submission's timeline.

    Attributes:
        at: epoch seconds (Redis ``TIME``).
        kind: ``state`` (a state change), ``event`` (an event without a state change, such
            as ``job.stale``) or ``handled`` (a subscriber group finished the event).
        state: the new state; for ``handled``, the state of the handled event.
        previous_state: the state before a ``state`` entry (None for the first).
        event_type: the event recorded with the change (``job.succeeded``), if any.
        group: for ``handled``, the subscriber group (the subscription id by default).
    """

    at: float
    kind: Kind
    state: str
    previous_state: str | None = None
    event_type: str | None = None
    group: str | None = None


def parse_entry(raw: Any) -> TimelineEntry | None:
    """Parse one stored entry; None when it is not one this module knows (skipped)."""
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    parts = text.split("|")
    if len(parts) != 5 or parts[1] not in _KINDS:
        return None
    at_text, kind, a, b, c = parts
    try:
        at = float(at_text)
    except ValueError:
        return None
    if kind == "handled":
        return TimelineEntry(at=at, kind="handled", state=b, group=a or None)
    if kind == "event":
        return TimelineEntry(at=at, kind="event", state=b, event_type=c or None)
    return TimelineEntry(
        at=at, kind="state", state=b, previous_state=a or None, event_type=c or None
    )


def read_timeline(
    redis: Any, submission_id: str, *, limit: int = MAX_TIMELINE_ENTRIES
) -> list[TimelineEntry]:
    """The timeline of ``submission_id``, oldest first (at most ``limit`` entries).

    Entries are appended in Redis order; one written by a subscriber (``handled``) may carry
    a time from the same clock slightly before the state change's when both happen within a
    millisecond, so the list is sorted by time, stably.
    """
    raw = redis.lrange(timeline_key(submission_id), 0, max(0, limit - 1))
    entries = [e for e in (parse_entry(r) for r in raw) if e is not None]
    return sorted(entries, key=lambda e: e.at)
