"""Bounded, predicate-filtered listing: one page of a filter the listing indexes cannot answer.

:func:`scan_page` picks the smallest candidate set among the hints it was given (the tenant's
index, the union of some state indexes, a label value's index), walks it newest first with the
keyset cursors of :mod:`vbq.store.paging`, reads a few hash fields of each candidate with
``HMGET`` (pipelined) and keeps those the caller's predicate accepts. It looks at no more than
``max_examined`` candidates per call: a sparse filter returns a short page and a cursor to go on
from, never an unbounded scan.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vbq.states import SubmissionState
from vbq.store.keys import index_key, label_index_key, state_index_key, sub_key, tenant_index_key
from vbq.store.paging import Cursor, scan_newest_first

__all__ = ["Probe", "ScanPage", "ScanQuery", "scan_page"]

Probe = Mapping[str, str | None]
"""The probed hash fields of one candidate (None where the field is absent)."""

_CHUNK = 200


@dataclass(frozen=True, kw_only=True)
class ScanQuery:
    """What to look for.

    Attributes:
        accept: the predicate over the probed fields (it decides; the hints only narrow).
        fields: hash fields to read for ``accept`` (``state`` is always read).
        tenant: candidates must belong to this tenant (a hint and a check).
        states: when given, every match is in one of these states (a hint).
        labels: ``(key, value)`` pairs every match carries (hints).
    """

    accept: Callable[[Probe], bool]
    fields: tuple[str, ...] = ()
    tenant: str | None = None
    states: Collection[SubmissionState] | None = None
    labels: Sequence[tuple[str, str]] = ()


@dataclass(frozen=True, kw_only=True)
class ScanPage:
    """One page: the matching ids, newest first, and where the next page starts."""

    ids: list[str]
    next_cursor: Cursor | None
    examined: int
    index: str
    """Which candidate set was walked (``tenant``, ``states``, ``label``, ``all``)."""


def scan_page(
    redis: Any,
    query: ScanQuery,
    *,
    page_size: int,
    after: Cursor | None,
    max_examined: int,
) -> ScanPage:
    """The next page of ``query`` after ``after``.

    Returns:
        Up to ``page_size`` ids; ``next_cursor`` is None when the candidates are exhausted.
        A page may be short (even empty) with a cursor when ``max_examined`` candidates were
        looked at first.
    """
    name, keys = _smallest(redis, _candidate_sets(query))
    fields = ("state", "tenant", *(f for f in query.fields if f not in {"state", "tenant"}))
    merged: Iterator[Cursor] = heapq.merge(
        *(scan_newest_first(redis, key, after=after, chunk=_CHUNK) for key in keys), reverse=True
    )
    ids: list[str] = []
    examined = 0
    last: Cursor | None = None
    while True:
        pending = _take(merged, min(_CHUNK, max(1, max_examined - examined)))
        if not pending:
            return ScanPage(ids=ids, next_cursor=None, examined=examined, index=name)
        pipe = redis.pipeline(transaction=False)
        for _, member in pending:
            pipe.hmget(sub_key(member), *fields)
        for cursor, values in zip(pending, pipe.execute(), strict=True):
            examined += 1
            probe = {f: _text(v) for f, v in zip(fields, values, strict=True)}
            if probe["state"] is None:
                last = cursor  # deleted since the index was read
                continue
            if query.tenant is not None and probe["tenant"] != query.tenant:
                last = cursor
                continue
            if query.accept(probe):
                if len(ids) == page_size:
                    # One more match exists: the next page starts after the last one taken.
                    return ScanPage(ids=ids, next_cursor=last, examined=examined, index=name)
                ids.append(cursor[1])
            last = cursor
        if examined >= max_examined:
            return ScanPage(ids=ids, next_cursor=last, examined=examined, index=name)


def _candidate_sets(query: ScanQuery) -> list[tuple[str, list[str]]]:
    sets: list[tuple[str, list[str]]] = []
    if query.tenant is not None:
        sets.append(("tenant", [tenant_index_key(query.tenant)]))
    if query.states is not None:
        sets.append(("states", sorted(state_index_key(s.value) for s in set(query.states))))
    sets.extend(("label", [label_index_key(k, v)]) for k, v in query.labels)
    return sets or [("all", [index_key()])]


def _smallest(redis: Any, sets: list[tuple[str, list[str]]]) -> tuple[str, list[str]]:
    """The candidate set with the fewest members (a union counts the sum of its parts)."""
    if len(sets) == 1:
        return sets[0]
    pipe = redis.pipeline(transaction=False)
    for _, keys in sets:
        for key in keys:
            pipe.zcard(key)
    sizes = iter(pipe.execute())
    totals = [sum(int(next(sizes)) for _ in keys) for _, keys in sets]
    return sets[min(range(len(sets)), key=totals.__getitem__)]


def _take(it: Iterator[Cursor], n: int) -> list[Cursor]:
    out: list[Cursor] = []
    for cursor in it:
        out.append(cursor)
        if len(out) >= n:
            break
    return out


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)
