"""query_page: every filter, both walks, pages that cover the matches exactly once, and the
examination budget that keeps a rare filter from reading the whole store."""

from __future__ import annotations

import dataclasses

import pytest
import redis

from tests.unit.store.specs import MODEL, make_spec
from vbq.errors import StoreError
from vbq.states import SubmissionState as S
from vbq.store import JobStore, NewSubmission, SubmissionQuery, SubmissionRecord, query_page

pytestmark = pytest.mark.integration

CUSTOM = "projects/proj-a/locations/us-central1/models/7"


@pytest.fixture
def records(store: JobStore) -> list[SubmissionRecord]:
    gemini = make_spec("base", labels={"team": "a"})
    custom = make_spec("base", labels={"team": "b"}, model_name=CUSTOM)
    items = []
    for i in range(240):
        base = gemini if i % 4 else custom
        name = ("Alpha-" if i % 2 else "beta-") + f"{i:03d}"
        spec = dataclasses.replace(base, job_display_name=name)
        items.append(NewSubmission(spec=spec, tenant=f"t{i % 3}"))
    out = [r for r, _ in store.create_many(items)]  # type: ignore[misc]
    for rec in out[:30]:
        store.transition(rec.id, expected={S.ACCEPTED}, new_state=S.CANCELLED)
    return out


def _all_pages(store: JobStore, query: SubmissionQuery, page_size: int, **kw: int) -> list[str]:
    ids: list[str] = []
    token = None
    for _ in range(1000):
        page = query_page(
            store.redis, store.get_many, query, page_size=page_size, page_token=token, **kw
        )
        assert len(page.records) <= page_size
        ids += [r.id for r in page.records]
        token = page.next_token
        if token is None:
            return ids
    raise AssertionError("pages never ended")


def _expected(records: list[SubmissionRecord], store: JobStore, keep: object) -> list[str]:
    fresh = store.get_many([r.id for r in records])
    chosen = [r for r in fresh if keep(r)]  # type: ignore[operator]
    return [r.id for r in sorted(chosen, key=lambda r: (r.created_at, r.id), reverse=True)]


@pytest.mark.parametrize("page_size", [1, 7, 50])
def test_filters_newest_first(
    store: JobStore, records: list[SubmissionRecord], page_size: int
) -> None:
    mid = sorted(r.created_at for r in records)[100]
    cases = [
        (SubmissionQuery(), lambda r: True),
        (SubmissionQuery(tenants=("t1",)), lambda r: r.tenant == "t1"),
        (SubmissionQuery(tenants=("t1", "t2")), lambda r: r.tenant in {"t1", "t2"}),
        (SubmissionQuery(state=S.CANCELLED), lambda r: r.state is S.CANCELLED),
        (SubmissionQuery(model=CUSTOM), lambda r: r.model == CUSTOM),
        (SubmissionQuery(label=("team", "a")), lambda r: r.labels.get("team") == "a"),
        (
            SubmissionQuery(tenants=("t0",), state=S.ACCEPTED, model=MODEL),
            lambda r: r.tenant == "t0" and r.state is S.ACCEPTED and r.model == MODEL,
        ),
        (SubmissionQuery(created_from=mid), lambda r: r.created_at >= mid),
        (
            SubmissionQuery(created_to=mid, state=S.ACCEPTED),
            lambda r: r.created_at < mid and r.state is S.ACCEPTED,
        ),
    ]
    for query, keep in cases:
        got = _all_pages(store, query, page_size)
        assert got == _expected(records, store, keep), query


def test_name_prefix_search_in_name_order(store: JobStore, records: list[SubmissionRecord]) -> None:
    query = SubmissionQuery(tenants=("t0", "t1", "t2"), name_prefix="ALPHA-1")
    got = _all_pages(store, query, 4)
    names = [store.get(i).spec.job_display_name for i in got]
    assert names == sorted(
        n for n in (f"Alpha-{i:03d}" for i in range(240) if i % 2) if n.startswith("Alpha-1")
    )
    one_tenant = _all_pages(store, SubmissionQuery(tenants=("t1",), name_prefix="beta-00"), 2)
    assert [store.get(i).spec.job_display_name for i in one_tenant] == [
        f"beta-{i:03d}" for i in range(10) if i % 2 == 0 and i % 3 == 1
    ]
    combined = SubmissionQuery(tenants=("t0", "t1", "t2"), name_prefix="a", state=S.CANCELLED)
    assert {store.get(i).state for i in _all_pages(store, combined, 3)} == {S.CANCELLED}
    assert _all_pages(store, SubmissionQuery(tenants=("t0",), name_prefix="zzz"), 5) == []


def test_budget_returns_short_pages_that_continue(
    store: JobStore, records: list[SubmissionRecord]
) -> None:
    # Rare filter on a big index: walk `all`, match only t2's custom-model CANCELLED records.
    query = SubmissionQuery(tenants=("t2", "t1"), state=None, model=CUSTOM, label=("team", "b"))
    expected = _expected(records, store, lambda r: r.tenant in {"t1", "t2"} and r.model == CUSTOM)
    page = query_page(store.redis, store.get_many, query, page_size=50, max_examined=25)
    assert page.budget_exhausted and page.examined == 25 and page.next_token
    assert len(page.records) < 50
    assert _all_pages(store, query, 50, max_examined=25) == expected


def test_bad_arguments(store: JobStore, raw: redis.Redis) -> None:
    with pytest.raises(StoreError):
        query_page(store.redis, store.get_many, SubmissionQuery(), page_size=0)
    with pytest.raises(StoreError):
        query_page(store.redis, store.get_many, SubmissionQuery(), page_token="garbage!")


def test_ties_on_the_score_are_neither_skipped_nor_repeated(
    store: JobStore, records: list[SubmissionRecord], raw: redis.Redis
) -> None:
    # Many submissions created in the same microsecond: the cursor must order by member too.
    raw.zadd("vbq:idx:all", {r.id: 1000.0 for r in records[:100]})
    raw.zadd("vbq:idx:all", {r.id: 999.0 for r in records[100:]})
    got = _all_pages(store, SubmissionQuery(), 7)
    assert len(got) == len(records) == len(set(got))
    assert got[:100] == sorted((r.id for r in records[:100]), reverse=True)
    budget = _all_pages(store, SubmissionQuery(state=S.CANCELLED), 3, max_examined=11)
    assert sorted(budget) == sorted(r.id for r in records[:30])
