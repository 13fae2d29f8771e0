"""Archive rows, object names and index values (pure logic)."""

from __future__ import annotations

import json

import pytest

from vbq.archive import ArchivedAt, IndexLayout, archive_row, bigquery_schema, part_path
from vbq.archive.layout import tenant_segment
from vbq.archive.rows import finished_date, record_from_row
from vbq.errors import StoreError
from vbq.spec import JobSpec
from vbq.states import FINISHED_SUBMISSION_STATES
from vbq.store.scripts import load_script


def _fields() -> dict[str, str]:
    spec = JobSpec.from_sdk_kwargs(
        job_display_name="j",
        model_name="publishers/google/models/gemini-2.0-flash-001",
        gcs_source="gs://bkt/in.jsonl",
        gcs_destination_prefix="gs://bkt/out",
        labels={"team": "x"},
    )
    return {
        "id": "ab" * 16,
        "state": "SUCCEEDED",
        "tenant": "t1",
        "spec": spec.to_json(),
        "labels": json.dumps({"team": "x"}),
        "metadata": json.dumps({"k": [1, 2]}),
        "job": json.dumps({"name": "projects/p/locations/l/batchPredictionJobs/1"}),
        "job_name": "projects/p/locations/l/batchPredictionJobs/1",
        "attempts": "1",
        "version": "4",
        "created_at": "1796400000.123456",
        "updated_at": "1796400100.5",
        "submitted_at": "1796400001.000001",
        "finished_at": "1796400100.5",
        "idempotency_key": "",
        "results": "",
        "project": "p",
        "location": "l",
        "model": "publishers/google/models/gemini-2.0-flash-001",
    }


def test_a_row_has_every_schema_column_and_round_trips_to_the_record() -> None:
    timeline = [
        "1796400000.123456|state||ACCEPTED|",
        "1796400100.5|state|RUNNING|SUCCEEDED|job.succeeded",
        "1796400101.0|handled|g1|SUCCEEDED|",
        "garbage",
    ]
    row = archive_row(_fields(), timeline, archived_at_s=1796900000.0)
    assert [c["name"] for c in bigquery_schema()] == list(row)
    assert row["finished_at"] == "2026-12-04T16:01:40.500000Z"
    assert [e["kind"] for e in row["events"]] == ["state", "state", "handled"]
    assert row["idempotency_key"] is None and row["results"] is None
    rec = record_from_row(json.loads(json.dumps(row)))
    assert rec.id == "ab" * 16 and rec.labels == {"team": "x"} and rec.metadata == {"k": [1, 2]}
    assert rec.finished_at == pytest.approx(1796400100.5, abs=1e-6)
    assert rec.submitted_at == pytest.approx(1796400001.000001, abs=1e-6)
    assert rec.version == 4 and rec.job_name == "projects/p/locations/l/batchPredictionJobs/1"
    assert finished_date(_fields()) == "2026-12-04"


def test_a_hash_without_id_or_state_is_refused() -> None:
    with pytest.raises(StoreError):
        archive_row({"id": "x"}, [], archived_at_s=0.0)
    with pytest.raises(StoreError):
        record_from_row({"tenant": "t"})


def test_object_names_escape_the_tenant_and_index_values_round_trip() -> None:
    assert tenant_segment("team-a.b_c") == "team-a.b_c"
    assert tenant_segment("a/b=c%é") == "a~2Fb~3Dc~25~C3~A9"
    assert part_path("2026-12-04", "a/b", "f00") == "dt=2026-12-04/tenant=a~2Fb/part-f00.jsonl"
    at = ArchivedAt(date="2026-12-04", tenant="a|b", batch="f00", offset=5, length=9)
    assert ArchivedAt.decode(at.encode()) == at
    assert at.path == "dt=2026-12-04/tenant=a~7Cb/part-f00.jsonl"
    assert ArchivedAt.decode("2026-12-04").path == ""


def test_index_buckets_live_retention_plus_ttl_after_their_day() -> None:
    layout = IndexLayout(retention_s=7 * 86400, index_ttl_s=30 * 86400)
    bucket = layout.bucket_of(1796400100.5)
    assert layout.expire_at_s(bucket) == (bucket + 1) * 86400 + 37 * 86400
    alive = layout.buckets_alive(1796400100.5 + 36 * 86400)
    assert bucket in alive and len(alive) <= 40
    assert bucket not in layout.buckets_alive(layout.expire_at_s(bucket) + 86400)


def test_expire_lua_knows_exactly_the_finished_states() -> None:
    script = load_script("expire.lua")
    line = next(x for x in script.splitlines() if "SUCCEEDED = true" in x)
    block = script[script.index(line) : script.index("}", script.index(line))]
    named = {w.strip().split(" ")[0] for w in block.replace("\n", ",").split(",") if "= true" in w}
    assert named == {s.value for s in FINISHED_SUBMISSION_STATES}
