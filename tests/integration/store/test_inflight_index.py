"""The poller's in-flight index (vbq:poll:locations + the slim view) follows every transition."""

from __future__ import annotations

import random

import pytest
import redis

from tests.unit.store.specs import make_spec
from vbq.errors import StateConflictError
from vbq.states import SubmissionState as S
from vbq.store import JobStore, NewSubmission, SubmissionRecord
from vbq.store.inflight import LOCATIONS_BUILT_KEY, LOCATIONS_KEY, InflightIndex

LOC_A = ("proj-a", "us-central1")
LOC_B = ("proj-b", "europe-west4")


def _new(store: JobStore, location: tuple[str, str] = LOC_A, name: str = "job") -> str:
    spec = make_spec(name, project=location[0], location=location[1])
    rec, _ = store.create(NewSubmission(spec=spec))
    store.record_attempt(rec.id)
    return rec.id


def _submit(store: JobStore, sid: str) -> SubmissionRecord:
    return store.transition(
        sid,
        expected={S.SUBMITTING},
        new_state=S.SUBMITTED,
        updates={"job_name": f"projects/p/locations/l/batchPredictionJobs/{sid}"},
    )


def _nonempty_inflight_locations(raw: redis.Redis) -> set[tuple[str, str]]:
    """The truth, the slow way (a test may SCAN): locations whose in-flight zset has jobs."""
    found = set()
    for key in raw.scan_iter(match="vbq:inflight:*"):
        if raw.zcard(key):
            _, _, project, location = key.split(":", 3)
            found.add((project, location))
    return found


def test_locations_follow_submit_run_and_finish(store: JobStore, raw: redis.Redis) -> None:
    index = InflightIndex(raw)
    assert index.locations() == [] and index.newest_submitted_at() == 0.0

    first = _submit(store, _new(store, LOC_A, "a1"))
    assert index.locations() == [LOC_A]
    assert index.newest_submitted_at() == pytest.approx(first.submitted_at)
    second = _submit(store, _new(store, LOC_A, "a2"))
    third = _submit(store, _new(store, LOC_B, "b1"))
    assert index.locations() == sorted([LOC_A, LOC_B])
    assert raw.zscore(LOCATIONS_KEY, "proj-a:us-central1") == pytest.approx(second.submitted_at)
    assert index.newest_submitted_at() == pytest.approx(third.submitted_at)

    # A later in-flight state keeps submitted_at: the score never goes down.
    store.transition(first.id, expected={S.SUBMITTED}, new_state=S.RUNNING)
    assert raw.zscore(LOCATIONS_KEY, "proj-a:us-central1") == pytest.approx(second.submitted_at)

    store.transition(first.id, expected={S.RUNNING}, new_state=S.SUCCEEDED)
    assert index.locations() == sorted([LOC_A, LOC_B])  # second still runs there
    store.transition(second.id, expected={S.SUBMITTED}, new_state=S.FAILED)
    assert index.locations() == [LOC_B]
    store.transition(third.id, expected={S.SUBMITTED}, new_state=S.CANCELLED)
    assert index.locations() == [] and raw.exists(LOCATIONS_KEY) == 0


def test_a_conflicting_transition_changes_nothing(store: JobStore, raw: redis.Redis) -> None:
    sid = _new(store)
    with pytest.raises(StateConflictError):
        store.transition(
            sid, expected={S.RUNNING}, new_state=S.SUBMITTED, updates={"job_name": "x"}
        )
    assert raw.exists(LOCATIONS_KEY) == 0


def test_index_matches_the_inflight_zsets_after_random_transitions(
    store: JobStore, raw: redis.Redis
) -> None:
    rng = random.Random(17)
    locations = [LOC_A, LOC_B, ("proj-c", "asia-east1")]
    live: dict[str, S] = {}
    for i in range(60):
        sid = _new(store, rng.choice(locations), f"r{i}")
        _submit(store, sid)
        live[sid] = S.SUBMITTED
    for _ in range(200):
        sid = rng.choice(sorted(live))
        current = live[sid]
        target = rng.choice([S.QUEUED, S.RUNNING, S.SUCCEEDED, S.FAILED, S.CANCELLED])
        store.transition(sid, expected={current}, new_state=target)
        if target.finished:
            del live[sid]
        else:
            live[sid] = target
        assert set(InflightIndex(raw).locations()) == _nonempty_inflight_locations(raw)
        if not live:
            break


def test_view_is_slim_and_chunked(store: JobStore, raw: redis.Redis) -> None:
    ids = [_submit(store, _new(store, LOC_A, f"v{i}")).id for i in range(7)]
    raw.set(f"vbq:stale:{ids[2]}", "1")
    raw.zadd("vbq:inflight:proj-a:us-central1", {"f" * 32: 1.0})  # record gone: left out
    view = list(InflightIndex(raw, chunk=3).view(*LOC_A))
    assert [j.id for j in view] == ids  # oldest first, across three chunks
    assert [j.stale_raised for j in view] == [i == 2 for i in range(7)]
    assert {j.state for j in view} == {"SUBMITTED"}
    assert view[0].job_name.endswith(ids[0])
    assert view[0].submitted_at == pytest.approx(store.get(ids[0]).submitted_at)


def test_backfill_of_a_store_written_before_the_index(store: JobStore, raw: redis.Redis) -> None:
    a = _submit(store, _new(store, LOC_A, "a"))
    b = _submit(store, _new(store, LOC_B, "b"))
    _submit(store, _new(store, LOC_B, "b2"))
    done = _submit(store, _new(store, ("proj-c", "asia-east1"), "c"))
    store.transition(done.id, expected={S.SUBMITTED}, new_state=S.SUCCEEDED)
    raw.delete(LOCATIONS_KEY)  # as an older release left it: no index, no marker
    index = InflightIndex(raw)
    assert index.ensure_built() == 2
    assert index.locations() == sorted([LOC_A, LOC_B])
    assert raw.zscore(LOCATIONS_KEY, "proj-a:us-central1") == pytest.approx(a.submitted_at)
    assert raw.get(LOCATIONS_BUILT_KEY) == "1"
    raw.delete(LOCATIONS_KEY)
    assert index.ensure_built() == 0  # built once; later writes keep it
    assert b.submitted_at is not None


def test_prune_drops_only_an_empty_location(store: JobStore, raw: redis.Redis) -> None:
    _submit(store, _new(store, LOC_A))
    # A backfill that raced the last finish may leave a location with no job left.
    raw.zadd(LOCATIONS_KEY, {"proj-b:europe-west4": 5.0})
    index = InflightIndex(raw)
    assert index.prune(*LOC_A) is False
    assert index.prune(*LOC_B) is True
    assert index.locations() == [LOC_A]


def test_view_checks_stale_markers_only_up_to_the_cutoff(store: JobStore, raw: redis.Redis) -> None:
    old = _submit(store, _new(store, LOC_A, "old"))
    young = _submit(store, _new(store, LOC_A, "young"))
    assert old.submitted_at is not None and young.submitted_at is not None
    raw.set(f"vbq:stale:{old.id}", "1")
    raw.set(f"vbq:stale:{young.id}", "1")
    view = InflightIndex(raw).view(*LOC_A, stale_cutoff=old.submitted_at)
    assert {j.id: j.stale_raised for j in view} == {old.id: True, young.id: False}
