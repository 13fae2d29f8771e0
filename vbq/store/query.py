"""Browse submissions with many filters, in pages whose cost stays bounded at any store size.

Two ways to walk, both over indexes only:

* **newest first** (no name prefix): the smallest index among the filters (state, tenant,
  label, model; ``ZCOUNT`` within the time range decides) is walked in score order inside
  Redis, which checks each candidate against the other filters and returns only the matches
  (:func:`vbq.store.probe.scan_index`); only the records of the page are loaded whole.
* **by display name** (a name prefix): ``ZRANGEBYLEX`` on ``vbq:idx:name:{tenant}`` (for
  every tenant given, merged in name order), candidates checked inside Redis in batches
  (:func:`vbq.store.probe.probe_ids`).

A page examines at most ``max_examined`` candidates. When that budget runs out before the page
is full, the page comes back short with ``budget_exhausted`` and a token that continues where
the walk stopped, so a filter that matches one record in a million never turns one request
into a million reads.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from vbq.errors import StoreError
from vbq.states import SubmissionState
from vbq.store.keys import (
    index_key,
    label_index_key,
    model_index_key,
    name_index_key,
    state_index_key,
    tenant_index_key,
    tenant_state_index_key,
)
from vbq.store.paging import Cursor, decode_token, encode_token
from vbq.store.probe import probe_ids, scan_index
from vbq.store.records import SubmissionRecord
from vbq.store.reindex import ascii_lower

__all__ = ["DEFAULT_MAX_EXAMINED", "QueryPage", "SubmissionQuery", "query_page"]

DEFAULT_MAX_EXAMINED = 20_000
"""Candidates one page may examine before it returns short (about 50-100 ms of Redis)."""

MAX_PAGE_SIZE = 500
_MAX_CHUNK = 2000

Fetch = Callable[[Sequence[str]], list[SubmissionRecord]]


@dataclass(frozen=True, kw_only=True)
class SubmissionQuery:
    """Filters, combined with AND (None = no filter).

    Attributes:
        tenants: only these tenants' submissions (None: every tenant). A name search walks
            one name index per tenant, so give the tenant list when searching across tenants.
        state: only submissions currently in this state.
        label: only submissions whose spec carries label ``(key, value)``.
        model: only submissions for this resolved model name.
        created_from: created at or after this time (epoch s).
        created_to: created before this time (epoch s).
        name_prefix: display name starts with this text (ASCII letters case-insensitive);
            results then come in name order instead of newest first.
    """

    tenants: tuple[str, ...] | None = None
    state: SubmissionState | None = None
    label: tuple[str, str] | None = None
    model: str | None = None
    created_from: float | None = None
    created_to: float | None = None
    name_prefix: str | None = None


@dataclass(frozen=True, kw_only=True)
class QueryPage:
    """One page of a query.

    Attributes:
        records: matching records (newest first, or by name for a name search).
        next_token: continues after this page (None: nothing left).
        examined: candidates looked at for this page.
        budget_exhausted: the page may be short because ``max_examined`` ran out; more
            matches may follow ``next_token``.
    """

    records: list[SubmissionRecord]
    next_token: str | None
    examined: int
    budget_exhausted: bool


def query_page(
    redis: Any,
    fetch: Fetch,
    query: SubmissionQuery,
    *,
    page_size: int = 50,
    page_token: str | None = None,
    max_examined: int = DEFAULT_MAX_EXAMINED,
) -> QueryPage:
    """The page of ``query`` after ``page_token``.

    Args:
        redis: the store's client.
        fetch: loads records by id (``JobStore.get_many``).
        page_size: 1..500 records.
        page_token: from the previous page of the same query.
        max_examined: candidates examined at most (see the module doc).

    Raises:
        StoreError: page_size out of range or a malformed page token.
    """
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise StoreError(f"page_size must be 1..{MAX_PAGE_SIZE}, got {page_size}")
    after = decode_token(page_token) if page_token else None
    walk = _by_name if query.name_prefix else _newest_first
    hits, token, examined, exhausted = walk(redis, query, after, page_size, max_examined)
    ids = [member.rpartition("\0")[2] for _, member in hits]
    records = fetch(ids) if ids else []
    # A record may have moved on since it was checked; tenant, labels and model never change.
    if query.state is not None:
        records = [r for r in records if r.state is query.state]
    return QueryPage(
        records=records, next_token=token, examined=examined, budget_exhausted=exhausted
    )


# (matches, next token, candidates examined, budget exhausted)
_Walk = tuple[list[Cursor], str | None, int, bool]


def _newest_first(
    redis: Any, query: SubmissionQuery, after: Cursor | None, page_size: int, budget: int
) -> _Walk:
    """Walk the smallest matching index inside Redis (:func:`vbq.store.probe.scan_index`)."""
    index = _index_for(redis, query)
    hits: list[Cursor] = []
    examined = 0
    chunk = min(max(page_size + 1, 100), _MAX_CHUNK)
    cursor = after
    while True:
        # One match more than the page needs tells whether a next page exists.
        result = scan_index(
            redis,
            index,
            query,
            after=cursor,
            limit=min(chunk, budget - examined),
            want=page_size + 1 - len(hits),
        )
        examined += result.examined
        hits += result.matches
        if len(hits) > page_size:
            # The next page starts after this page's last record.
            return hits[:page_size], encode_token(hits[page_size - 1]), examined, False
        if result.done or result.last is None:
            return hits, None, examined, False
        cursor = result.last
        if examined >= budget:
            # Out of budget: continue after the last candidate examined.
            return hits, encode_token(cursor), examined, True
        chunk = min(chunk * 2, _MAX_CHUNK)  # a rare filter: fewer, bigger calls


def _by_name(
    redis: Any, query: SubmissionQuery, after: Cursor | None, page_size: int, budget: int
) -> _Walk:
    """Merge the tenants' name indexes in name order; check candidates inside Redis."""
    walk = _name_members(redis, query, after)
    hits: list[Cursor] = []
    examined = 0
    chunk = min(max(page_size + 1, 100), _MAX_CHUNK)
    last: Cursor | None = None
    while True:
        batch = _take(walk, min(chunk, budget - examined))
        if not batch:
            return hits, None, examined, False
        ids = [member.rpartition("\0")[2] for _, member in batch]
        for cursor, match in zip(batch, probe_ids(redis, query, ids), strict=True):
            examined += 1
            if match:
                if len(hits) == page_size:
                    assert last is not None
                    return hits, encode_token(last), examined, False
                hits.append(cursor)
            last = cursor
        if examined >= budget:
            assert last is not None
            return hits, encode_token(last), examined, True
        chunk = min(chunk * 2, _MAX_CHUNK)


def _take(walk: Iterator[Cursor], n: int) -> list[Cursor]:
    out: list[Cursor] = []
    for cursor in walk:
        out.append(cursor)
        if len(out) >= n:
            break
    return out


def _index_for(redis: Any, query: SubmissionQuery) -> str:
    """The smallest index that holds every match (``vbq:idx:all`` without a filter on one)."""
    candidates: list[str] = []
    if query.label is not None:
        candidates.append(label_index_key(*query.label))
    if query.state is not None:
        candidates.append(state_index_key(query.state.value))
    if query.model is not None:
        candidates.append(model_index_key(query.model))
    if query.tenants is not None and len(query.tenants) == 1:
        tenant = query.tenants[0]
        if query.state is not None:
            # Exactly the intersection: "this tenant's failed jobs" wastes no probe.
            candidates.append(tenant_state_index_key(tenant, query.state.value))
        else:
            candidates.append(tenant_index_key(tenant))
    if not candidates:
        return index_key()
    if len(candidates) == 1:
        return candidates[0]
    low, high = query.created_from, query.created_to
    pipe = redis.pipeline(transaction=False)
    for key in candidates:
        pipe.zcount(
            key, "-inf" if low is None else repr(low), "+inf" if high is None else f"({high!r}"
        )
    sizes = pipe.execute()
    return min(zip(sizes, range(len(candidates)), candidates, strict=True))[2]


def _name_members(redis: Any, query: SubmissionQuery, after: Cursor | None) -> Iterator[Cursor]:
    """Members of the tenants' name indexes starting with the prefix, merged in byte order."""
    tenants = query.tenants or ()
    prefix = ascii_lower(query.name_prefix or "").encode("utf-8")
    start = b"(" + after[1].encode("utf-8") if after is not None else b"[" + prefix
    # 0xff never occurs in UTF-8, so it sorts after every member with this prefix.
    streams = [
        _lex_stream(redis, name_index_key(t), start, b"[" + prefix + b"\xff") for t in tenants
    ]
    # Code point order of str equals byte order of UTF-8: a plain merge keeps Redis' order.
    for member in heapq.merge(*streams):
        yield 0.0, member


def _lex_stream(redis: Any, key: str, start: bytes, stop: bytes, chunk: int = 500) -> Iterator[str]:
    while True:
        rows = redis.zrangebylex(key, start, stop, start=0, num=chunk)
        for raw in rows:
            yield _text(raw)
        if len(rows) < chunk:
            return
        start = b"(" + (rows[-1] if isinstance(rows[-1], bytes) else rows[-1].encode("utf-8"))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
