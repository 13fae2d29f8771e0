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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from vbq.errors import StoreError
from vbq.states import SubmissionState
from vbq.store.keys import (
    PREFIX,
    index_key,
    label_index_key,
    model_index_key,
    name_index_key,
    state_index_key,
    tenant_index_key,
)
from vbq.store.paging import Cursor, decode_token, encode_token, scan_newest_first
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
    if query.name_prefix:
        walk = _by_name(redis, query, after)
    else:
        walk = _newest_first(redis, query, after)
    state_name = query.state.value if query.state is not None else None
    probe = _Probe(redis, query)
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
        # A rare filter reads many candidates: grow the batches (fewer round trips).
        chunk = min(chunk * 2, _MAX_CHUNK)
        for cursor, match in zip(batch, probe([_member_id(c, query) for c in batch]), strict=True):
            examined += 1
            if match:
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


class _Probe:
    """Checks candidates against the filters inside Redis: one script call per batch, one
    character back per candidate (parsing five fields per candidate in Python costs ~10x)."""

    def __init__(self, redis: Any, query: SubmissionQuery) -> None:
        global _PROBE_SCRIPT
        if _PROBE_SCRIPT is None:
            _PROBE_SCRIPT = redis.register_script(_PROBE_LUA)
        self._redis = redis
        label_key, label_value = query.label or ("", "")
        self._args = [
            PREFIX,
            "\n".join(query.tenants) if query.tenants is not None else "",
            "1" if query.tenants is not None else "0",
            query.state.value if query.state is not None else "",
            query.model or "",
            label_key,
            label_value,
            "" if query.created_from is None else repr(query.created_from),
            "" if query.created_to is None else repr(query.created_to),
        ]

    def __call__(self, ids: list[str]) -> list[bool]:
        assert _PROBE_SCRIPT is not None
        reply = _text(_PROBE_SCRIPT(keys=[], args=[*self._args, *ids], client=self._redis))
        return [c == "1" for c in reply]


_PROBE_SCRIPT: Any = None

# ARGV: key prefix, tenants joined by newlines, "1" when the tenant filter applies, state,
# model, label key ("" = no label filter), label value, created from, created to ("" = none),
# then the candidate ids. Returns one character per id: "1" matches, "0" does not (or is gone).
_PROBE_LUA = """
local tenants = nil
if ARGV[3] == '1' then
  tenants = {}
  for t in string.gmatch(ARGV[2], '[^\\n]+') do tenants[t] = true end
end
local low, high = tonumber(ARGV[8]), tonumber(ARGV[9])
local out = {}
for i = 10, #ARGV do
  local v = redis.call('HMGET', ARGV[1] .. 'sub:' .. ARGV[i],
                       'tenant', 'state', 'labels', 'model', 'created_at')
  local ok = v[2] ~= false
  if ok and tenants then ok = tenants[v[1] or 'default'] == true end
  if ok and ARGV[4] ~= '' then ok = v[2] == ARGV[4] end
  if ok and ARGV[5] ~= '' then ok = v[4] == ARGV[5] end
  if ok and ARGV[6] ~= '' then
    local decoded, labels = pcall(cjson.decode, v[3] or '{}')
    ok = decoded and type(labels) == 'table' and labels[ARGV[6]] == ARGV[7]
  end
  if ok and (low or high) then
    local at = tonumber(v[5] or '0') or 0
    if low and at < low then ok = false end
    if high and at >= high then ok = false end
  end
  out[#out + 1] = ok and '1' or '0'
end
return table.concat(out)
"""


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
