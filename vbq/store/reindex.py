"""Rebuild the console's indexes of a store written before they existed.

``create.lua`` and ``update.lua`` keep the per-tenant-and-state counters, the model and
display-name indexes and the timelines from the moment they run. Records stored earlier are
brought in once by :func:`reindex` (``vbq console reindex``): it walks the state indexes
(never ``SCAN``), a chunk of records per round trip, and

* rewrites ``vbq:count:tenant-state`` from what it found and adds each record to
  ``vbq:idx:tenant-state:{tenant}:{STATE}``,
* adds each record to ``vbq:idx:model:{model}``, ``vbq:idx:models`` and
  ``vbq:idx:name:{tenant}`` (sets ``display_name`` on records that lack it),
* gives a record without a timeline one made from its times (``created_at``,
  ``submitted_at``, ``finished_at``): what happened in between is not known any more.

Idempotent. Counts are exact when nothing writes meanwhile; changes that land during the walk
may leave a counter off by the records that moved (run it again, or at a quiet time).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from vbq.spec.model import DEFAULT_DISPLAY_NAME_PREFIX
from vbq.states import SubmissionState
from vbq.store.keys import (
    model_index_key,
    models_key,
    name_index_key,
    state_index_key,
    sub_key,
    tenant_state_counts_key,
    tenant_state_index_key,
    timeline_key,
)

__all__ = ["ReindexReport", "name_member", "reindex"]

_FIELDS = ("tenant", "model", "display_name", "spec", "created_at", "submitted_at", "finished_at")


@dataclass(frozen=True, kw_only=True)
class ReindexReport:
    """What :func:`reindex` did.

    Attributes:
        records: records visited.
        timelines_added: records that had no timeline and got one from their times.
        names_set: records that had no ``display_name`` field and got one.
    """

    records: int
    timelines_added: int
    names_set: int


def name_member(display_name: str, submission_id: str) -> str:
    """The member of ``vbq:idx:name:{tenant}``: the name with ASCII letters lowercased (as
    Redis' Lua ``string.lower`` does), NUL, the id."""
    return f"{ascii_lower(display_name)}\0{submission_id}"


def ascii_lower(text: str) -> str:
    """``text`` with only A-Z lowercased, the folding ``create.lua`` applies."""
    return text.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def reindex(redis: Any, *, chunk: int = 1000) -> ReindexReport:
    """Rebuild the console's counters and indexes from the records (see the module doc).

    Args:
        redis: the store's Redis client.
        chunk: records read per round trip.

    Returns:
        What was visited and added.
    """
    counts: dict[str, int] = {}
    records = timelines = names = 0
    for state in SubmissionState:
        index = state_index_key(state.value)
        start = 0
        while True:
            rows = redis.zrange(index, start, start + chunk - 1, withscores=True)
            if not rows:
                break
            start += len(rows)
            ids = [_text(m) for m, _ in rows]
            pipe = redis.pipeline(transaction=False)
            for sid in ids:
                pipe.hmget(sub_key(sid), list(_FIELDS))
                pipe.exists(timeline_key(sid))
            replies = pipe.execute()
            writes = redis.pipeline(transaction=False)
            for i, sid in enumerate(ids):
                values = [_text(v) if v is not None else "" for v in replies[2 * i]]
                has_timeline = bool(replies[2 * i + 1])
                tenant, model, display_name, spec, created, submitted, finished = values
                if not spec:
                    continue  # deleted since the index was read
                records += 1
                tenant = tenant or "default"
                key = f"{tenant}:{state.value}"
                counts[key] = counts.get(key, 0) + 1
                writes.zadd(
                    tenant_state_index_key(tenant, state.value), {sid: float(created or 0.0)}
                )
                score = float(created or 0.0)
                if model:
                    writes.zadd(model_index_key(model), {sid: score})
                    writes.sadd(models_key(), model)
                if not display_name:
                    display_name = _display_name(spec)
                    writes.hsetnx(sub_key(sid), "display_name", display_name)
                    names += 1
                writes.zadd(name_index_key(tenant), {name_member(display_name, sid): 0})
                if not has_timeline:
                    writes.rpush(
                        timeline_key(sid), *_timeline(state.value, created, submitted, finished)
                    )
                    timelines += 1
            writes.execute()
            if len(rows) < chunk:
                break
    swap = redis.pipeline(transaction=True)
    swap.delete(tenant_state_counts_key())
    if counts:
        swap.hset(tenant_state_counts_key(), mapping=counts)
    swap.execute()
    return ReindexReport(records=records, timelines_added=timelines, names_set=names)


def _display_name(spec_json: str) -> str:
    try:
        name = json.loads(spec_json).get("job_display_name")
    except (ValueError, AttributeError):
        name = None
    if isinstance(name, str) and name:
        return name
    digest = hashlib.sha256(spec_json.encode("utf-8")).hexdigest()
    return f"{DEFAULT_DISPLAY_NAME_PREFIX} {digest[:16]}"


def _timeline(state: str, created: str, submitted: str, finished: str) -> list[str]:
    entries = [f"{created or '0'}|state||ACCEPTED|"]
    if submitted:
        entries.append(f"{submitted}|state|ACCEPTED|SUBMITTED|")
    if state != "ACCEPTED" and (finished or not submitted):
        before = "SUBMITTED" if submitted else "ACCEPTED"
        at = finished or created or "0"
        entries.append(f"{at}|state|{before}|{state}|")
    return entries


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
