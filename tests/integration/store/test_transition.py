"""Transitions: compare-and-set, index moves, in-flight list and outbox, atomically."""

from __future__ import annotations

import threading

import pytest
import redis

from tests.unit.store.specs import make_spec
from vbq.errors import NotFoundError, StateConflictError, StoreError
from vbq.events import JobEvent
from vbq.states import SubmissionState as S
from vbq.store import JobStore, NewSubmission, SubmissionRecord


def _event(rec: SubmissionRecord, state: S, previous: S) -> JobEvent:
    return JobEvent.create(
        type=f"job.{state.value.lower()}",
        submission_id=rec.id,
        state=state.value,
        previous_state=previous.value,
        tenant=rec.tenant,
    )


def _new(store: JobStore, **kw: object) -> SubmissionRecord:
    rec, _ = store.create(NewSubmission(spec=make_spec(**kw)))  # type: ignore[arg-type]
    return rec


def test_full_lifecycle(store: JobStore, raw: redis.Redis) -> None:
    rec = _new(store)
    rec2 = store.record_attempt(rec.id, expected={S.ACCEPTED})
    assert rec2.state is S.SUBMITTING and rec2.attempts == 1 and rec2.version == 2
    assert raw.zscore("vbq:idx:state:SUBMITTING", rec.id) == pytest.approx(rec.created_at)
    assert raw.zscore("vbq:idx:state:ACCEPTED", rec.id) is None

    job = {"name": "projects/proj-a/locations/us-central1/batchPredictionJobs/1", "state": "X"}
    sub = store.transition(
        rec.id,
        expected={S.SUBMITTING},
        new_state=S.SUBMITTED,
        updates={"job_name": job["name"], "job": job, "submitted_at": 1.0},
        event=_event(rec, S.SUBMITTED, S.SUBMITTING),
    )
    assert sub.job == job and sub.job_name == job["name"]
    # Server clock, not the caller's value.
    assert sub.submitted_at is not None and sub.submitted_at > 1000
    assert sub.updated_at >= rec2.updated_at
    assert raw.zscore("vbq:inflight:proj-a:us-central1", rec.id) == pytest.approx(sub.submitted_at)
    assert [r.id for r in store.unfinished("proj-a", "us-central1")] == [rec.id]

    run = store.transition(rec.id, expected={S.SUBMITTED}, new_state=S.RUNNING)
    assert run.submitted_at == sub.submitted_at
    assert raw.zcard("vbq:inflight:proj-a:us-central1") == 1

    done = store.transition(
        rec.id,
        expected={S.RUNNING},
        new_state=S.SUCCEEDED,
        updates={"job": {**job, "state": "JOB_STATE_SUCCEEDED"}},
        event=_event(rec, S.SUCCEEDED, S.RUNNING),
    )
    assert done.finished and done.finished_at is not None and done.version == 5
    assert raw.zcard("vbq:inflight:proj-a:us-central1") == 0
    assert store.unfinished("proj-a", "us-central1") == []
    assert store.count_by_state() == {S.SUCCEEDED: 1}

    entries = raw.xrange("vbq:outbox")
    events = [JobEvent.from_json(fields["event"]) for _, fields in entries]
    assert [e.state for e in events] == ["SUBMITTED", "SUCCEEDED"]
    assert events[0].event_id == f"{rec.id}:SUBMITTED"


def test_conflict_reports_actual_state_and_changes_nothing(
    store: JobStore, raw: redis.Redis
) -> None:
    rec = _new(store)
    with pytest.raises(StateConflictError) as info:
        store.transition(
            rec.id,
            expected={S.RUNNING},
            new_state=S.SUCCEEDED,
            updates={"last_error": "x"},
            event=_event(rec, S.SUCCEEDED, S.RUNNING),
        )
    assert info.value.actual is S.ACCEPTED
    assert store.get(rec.id) == rec
    assert raw.xlen("vbq:outbox") == 0


def test_bad_update_field_or_missing_record(store: JobStore) -> None:
    rec = _new(store)
    with pytest.raises(StoreError):
        store.transition(rec.id, expected={S.ACCEPTED}, new_state=S.SUBMITTING, updates={"id": 1})
    with pytest.raises(StoreError):
        store.transition(rec.id, expected=set(), new_state=S.SUBMITTING)
    assert store.get(rec.id) == rec
    with pytest.raises(NotFoundError):
        store.transition("0" * 32, expected={S.ACCEPTED}, new_state=S.SUBMITTING)


def _race(store: JobStore, rec: SubmissionRecord, n_threads: int) -> tuple[list[int], list[S]]:
    """n threads try the same ACCEPTED -> SUBMITTING transition at once."""
    wins: list[int] = []
    conflicts: list[S] = []
    lock = threading.Lock()
    barrier = threading.Barrier(n_threads)

    def worker(n: int) -> None:
        barrier.wait()
        try:
            store.transition(
                rec.id,
                expected={S.ACCEPTED},
                new_state=S.SUBMITTING,
                updates={"last_error": f"w{n}"},
                event=_event(rec, S.REJECTED, S.ACCEPTED),
            )
            with lock:
                wins.append(n)
        except StateConflictError as exc:
            with lock:
                conflicts.append(exc.actual)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return wins, conflicts


def test_cas_under_eight_threads_has_exactly_one_winner(store: JobStore, raw: redis.Redis) -> None:
    recs = [_new(store, display_name=f"j{i}") for i in range(20)]
    for rec in recs:
        wins, conflicts = _race(store, rec, 8)
        assert len(wins) == 1 and conflicts == [S.SUBMITTING] * 7
        final = store.get(rec.id)
        assert final.last_error == f"w{wins[0]}" and final.version == 2
    # Exactly one outbox entry per successful transition.
    assert raw.xlen("vbq:outbox") == len(recs)


def test_concurrent_attempts_are_counted_exactly(store: JobStore) -> None:
    rec = _new(store)

    def worker() -> None:
        for _ in range(25):
            store.record_attempt(rec.id, "boom", new_state=None)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = store.get(rec.id)
    assert final.attempts == 200 and final.version == 201
    assert final.last_error == "boom" and final.state is S.ACCEPTED


def test_touch_and_rejected_without_job(store: JobStore, raw: redis.Redis) -> None:
    rec = _new(store)
    touched = store.touch(rec.id, updates={"metadata": {"a": [1, 2]}})
    assert touched.metadata == {"a": [1, 2]} and touched.version == 2
    rej = store.transition(
        rec.id,
        expected={S.ACCEPTED, S.SUBMITTING},
        new_state=S.REJECTED,
        updates={"last_error": "400"},
    )
    assert rej.finished_at is not None and rej.job_name is None
    assert raw.exists("vbq:inflight:proj-a:us-central1") == 0
    # Submitted without a job name (never happens in practice) is not put on the poll list.
    other = _new(store)
    store.transition(other.id, expected={S.ACCEPTED}, new_state=S.SUBMITTED)
    assert raw.exists("vbq:inflight:proj-a:us-central1") == 0


def test_works_on_a_client_without_decode_responses(redis_url: str) -> None:
    from vbq.settings import Settings

    client = redis.Redis.from_url(redis_url)  # replies as bytes
    store = JobStore(client, settings=Settings(project="proj-a", location="us-central1"))
    rec, _ = store.create(NewSubmission(spec=make_spec(labels={"k": "v"}), idempotency_key="i"))
    again, created = store.create(
        NewSubmission(spec=make_spec(labels={"k": "v"}), idempotency_key="i")
    )
    assert not created and again == rec == store.get(rec.id)
    store.transition(
        rec.id, expected={S.ACCEPTED}, new_state=S.SUBMITTED, updates={"job_name": "jobs/1"}
    )
    assert [r.id for r in store.unfinished("proj-a", "us-central1")] == [rec.id]
    page, token = store.list(label=("k", "v"), page_size=1)
    assert [r.id for r in page] == [rec.id] and token is None
    assert store.count_by_state() == {S.SUBMITTED: 1}
    client.close()


def test_record_attempt_never_reopens_a_finished_submission(store: JobStore) -> None:
    rec = _new(store)
    store.transition(rec.id, expected={S.ACCEPTED}, new_state=S.REJECTED)
    with pytest.raises(StateConflictError) as info:
        store.record_attempt(rec.id, "late")
    assert info.value.actual is S.REJECTED
    assert store.get(rec.id).attempts == 0
    counted = store.record_attempt(rec.id, "noted", new_state=None)
    assert counted.state is S.REJECTED and counted.attempts == 1


def test_an_attempt_counts_only_at_the_place_it_loaded_the_record_at(
    store: JobStore, raw: redis.Redis
) -> None:
    rec = _new(store)
    # Another place claimed it after this attempt loaded it (placement rewrites location).
    raw.hset(f"vbq:sub:{rec.id}", "location", "europe-west4")
    with pytest.raises(StateConflictError):
        store.record_attempt(rec.id, expected={S.ACCEPTED}, expected_location=rec.location)
    again = store.get(rec.id)
    assert again.state is S.ACCEPTED and again.attempts == 0  # nothing written
    assert raw.hget(f"vbq:sub:{rec.id}", "@location") is None
    moved = store.record_attempt(rec.id, expected={S.ACCEPTED}, expected_location="europe-west4")
    assert moved.state is S.SUBMITTING and moved.attempts == 1
