"""Pure logic of the store: ids, validation, record encoding, page tokens."""

from __future__ import annotations

import hashlib
import math

import pytest

from tests.unit.store.specs import make_spec
from vbq.errors import SpecError, StoreError
from vbq.states import SubmissionState
from vbq.store import NewSubmission, SubmissionRecord, submission_id_for
from vbq.store.paging import decode_token, encode_token
from vbq.store.records import decode_record, encode_updates, flat_pairs


def test_submission_id_from_key_is_deterministic_per_tenant() -> None:
    sid = submission_id_for("t", "k")
    assert sid == hashlib.sha256(b"t\0k").hexdigest()[:32]
    assert sid == submission_id_for("t", "k") != submission_id_for("u", "k")
    random_ids = {submission_id_for("t", None) for _ in range(100)}
    assert len(random_ids) == 100
    assert all(len(i) == 32 and i == i.lower() and int(i, 16) >= 0 for i in random_ids)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"tenant": ""}, "tenant"),
        ({"idempotency_key": ""}, "idempotency_key"),
        ({"idempotency_key": "x" * 257}, "idempotency_key"),
        ({"metadata": {"a": object()}}, "metadata"),
        ({"metadata": {"a": math.nan}}, "metadata"),
        ({"metadata": [1]}, "metadata"),
    ],
)
def test_new_submission_refuses_bad_input(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(SpecError) as info:
        NewSubmission(spec=make_spec(), **kwargs)  # type: ignore[arg-type]
    assert info.value.fields == [field]


def test_record_round_trips_through_the_hash() -> None:
    spec = make_spec(labels={"a": "b"})
    raw = {
        b"id": b"ab" * 16,
        b"state": b"RUNNING",
        b"spec": spec.to_json().encode(),
        b"tenant": b"t",
        b"labels": b'{"a":"b"}',
        b"metadata": b"",
        b"idempotency_key": b"",
        b"project": b"p",
        b"location": b"l",
        b"model": b"m",
        b"job_name": b"jobs/1",
        b"job": b'{"name":"jobs/1"}',
        b"attempts": b"2",
        b"last_error": b"",
        b"created_at": b"1700000000.000001",
        b"updated_at": b"1700000001.5",
        b"submitted_at": b"1700000001.25",
        b"finished_at": b"",
        b"version": b"4",
    }
    rec = decode_record(raw)
    assert rec == SubmissionRecord(
        id="ab" * 16,
        state=SubmissionState.RUNNING,
        spec=spec,
        tenant="t",
        labels={"a": "b"},
        project="p",
        location="l",
        model="m",
        job_name="jobs/1",
        job={"name": "jobs/1"},
        attempts=2,
        created_at=1700000000.000001,
        updated_at=1700000001.5,
        submitted_at=1700000001.25,
        version=4,
    )
    d = rec.to_dict()
    assert d["state"] == "RUNNING" and d["spec"] == spec.to_dict() and d["finished_at"] is None
    with pytest.raises(StoreError):
        decode_record({b"id": b"x"})


def test_flat_pairs() -> None:
    assert flat_pairs([b"a", b"1", "b", "2"]) == {"a": "1", "b": "2"}


def test_encode_updates() -> None:
    assert encode_updates(
        {"job": {"x": [1]}, "last_error": None, "job_name": "n", "submitted_at": 5.0}
    ) == {"job": '{"x":[1]}', "last_error": "", "job_name": "n"}
    with pytest.raises(StoreError):
        encode_updates({"state": "RUNNING"})
    with pytest.raises(StoreError):
        encode_updates({"job": {"x": math.inf}})


def test_page_token_round_trip_and_rejects_garbage() -> None:
    cursor = (1700000000.123456, "ab" * 16)
    token = encode_token(cursor)
    assert decode_token(token) == cursor
    assert "=" not in token
    for bad in ["", "x", encode_token(cursor)[:-3], "bm90IGpzb24"]:
        with pytest.raises(StoreError):
            decode_token(bad)
