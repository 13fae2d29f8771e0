"""Listing: newest first, filters, opaque tokens, stability under inserts, tenant isolation."""

from __future__ import annotations

import threading

import pytest

from tests.unit.store.specs import make_spec
from vbq.errors import NotFoundError, StoreError
from vbq.states import SubmissionState as S
from vbq.store import JobStore, NewSubmission, SubmissionRecord


def _all_pages(store: JobStore, page_size: int, **filters: object) -> list[SubmissionRecord]:
    out: list[SubmissionRecord] = []
    token: str | None = None
    while True:
        page, token = store.list(page_size=page_size, page_token=token, **filters)  # type: ignore[arg-type]
        assert len(page) <= page_size
        out.extend(page)
        if token is None:
            return out


def test_pages_cover_everything_newest_first(store: JobStore) -> None:
    results = store.create_many([NewSubmission(spec=make_spec(f"j{i}")) for i in range(95)])
    ids = [r[0].id for r in results if isinstance(r, tuple)]
    listed = _all_pages(store, 10)
    assert len(listed) == 95 and {r.id for r in listed} == set(ids)
    keys = [(r.created_at, r.id) for r in listed]
    assert keys == sorted(keys, reverse=True)
    page, token = store.list(page_size=95)
    assert len(page) == 95 and token is None


def test_filters_and_tenant_isolation(store: JobStore) -> None:
    a = [
        store.create(NewSubmission(spec=make_spec(labels={"team": "x"}), tenant="a"))[0]
        for _ in range(7)
    ]
    b = [
        store.create(NewSubmission(spec=make_spec(labels={"team": "x"}), tenant="b"))[0]
        for _ in range(5)
    ]
    store.create(NewSubmission(spec=make_spec(labels={"team": "y"}), tenant="a"))
    for rec in a[:3]:
        store.transition(rec.id, expected={S.ACCEPTED}, new_state=S.SUBMITTING)

    assert {r.id for r in _all_pages(store, 2, tenant="b")} == {r.id for r in b}
    assert len(_all_pages(store, 3, tenant="a")) == 8
    assert {r.id for r in _all_pages(store, 2, tenant="a", label=("team", "x"))} == {
        r.id for r in a
    }
    assert {r.id for r in _all_pages(store, 2, state=S.SUBMITTING)} == {r.id for r in a[:3]}
    assert _all_pages(store, 2, tenant="b", state="SUBMITTING") == []
    assert len(_all_pages(store, 4, label=("team", "x"))) == 12
    assert _all_pages(store, 4, label=("team", "z")) == []
    for rec in b:
        with pytest.raises(NotFoundError):
            store.get(rec.id, tenant="a")


def test_pages_stable_under_concurrent_inserts(store: JobStore) -> None:
    first = store.create_many([NewSubmission(spec=make_spec(f"j{i}")) for i in range(300)])
    original = {r[0].id for r in first if isinstance(r, tuple)}
    stop = threading.Event()

    def inserter() -> None:
        while not stop.is_set():
            store.create_many([NewSubmission(spec=make_spec()) for _ in range(20)])

    thread = threading.Thread(target=inserter)
    thread.start()
    try:
        seen: list[str] = []
        token: str | None = None
        page, token = store.list(page_size=25)
        # Only the pages after the first matter: the first may include new inserts.
        seen.extend(r.id for r in page)
        while token is not None:
            page, token = store.list(page_size=25, page_token=token)
            seen.extend(r.id for r in page)
    finally:
        stop.set()
        thread.join()
    assert len(seen) == len(set(seen)), "a record was listed twice"
    assert original <= set(seen), "a record that existed before paging was skipped"


def test_ties_on_created_at_are_paged_without_loss(store: JobStore, raw: object) -> None:
    import redis

    assert isinstance(raw, redis.Redis)
    made = store.create_many([NewSubmission(spec=make_spec()) for _ in range(130)])
    recs = [r[0] for r in made if isinstance(r, tuple)]
    # Force every score equal: paging must still visit each member exactly once.
    raw.zadd("vbq:idx:all", {r.id: 1000.0 for r in recs})
    for page_size in (7, 90):  # pages inside one read chunk, and pages that span chunks
        listed = _all_pages(store, page_size)
        assert sorted(r.id for r in listed) == sorted(r.id for r in recs)


def test_bad_page_arguments(store: JobStore) -> None:
    with pytest.raises(StoreError):
        store.list(page_token="not-a-token")
    with pytest.raises(StoreError):
        store.list(page_size=0)


def test_filtered_listing_parses_only_the_page(redis_url: str) -> None:
    from vbq.settings import Settings
    from vbq.spec import JobSpec

    parsed: list[int] = []

    def loader(text: str) -> JobSpec:
        parsed.append(1)
        return JobSpec.from_json(text)

    store = JobStore.from_settings(
        Settings(redis_url=redis_url, project="proj-a"), spec_loader=loader
    )
    store.create_many([NewSubmission(spec=make_spec(f"a{i}"), tenant="a") for i in range(600)])
    mine = store.create_many([NewSubmission(spec=make_spec(f"b{i}"), tenant="b") for i in range(3)])
    store.create_many([NewSubmission(spec=make_spec(f"c{i}"), tenant="a") for i in range(600)])
    for r in mine:
        assert isinstance(r, tuple)
        store.transition(r[0].id, expected={S.ACCEPTED}, new_state=S.SUBMITTING)
    parsed.clear()
    page, token = store.list(tenant="a", state=S.SUBMITTING, page_size=10)
    assert page == [] and token is None and parsed == []
    page, token = store.list(state=S.ACCEPTED, tenant="b", page_size=10)
    assert page == [] and parsed == []
    page, token = store.list(tenant="a", page_size=10)
    assert len(page) == 10 and token is not None and len(parsed) == 10
    store.close()
