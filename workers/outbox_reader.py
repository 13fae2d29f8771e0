"""Reading the outbox stream ``vbq:outbox``: entries after a cursor, each decoded or refused.

The job store appends one entry per state change (field ``event`` = ``JobEvent.to_json()``) in
the same Lua call as the change (docs/contracts.md § Outbox). An entry that is not a valid event
(a bug upstream) is not lost: the relay publishes it to the dead-letter topic as
:func:`dead_letter_message` shapes it, then deletes it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import redis as redis_lib

from vbq.errors import EventError
from vbq.events import JobEvent
from vbq.store.keys import OUTBOX_KEY

__all__ = ["OUTBOX_KEY", "OutboxEntry", "dead_letter_message", "outbox_backlog", "read_entries"]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes | bytearray) else str(value)


@dataclass(frozen=True)
class OutboxEntry:
    """One outbox entry.

    Attributes:
        entry_id: the stream id (``<ms>-<seq>``).
        event: the decoded event; None when the entry is malformed.
        raw: the ``event`` field as stored (None when missing).
        error: why the entry is malformed ("" when it is not).
    """

    entry_id: str
    event: JobEvent | None
    raw: Any
    error: str = ""


def read_entries(redis: redis_lib.Redis, after: str | None, count: int) -> list[OutboxEntry]:
    """Up to ``count`` entries after stream id ``after`` (from the oldest when None).

    Raises:
        redis.RedisError: Redis could not be reached.
    """
    start = "-" if after is None else f"({after}"
    rows: list[tuple[Any, Any]] = redis.xrange(OUTBOX_KEY, start, "+", count=count) or []
    entries: list[OutboxEntry] = []
    for raw_id, raw_fields in rows:
        fields = raw_fields or {}
        raw = fields.get(b"event", fields.get("event"))
        try:
            if raw is None:
                raise EventError("outbox entry has no 'event' field")
            entries.append(OutboxEntry(_text(raw_id), JobEvent.from_json(raw), raw))
        except EventError as exc:
            entries.append(OutboxEntry(_text(raw_id), None, raw, str(exc)))
    return entries


def dead_letter_message(entry: OutboxEntry) -> tuple[bytes, dict[str, str]]:
    """``(data, attributes)`` of the dead-letter message for a malformed entry."""
    raw = entry.raw
    if raw is None:
        data = b""
    elif isinstance(raw, bytes | bytearray):
        data = bytes(raw)
    else:
        data = str(raw).encode()
    attributes = {
        "vbq_error": entry.error[:1024],
        "vbq_source": "outbox",
        "vbq_outbox_id": entry.entry_id,
    }
    return data, attributes


def outbox_backlog(redis: redis_lib.Redis) -> tuple[int, float]:
    """``(depth, oldest entry's age in seconds)`` of the outbox (two Redis reads).

    The age comes from the oldest stream id's millisecond timestamp (0.0 when empty).

    Raises:
        redis.RedisError: Redis could not be reached.
    """
    depth = int(redis.xlen(OUTBOX_KEY))
    age_s = 0.0
    first = redis.xrange(OUTBOX_KEY, "-", "+", count=1)
    if first:
        ms = int(_text(first[0][0]).split("-", 1)[0])
        age_s = max(0.0, time.time() - ms / 1000.0)
    return depth, age_s
