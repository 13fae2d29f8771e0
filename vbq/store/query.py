"""Browse submissions with many filters, in pages whose cost stays bounded at any store size.

Two ways to walk, both over indexes only:

* **newest first** (no name prefix): the smallest index among the filters (state, tenant,
  label, model; ``ZCOUNT`` within the time range decides) is read in score order, time range
  applied by Redis; candidates are checked against the other filters with one ``HMGET`` of
  five short fields each, pipelined; only the records of the page are loaded whole.
* **by display name** (a name prefix): ``ZRANGEBYLEX`` on ``vbq:idx:name:{tenant}`` (for
  every tenant given, merged in name order), candidates checked the same way.

A page examines at most ``max_examined`` candidates. When that budget runs out before the page
is full, the page comes back short with ``budget_exhausted`` and a token that continues where
the walk stopped, so a filter that matches one record in a million never turns one request
into a million reads.
"""

from __future__ import annotations

import heapq
import json
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
    sub_key,
    tenant_index_key,
)
from vbq.store.paging import Cursor, decode_token, encode_token, scan_newest_first
from vbq.store.records import SubmissionRecord
from vbq.store.reindex import ascii_lower

__all__ = ["DEFAULT_MAX_EXAMINED", "QueryPage", "SubmissionQuery", "query_page"]

DEFAULT_MAX_EXAMINED = 20_000
"""Candidates one page may examine before it returns short (about 50-100 ms of Redis)."""

MAX_PAGE_SIZE = 500
_PROBE_FIELDS = ("tenant", "state", "labels", "model", "created_at")

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
    if query.name_prefix:
        walk = _by_name(redis, query, after)
    else:
        walk = _newest_first(redis, query, after)
    state_name = query.state.value if query.state is not None else None
    chunk = min(max(page_size + 1, 100), 1000)
    hits: list[Cursor] = []
    examined = 0
    last: Cursor | None = None
    while True:
        batch = _take(walk, min(chunk, max_examined - examined))
        if not batch:
            return _page(
                fetch, hits, None, examined=examined, exhausted=False, state_name=state_name
            )
        pipe = redis.pipeline(transaction=False)
        for cursor in batch:
            pipe.hmget(sub_key(_member_id(cursor, query)), list(_PROBE_FIELDS))
        for cursor, probe in zip(batch, pipe.execute(), strict=True):
            examined += 1
            if _matches(probe, query, state_name):
                if len(hits) == page_size:
                    assert last is not None
                    token = encode_token(last)
                    return _page(
                        fetch,
                        hits,
                        token,
                        examined=examined,
                        exhausted=False,
                        state_name=state_name,
                    )
                hits.append(cursor)
            last = cursor
        if examined >= max_examined:
            # Out of budget: continue after the last candidate examined.
            assert last is not None
            token = encode_token(last)
            return _page(
                fetch, hits, token, examined=examined, exhausted=True, state_name=state_name
            )


def _page(
    fetch: Fetch,
    hits: list[Cursor],
    token: str | None,
    *,
    examined: int,
    exhausted: bool,
    state_name: str | None,
) -> QueryPage:
    ids = [h[1].rpartition("\0")[2] for h in hits]
    records = fetch(ids) if ids else []
    # A record may have moved on since it was probed; tenant, labels and model never change.
    records = [r for r in records if state_name is None or r.state.value == state_name]
    return QueryPage(
        records=records, next_token=token, examined=examined, budget_exhausted=exhausted
    )


def _member_id(cursor: Cursor, query: SubmissionQuery) -> str:
    return cursor[1].rpartition("\0")[2] if query.name_prefix else cursor[1]


def _take(walk: Iterator[Cursor], n: int) -> list[Cursor]:
    out: list[Cursor] = []
    for cursor in walk:
        out.append(cursor)
        if len(out) >= n:
            break
    return out


def _matches(probe: list[Any], query: SubmissionQuery, state_name: str | None) -> bool:
    tenant, state, labels, model, created = (_text(v) if v is not None else None for v in probe)
    if state is None:
        return False  # deleted after the index was read
    if query.tenants is not None and (tenant or "default") not in query.tenants:
        return False
    if state_name is not None and state != state_name:
        return False
    if query.model is not None and model != query.model:
        return False
    if query.label is not None and json.loads(labels or "{}").get(query.label[0]) != query.label[1]:
        return False
    at = float(created or 0.0)
    if query.created_from is not None and at < query.created_from:
        return False
    return query.created_to is None or at < query.created_to


def _newest_first(redis: Any, query: SubmissionQuery, after: Cursor | None) -> Iterator[Cursor]:
    candidates: list[str] = []
    if query.label is not None:
        candidates.append(label_index_key(*query.label))
    if query.state is not None:
        candidates.append(state_index_key(query.state.value))
    if query.model is not None:
        candidates.append(model_index_key(query.model))
    if query.tenants is not None and len(query.tenants) == 1:
        candidates.append(tenant_index_key(query.tenants[0]))
    low, high = query.created_from, query.created_to
    index = _smallest(redis, candidates, low, high) if candidates else index_key()
    return scan_newest_first(redis, index, after=after, chunk=500, low=low, high=high)


def _smallest(redis: Any, keys: list[str], low: float | None, high: float | None) -> str:
    if len(keys) == 1:
        return keys[0]
    pipe = redis.pipeline(transaction=False)
    for key in keys:
        pipe.zcount(
            key, "-inf" if low is None else repr(low), "+inf" if high is None else f"({high!r}"
        )
    sizes = pipe.execute()
    return min(zip(sizes, range(len(keys)), keys, strict=True))[2]


def _by_name(redis: Any, query: SubmissionQuery, after: Cursor | None) -> Iterator[Cursor]:
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
