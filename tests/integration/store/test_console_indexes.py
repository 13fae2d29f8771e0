"""The console's indexes: counts per tenant and state, model and name indexes, timelines,
kept by the store's Lua scripts in the same call as each change; rebuilt by ``reindex``."""

from __future__ import annotations

import pytest
import redis

from tests.unit.store.specs import MODEL, make_spec
from vbq.events import JobEvent
from vbq.spec import JobSpec
from vbq.states import SubmissionState as S
from vbq.stats import read_stats, record_handled
from vbq.store import JobStore, NewSubmission, SubmissionRecord, read_counts, read_timeline
from vbq.store.reindex import reindex

pytestmark = pytest.mark.integration

CUSTOM = "projects/proj-a/locations/us-central1/models/123"
JOB = {"name": "projects/proj-a/locations/us-central1/batchPredictionJobs/1", "state": "X"}


def _new(store: JobStore, name: str, tenant: str = "t1", **kw: object) -> SubmissionRecord:
    rec, _ = store.create(NewSubmission(spec=make_spec(name, **kw), tenant=tenant))  # type: ignore[arg-type]
    return rec


def _event(rec: SubmissionRecord, state: S, previous: S, type_: str | None = None) -> JobEvent:
    return JobEvent.create(
        type=type_ or f"job.{state.value.lower()}",
        submission_id=rec.id,
        state=state.value,
        previous_state=previous.value,
        tenant=rec.tenant,
        job=dict(JOB, nested={"type": "not-the-event-type"}),
    )


def _run_to(store: JobStore, rec: SubmissionRecord, final: S) -> None:
    store.record_attempt(rec.id)
    store.transition(
        rec.id,
        expected={S.SUBMITTING},
        new_state=S.SUBMITTED,
        updates={"job_name": JOB["name"], "job": JOB},
        event=_event(rec, S.SUBMITTED, S.SUBMITTING),
    )
    store.transition(rec.id, expected={S.SUBMITTED}, new_state=S.RUNNING)
    if final is not S.RUNNING:
        store.transition(
            rec.id, expected={S.RUNNING}, new_state=final, event=_event(rec, final, S.RUNNING)
        )


def test_create_maintains_counts_model_name_and_timeline(store: JobStore, raw: redis.Redis) -> None:
    a = _new(store, "Nightly-Scoring", tenant="t1")
    b = _new(store, "other", tenant="t2", model_name=CUSTOM)
    assert raw.hgetall("vbq:count:tenant-state") == {"t1:ACCEPTED": "1", "t2:ACCEPTED": "1"}
    assert raw.zrange("vbq:idx:tenant-state:t2:ACCEPTED", 0, -1) == [b.id]
    assert raw.zscore(f"vbq:idx:model:{MODEL}", a.id) == pytest.approx(a.created_at)
    assert raw.zscore(f"vbq:idx:model:{CUSTOM}", b.id) == pytest.approx(b.created_at)
    assert raw.smembers("vbq:idx:models") == {MODEL, CUSTOM}
    assert raw.zrange("vbq:idx:name:t1", 0, -1) == [f"nightly-scoring\0{a.id}"]
    assert raw.hget(f"vbq:sub:{a.id}", "display_name") == "Nightly-Scoring"
    [entry] = read_timeline(raw, a.id)
    assert (entry.kind, entry.state, entry.previous_state) == ("state", "ACCEPTED", None)
    assert entry.at == pytest.approx(a.created_at)
    # An idempotent replay writes nothing twice.
    store.create(NewSubmission(spec=make_spec("x"), tenant="t1", idempotency_key="k"))
    store.create(NewSubmission(spec=make_spec("x"), tenant="t1", idempotency_key="k"))
    assert raw.hget("vbq:count:tenant-state", "t1:ACCEPTED") == "2"


def test_default_display_name_is_indexed(store: JobStore, raw: redis.Redis) -> None:
    spec = JobSpec.from_sdk_kwargs(
        model_name=MODEL,
        gcs_source="gs://bucket-in/i.jsonl",
        gcs_destination_prefix="gs://bucket-out/o",
    )
    rec, _ = store.create(NewSubmission(spec=spec, tenant="t1"))
    expected = f"BatchPredictionJob {spec.fingerprint()[:16]}"
    assert raw.hget(f"vbq:sub:{rec.id}", "display_name") == expected
    assert (
        spec.resolve(default_project="proj-a", default_location="us-central1").body["displayName"]
        == expected
    )


def test_transitions_move_counts_and_append_the_timeline(store: JobStore, raw: redis.Redis) -> None:
    rec = _new(store, "a")
    _run_to(store, rec, S.SUCCEEDED)
    assert raw.hgetall("vbq:count:tenant-state") == {"t1:SUCCEEDED": "1"}
    assert raw.zrange("vbq:idx:tenant-state:t1:SUCCEEDED", 0, -1, withscores=True) == [
        (rec.id, pytest.approx(rec.created_at))
    ]
    assert not raw.exists("vbq:idx:tenant-state:t1:ACCEPTED")
    timeline = read_timeline(raw, rec.id)
    assert [(e.previous_state, e.state, e.event_type) for e in timeline] == [
        (None, "ACCEPTED", None),
        ("ACCEPTED", "SUBMITTING", None),
        ("SUBMITTING", "SUBMITTED", "job.submitted"),
        ("SUBMITTED", "RUNNING", None),
        ("RUNNING", "SUCCEEDED", "job.succeeded"),
    ]
    assert [e.at for e in timeline] == sorted(e.at for e in timeline)
    # One job created, counted once (in its window and in the total) for its tenant.
    stats = read_stats(raw, seconds=60)
    assert stats.counters["creates"] == 1
    assert sum(c.get("t1", 0) for _, c in stats.windows["creates"]) == 1


def test_event_without_state_change_and_handled_marks(store: JobStore, raw: redis.Redis) -> None:
    rec = _new(store, "a")
    _run_to(store, rec, S.RUNNING)
    store.touch(rec.id)  # no event, no entry
    store.transition(
        rec.id,
        expected={S.RUNNING},
        new_state=S.RUNNING,
        event=_event(rec, S.RUNNING, S.RUNNING, type_="job.running"),
    )
    pipe = raw.pipeline(transaction=True)
    record_handled(pipe, group="grp", event_id=f"{rec.id}:SUBMITTED")
    pipe.execute()
    record_handled(raw, group="grp", event_id=f"{'f' * 32}:SUBMITTED")  # no such record
    kinds = [(e.kind, e.state, e.event_type, e.group) for e in read_timeline(raw, rec.id)][-2:]
    assert kinds == [
        ("event", "RUNNING", "job.running", None),
        ("handled", "SUBMITTED", None, "grp"),
    ]
    assert not raw.exists(f"vbq:timeline:{'f' * 32}")
    counters = read_stats(raw).counters
    assert counters["events_handled"] == 2 and counters["events_handled:grp"] == 2


def test_read_counts_and_reindex_of_an_old_store(store: JobStore, raw: redis.Redis) -> None:
    recs = [_new(store, f"job-{i}", tenant=f"t{i % 3}") for i in range(9)]
    _run_to(store, recs[0], S.SUCCEEDED)
    _run_to(store, recs[1], S.RUNNING)
    counts = read_counts(raw)
    assert counts.consistent and counts.total == 9
    assert counts.tenants == ["t0", "t1", "t2"]
    assert counts.by_tenant["t0"] == {"SUCCEEDED": 1, "ACCEPTED": 2}
    assert counts.by_tenant["t1"] == {"RUNNING": 1, "ACCEPTED": 2}
    assert read_counts(raw, tenants=["t1", "nobody"]).by_tenant == {
        "t1": {"RUNNING": 1, "ACCEPTED": 2},
        "nobody": {},
    }
    # A store from before the console: no counters, names, model indexes or timelines.
    for key in raw.scan_iter("vbq:count:*"):
        raw.delete(key)
    for pattern in (
        "vbq:idx:name:*",
        "vbq:idx:model:*",
        "vbq:idx:tenant-state:*",
        "vbq:timeline:*",
    ):
        for key in raw.scan_iter(pattern):
            raw.delete(key)
    raw.hdel(f"vbq:sub:{recs[2].id}", "display_name")
    assert not read_counts(raw).consistent
    report = reindex(raw, chunk=4)
    assert (report.records, report.timelines_added, report.names_set) == (9, 9, 1)
    after = read_counts(raw)
    assert after.consistent and after.by_tenant == counts.by_tenant
    assert raw.hget(f"vbq:sub:{recs[2].id}", "display_name") == "job-2"
    assert raw.zcard(f"vbq:idx:model:{MODEL}") == 9
    assert raw.zrange("vbq:idx:tenant-state:t0:SUCCEEDED", 0, -1) == [recs[0].id]
    assert raw.zcard("vbq:idx:tenant-state:t0:ACCEPTED") == 2
    assert [e.state for e in read_timeline(raw, recs[0].id)] == [
        "ACCEPTED",
        "SUBMITTED",
        "SUCCEEDED",
    ]
    assert reindex(raw) == report.__class__(records=9, timelines_added=0, names_set=0)


def test_delete_removes_what_the_console_indexes_hold(store: JobStore, raw: redis.Redis) -> None:
    gone, kept = _new(store, "Gone-Job"), _new(store, "kept")
    _run_to(store, gone, S.SUCCEEDED)
    store.delete(gone.id)
    assert raw.hgetall("vbq:count:tenant-state") == {"t1:ACCEPTED": "1"}
    assert not raw.exists("vbq:idx:tenant-state:t1:SUCCEEDED", f"vbq:timeline:{gone.id}")
    assert raw.zrange(f"vbq:idx:model:{MODEL}", 0, -1) == [kept.id]
    assert raw.zrange("vbq:idx:name:t1", 0, -1) == [f"kept\0{kept.id}"]
    assert read_counts(raw).consistent
