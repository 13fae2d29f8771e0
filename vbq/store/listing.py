"""One page of submissions: scan the smallest matching index, filter the rest cheaply.

The candidates of a page are filtered on three fields read with ``HMGET`` (tenant, state,
labels); only the records of the page itself are loaded in full, since parsing a stored spec
is the expensive part.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from vbq.errors import StoreError
from vbq.states import SubmissionState
from vbq.store.keys import (
    index_key,
    label_index_key,
    state_index_key,
    sub_key,
    tenant_index_key,
)
from vbq.store.paging import Cursor, decode_token, encode_token, scan_newest_first
from vbq.store.records import SubmissionRecord

__all__ = ["MAX_PAGE_SIZE", "list_page"]

MAX_PAGE_SIZE = 1000

Fetch = Callable[[Sequence[str]], list[SubmissionRecord]]


def list_page(
    redis: Any,
    fetch: Fetch,
    *,
    tenant: str | None,
    state: SubmissionState | str | None,
    label: tuple[str, str] | None,
    page_size: int,
    page_token: str | None,
) -> tuple[list[SubmissionRecord], str | None]:
    """The page after ``page_token`` of the submissions matching every given filter.

    Args:
        redis: the client the indexes are read with.
        fetch: loads records by id (missing ids are left out).

    Returns:
        ``(records, next_page_token)``, newest first; the token is None on the last page.

    Raises:
        StoreError: page_size out of range or a malformed page token.
    """
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise StoreError(f"page_size must be 1..{MAX_PAGE_SIZE}, got {page_size}")
    state_name = SubmissionState(state).value if state is not None else None
    candidates: list[str] = []
    if label is not None:
        candidates.append(label_index_key(label[0], label[1]))
    if state_name is not None:
        candidates.append(state_index_key(state_name))
    if tenant is not None:
        candidates.append(tenant_index_key(tenant))
    index = _smallest(redis, candidates) if candidates else index_key()

    def matches(probe: list[Any]) -> bool:
        got_tenant, got_state, got_labels = (_text(v) if v is not None else None for v in probe)
        if got_state is None:
            return False  # deleted between the index read and now
        if tenant is not None and got_tenant != tenant:
            return False
        if state_name is not None and got_state != state_name:
            return False
        return label is None or json.loads(got_labels or "{}").get(label[0]) == label[1]

    after = decode_token(page_token) if page_token else None
    chunk = min(max(page_size + 1, 50), 500)
    cursors = scan_newest_first(redis, index, after=after, chunk=chunk)
    page_ids: list[str] = []
    last: Cursor | None = None
    exhausted = False
    while not exhausted:
        pending: list[Cursor] = []
        for cursor in cursors:
            pending.append(cursor)
            if len(pending) >= chunk:
                break
        else:
            exhausted = True
        # Filter on three cheap fields first; parse full records (and specs) only for a page.
        pipe = redis.pipeline(transaction=False)
        for _, member in pending:
            pipe.hmget(sub_key(member), "tenant", "state", "labels")
        hits = [c for c, probe in zip(pending, pipe.execute(), strict=True) if matches(probe)]
        for cursor in hits:
            if len(page_ids) == page_size:
                # One more match exists, so there is a next page; it starts after `last`.
                assert last is not None
                return _records(fetch, page_ids, state_name), encode_token(last)
            page_ids.append(cursor[1])
            last = cursor
    return _records(fetch, page_ids, state_name), None


def _records(fetch: Fetch, ids: list[str], state_name: str | None) -> list[SubmissionRecord]:
    records = fetch(ids) if ids else []
    # A record may have changed state since it was probed; tenant and labels never change.
    return [r for r in records if state_name is None or r.state.value == state_name]


def _smallest(redis: Any, keys: list[str]) -> str:
    """The key of the smallest zset: the fewest records to look at."""
    if len(keys) == 1:
        return keys[0]
    pipe = redis.pipeline(transaction=False)
    for key in keys:
        pipe.zcard(key)
    sizes = pipe.execute()
    return min(zip(sizes, range(len(keys)), keys, strict=True))[2]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
