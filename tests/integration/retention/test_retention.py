"""Retention and archive against a real redis-server and the GCS emulator."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import pytest
import redis

from tests.integration.retention.conftest import RETENTION_S
from tests.integration.retention.helpers import all_keys, new, places_naming, run_to_success
from vbq.archive import Archiver, ArchiveWriter, bigquery_schema
from vbq.archive.archiver import LEASE_KEY, OWED_RETRY_S, PENDING_KEY
from vbq.errors import NotFoundError, SubmissionExpiredError
from vbq.producers import Client
from vbq.settings import Settings
from vbq.states import SubmissionState as S
from vbq.store import JobStore, read_counts
from vbq.store.keys import FINISHED_KEY

pytestmark = pytest.mark.integration


class _NoEnqueue:
    def enqueue_submit_many(self, submission_ids: Any) -> None:
        raise AssertionError("nothing is submitted here")

    def enqueue_cancel(self, submission_id: str) -> None:
        raise AssertionError("nothing is cancelled here")


def _later(seconds: float = RETENTION_S + 1) -> Any:
    return lambda: time.time() + seconds


def _archive_rows(storage_client: Any, bucket: str) -> list[tuple[str, dict[str, Any]]]:
    rows = []
    for blob in storage_client.list_blobs(bucket, prefix="vbq-archive/"):
        for line in blob.download_as_bytes().decode().splitlines():
            rows.append((blob.name, json.loads(line)))
    return rows


def test_expiry_removes_every_key_a_submission_owned(
    store: JobStore, raw: redis.Redis, settings: Settings
) -> None:
    before = all_keys(raw)
    old = [run_to_success(store, raw, i) for i in range(10)]
    time.sleep(0.05)
    cutoff = time.time()
    kept = [run_to_success(store, raw, 100 + i) for i in range(3)]
    for sid in old:
        assert places_naming(raw, sid), "the fixture wrote nothing?"
    owned = {k for k in all_keys(raw) - before if any(sid in k for sid in old)}
    assert {f"vbq:sub:{old[0]}", f"vbq:timeline:{old[0]}", f"vbq:cancel:{old[0]}"} <= owned
    assert f"vbq:inbox:g1:{old[0]}:SUCCEEDED" in owned

    report = Archiver(
        redis=raw, settings=settings, clock=lambda: cutoff + settings.retention_s
    ).run_once()

    assert report.expired == 10 and report.archived == 10 and report.batches == 2  # batch 7
    for sid in old:
        # Only the archive index (a hash field per id) and the outbox stream (events the
        # relay has not published yet; it deletes them) may still name it.
        left = [k for k in places_naming(raw, sid) if k != "vbq:outbox"]
        assert left and all(k.startswith("vbq:archived:") for k in left), left
    for sid in kept:
        assert store.get(sid).state is S.SUCCEEDED
        assert f"vbq:inbox:g1:{sid}:SUCCEEDED" in all_keys(raw)
    counts = read_counts(raw)
    assert counts.by_tenant == {"t1": {S.SUCCEEDED.value: 3}}
    assert raw.zcard("vbq:idx:all") == 3 and raw.zcard(FINISHED_KEY) == 3
    assert raw.zcard("vbq:idx:name:t1") == 3 and raw.zcard("vbq:idx:label:team:x") == 3
    assert not raw.exists(PENDING_KEY) and not raw.exists(LEASE_KEY)


def test_archive_rows_follow_the_bigquery_schema(
    store: JobStore, raw: redis.Redis, settings: Settings, storage_client: Any, bucket: str
) -> None:
    ids = [run_to_success(store, raw, i, tenant="t1" if i % 2 else "a/b c") for i in range(9)]
    records = {sid: store.get(sid) for sid in ids}
    Archiver(redis=raw, settings=settings, clock=_later()).run_once()

    rows = _archive_rows(storage_client, bucket)
    assert sorted(r["submission_id"] for _, r in rows) == sorted(ids)
    schema = {f["name"]: f for f in bigquery_schema()}
    py_types = {"STRING": str, "INTEGER": int, "TIMESTAMP": str, "RECORD": list}
    for name, row in rows:
        rec = records[row["submission_id"]]
        day = time.strftime("%Y-%m-%d", time.gmtime(rec.finished_at))
        tenant = "a~2Fb~20c" if rec.tenant == "a/b c" else "t1"
        assert name.startswith(f"vbq-archive/dt={day}/tenant={tenant}/part-")
        assert name.endswith(".jsonl")
        assert set(row) == set(schema), "every column, always (no column comes and goes)"
        for col, value in row.items():
            if value is None:
                assert schema[col]["mode"] == "NULLABLE", col
            else:
                assert isinstance(value, py_types[schema[col]["type"]]), col
        assert row["state"] == "SUCCEEDED" and row["tenant"] == rec.tenant
        assert json.loads(row["metadata"]) == rec.metadata
        assert json.loads(row["spec"]) == rec.spec.to_dict()
        assert {lab["key"]: lab["value"] for lab in row["labels"]} == rec.labels
        kinds = [(e["kind"], e["state"]) for e in row["events"]]
        assert kinds == [
            ("state", "ACCEPTED"),
            ("state", "SUBMITTED"),
            ("state", "RUNNING"),
            ("state", "SUCCEEDED"),
            ("handled", "SUCCEEDED"),
        ]
        assert row["events"][-1]["subscriber_group"] == "g1"
        assert row["events"][3]["event_type"] == "job.succeeded"


def test_get_answers_for_archived_ids_from_the_archive(
    store: JobStore, raw: redis.Redis, settings: Settings
) -> None:
    sid = run_to_success(store, raw, 1)
    other = run_to_success(store, raw, 2, tenant="t2")
    before = store.get(sid)
    Archiver(redis=raw, settings=settings, clock=_later()).run_once()
    with pytest.raises(NotFoundError):
        store.get(sid)

    client = Client(settings=settings, store=store, enqueuer=_NoEnqueue())  # type: ignore[arg-type]
    got = client.get(sid).record
    assert _same(got.to_dict(), before)
    assert client.get(sid, tenant="t1").state == "SUCCEEDED"
    with pytest.raises(NotFoundError) as refused:
        client.get(other, tenant="t1")  # another tenant's: not revealed, not "expired"
    assert not isinstance(refused.value, SubmissionExpiredError)
    with pytest.raises(NotFoundError):
        client.get("f" * 32)


def _same(got: dict[str, Any], before: Any) -> bool:
    want = before.to_dict()
    for key in ("created_at", "updated_at", "submitted_at", "finished_at"):
        assert got.pop(key) == pytest.approx(want.pop(key), abs=1e-5)
    assert got == want
    return True


def test_expired_id_without_archive_or_with_its_object_gone_says_expired(
    store: JobStore, raw: redis.Redis, settings: Settings, storage_client: Any, bucket: str
) -> None:
    unarchived = run_to_success(store, raw, 1)
    no_archive = settings.replace(archive_prefix="")
    Archiver(redis=raw, settings=no_archive, clock=_later()).run_once()
    archived = run_to_success(store, raw, 2)
    Archiver(redis=raw, settings=settings, clock=_later()).run_once()

    client = Client(settings=settings, store=store, enqueuer=_NoEnqueue())  # type: ignore[arg-type]
    with pytest.raises(SubmissionExpiredError) as exc:
        client.get(unarchived)
    assert "expired from the store after the retention window" in str(exc.value)
    assert "not archived" in str(exc.value)

    assert client.get(archived).state == "SUCCEEDED"
    for blob in storage_client.list_blobs(bucket):
        blob.delete()
    with pytest.raises(SubmissionExpiredError, match="is gone"):
        client.get(archived)


def test_a_crash_between_writing_and_expiring_archives_each_id_once(
    store: JobStore, raw: redis.Redis, settings: Settings, storage_client: Any, bucket: str
) -> None:
    ids = [run_to_success(store, raw, i, tenant=f"t{i % 3}") for i in range(12)]
    crashing = Archiver(redis=raw, settings=settings, clock=_later())

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("killed after the archive write")

    crashing.expirer.expire = crash  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        crashing.run_once()
    written = _archive_rows(storage_client, bucket)
    assert len(written) == 7 and raw.exists(PENDING_KEY)
    assert all(store.get(sid) for sid in ids)  # nothing left Redis yet
    # More submissions finish meanwhile; the lease of the crashed holder runs out.
    ids += [run_to_success(store, raw, 100 + i) for i in range(4)]
    raw.delete(LEASE_KEY)

    report = Archiver(redis=raw, settings=settings, clock=_later()).run_once()

    assert report.expired == 16
    rows = _archive_rows(storage_client, bucket)
    assert Counter(r["submission_id"] for _, r in rows) == Counter(ids)  # each exactly once
    assert raw.zcard(FINISHED_KEY) == 0 and raw.zcard("vbq:idx:all") == 0


def test_a_submission_whose_event_is_owed_stays_until_its_results_are_in(
    store: JobStore, raw: redis.Redis, settings: Settings
) -> None:
    owed, done = run_to_success(store, raw, 1), run_to_success(store, raw, 2)
    raw.hset("vbq:results:owed", owed, "{}")
    report = Archiver(redis=raw, settings=settings, clock=_later()).run_once()
    assert report.statuses == {"expired": 1, "owed": 1}
    assert store.get(owed).state is S.SUCCEEDED
    with pytest.raises(NotFoundError):
        store.get(done)
    assert raw.zscore(FINISHED_KEY, owed) is not None  # looked at again later


def test_results_settling_during_the_archive_write_never_expire_an_unarchived_id(
    store: JobStore, raw: redis.Redis, settings: Settings, storage_client: Any, bucket: str
) -> None:
    owed, done = run_to_success(store, raw, 1), run_to_success(store, raw, 2)
    raw.hset("vbq:results:owed", owed, "{}")
    archiver = Archiver(redis=raw, settings=settings, clock=_later())
    write = archiver.writer.write_batch  # type: ignore[union-attr]

    def write_then_settle(*args: Any, **kwargs: Any) -> Any:
        out = write(*args, **kwargs)
        raw.hdel("vbq:results:owed", owed)  # its results came in while the batch was written
        return out

    archiver.writer.write_batch = write_then_settle  # type: ignore[union-attr,method-assign]
    report = archiver.run_once()
    assert report.statuses == {"expired": 1, "owed": 1}
    assert store.get(owed).state is S.SUCCEEDED  # not archived by that batch: still here
    # The next batch archives it, then expires it: in the archive exactly once, both ids.
    retry_at = _later(RETENTION_S + 1 + OWED_RETRY_S + 1)  # a kept id is looked at again later
    report = Archiver(redis=raw, settings=settings, clock=retry_at).run_once()
    assert report.statuses == {"expired": 1}
    rows = _archive_rows(storage_client, bucket)
    assert Counter(r["submission_id"] for _, r in rows) == Counter([owed, done])


def test_one_archiver_at_a_time_and_nothing_before_the_window(
    store: JobStore, raw: redis.Redis, settings: Settings
) -> None:
    sid = run_to_success(store, raw, 1)
    assert Archiver(redis=raw, settings=settings).run_once().expired == 0  # not due yet
    first = Archiver(redis=raw, settings=settings, clock=_later())
    assert first.lease.acquire_or_renew()[0]
    assert Archiver(redis=raw, settings=settings, clock=_later()).run_once().busy
    first.lease.release()
    assert Archiver(redis=raw, settings=settings, clock=_later()).run_once().expired == 1
    with pytest.raises(NotFoundError):
        store.get(sid)


def test_idempotency_keys_hold_for_the_retention_window_then_bind_anew(
    store: JobStore, raw: redis.Redis, settings: Settings
) -> None:
    sid = run_to_success(store, raw, 1)
    again, created = store.create(new(1))
    assert (again.id, created) == (sid, False)  # within the window: the same submission
    Archiver(redis=raw, settings=settings, clock=_later()).run_once()
    fresh, created = store.create(new(1))
    assert created and fresh.id == sid and fresh.state is S.ACCEPTED


def test_the_writer_replaces_a_batch_it_wrote_before(
    settings: Settings, storage_client: Any, bucket: str
) -> None:
    writer = ArchiveWriter(settings.archive_prefix)
    row = {"submission_id": "a" * 32, "tenant": "t1"}
    first = writer.write_batch("b1", [("2026-01-02", row)])
    second = writer.write_batch("b1", [("2026-01-02", row)])
    assert first == second
    assert len(_archive_rows(storage_client, bucket)) == 1


def test_backfill_adds_finished_submissions_stored_before_retention(
    store: JobStore, raw: redis.Redis
) -> None:
    from vbq.store.expiry import backfill_finished

    done = [run_to_success(store, raw, i) for i in range(3)]
    store.create(new(9))  # unfinished: never in the work list
    raw.delete(FINISHED_KEY)
    assert backfill_finished(raw, batch=2) == 3
    assert backfill_finished(raw, batch=2) == 0
    assert set(raw.zrange(FINISHED_KEY, 0, -1)) == set(done)
    assert raw.zscore(FINISHED_KEY, done[0]) == pytest.approx(store.get(done[0]).finished_at)


def test_retention_status_says_whether_expiry_keeps_up(
    store: JobStore, raw: redis.Redis, settings: Settings
) -> None:
    from vbq.archive.status import retention_status

    sid = run_to_success(store, raw, 1)
    now = time.time()
    ok = retention_status(raw, settings, now_s=now)
    assert (ok.level, ok.in_window, ok.due) == ("OK", 1, 0)
    assert "kept 0.0416667 days" in ok.text and settings.archive_prefix in ok.text
    late = retention_status(raw, settings, now_s=now + RETENTION_S + 2 * 3600)
    assert late.level == "WARN" and late.due == 1 and "BEHIND by 2.0 h" in late.text
    bare = retention_status(raw, settings.replace(archive_prefix=""), now_s=now)
    assert bare.level == "OK" and "not archived" in bare.text
    assert retention_status(raw, settings.replace(retention_s=0)).level == "WARN"
    Archiver(redis=raw, settings=settings, clock=_later()).run_once()
    assert retention_status(raw, settings, now_s=now + RETENTION_S + 2 * 3600).due == 0
    assert sid not in raw.zrange(FINISHED_KEY, 0, -1)


def test_an_archive_this_process_may_not_read_is_reported_as_such(
    store: JobStore, raw: redis.Redis, settings: Settings
) -> None:
    from google.api_core.exceptions import Forbidden

    from vbq.archive import ArchiveLookup

    class _NoAccess:
        def bucket(self, name: str) -> Any:
            return self

        def blob(self, name: str) -> Any:
            return self

        def download_as_bytes(self, **kwargs: Any) -> bytes:
            raise Forbidden("no storage.objects.get")

    sid = run_to_success(store, raw, 1)
    Archiver(redis=raw, settings=settings, clock=_later()).run_once()
    lookup = ArchiveLookup(redis=raw, settings=settings, storage_client=_NoAccess())
    with pytest.raises(SubmissionExpiredError, match="cannot be read here: Forbidden"):
        lookup.find(sid)
    assert ArchiveLookup(redis=raw, settings=settings).find(sid).id == sid
