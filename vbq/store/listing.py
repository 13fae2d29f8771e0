"""One page of submissions: pick the most selective index, filter the rest on the records."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from vbq.errors import StoreError
from vbq.states import SubmissionState
from vbq.store.keys import index_key, label_index_key, state_index_key, tenant_index_key
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
    # Labels are the most selective, then states, then tenants.
    if label is not None:
        index = label_index_key(label[0], label[1])
    elif state_name is not None:
        index = state_index_key(state_name)
    elif tenant is not None:
        index = tenant_index_key(tenant)
    else:
        index = index_key()

    def matches(rec: SubmissionRecord) -> bool:
        if tenant is not None and rec.tenant != tenant:
            return False
        if state_name is not None and rec.state.value != state_name:
            return False
        return label is None or (rec.labels or {}).get(label[0]) == label[1]

    after = decode_token(page_token) if page_token else None
    chunk = min(max(page_size + 1, 50), 500)
    cursors = scan_newest_first(redis, index, after=after, chunk=chunk)
    page: list[SubmissionRecord] = []
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
        by_id = {rec.id: rec for rec in fetch([member for _, member in pending])}
        for cursor in pending:
            rec = by_id.get(cursor[1])
            if rec is None or not matches(rec):
                continue
            if len(page) == page_size:
                # One more match exists, so there is a next page; it starts after `last`.
                assert last is not None
                return page, encode_token(last)
            page.append(rec)
            last = cursor
    return page, None
