"""Outputs logic with fake storage and BigQuery clients (no service)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.actions.fakes import FakeBigQuery, FakeStorage
from vbq.errors import OutputsError
from vbq.events import JobEvent
from vbq.subscribers.actions import (
    iter_bigquery_rows,
    iter_gemini_rows,
    iter_output_files,
    iter_predictions,
    output_directory,
    readable_job,
)
from vbq.subscribers.actions.bigquery import bigquery_tables

DIR = "gs://bkt/out/prediction-m-2024"


def _job(state: Any = "JOB_STATE_SUCCEEDED", **info: str) -> dict[str, Any]:
    return {"name": "projects/p/locations/l/batchPredictionJobs/1", "state": state,
            "outputInfo": info or {"gcsOutputDirectory": DIR}}  # fmt: skip


@pytest.mark.parametrize("state", ["JOB_STATE_SUCCEEDED", "PARTIALLY_SUCCEEDED", 4, 11, "11"])
def test_readable_states(state: Any) -> None:
    assert readable_job(_job(state))["state"] == state


@pytest.mark.parametrize(
    "state", ["JOB_STATE_FAILED", "JOB_STATE_RUNNING", "JOB_STATE_CANCELLED", 9, None, "bogus"]
)
def test_other_states_are_refused_like_the_sdk(state: Any) -> None:
    with pytest.raises(OutputsError, match="only SUCCEEDED or PARTIALLY_SUCCEEDED"):
        readable_job(_job(state))
    with pytest.raises(ValueError):  # OutputsError is a ValueError too
        next(iter_predictions(_job(state), client=FakeStorage({})))


def test_event_without_job_is_refused() -> None:
    event = JobEvent.create(
        type="job.rejected", submission_id="a" * 32, state="REJECTED", previous_state=None
    )
    with pytest.raises(OutputsError, match="no Vertex job"):
        readable_job(event)


def test_output_directory_needs_gcs() -> None:
    assert output_directory(_job()) == DIR
    assert output_directory(_job(gcsOutputDirectory=DIR + "/")) == DIR
    with pytest.raises(OutputsError, match="no gcsOutputDirectory"):
        output_directory(_job(bigqueryOutputTable="predictions"))


def test_listing_uses_a_trailing_slash_and_classifies_files() -> None:
    storage = FakeStorage(
        {
            "bkt": {
                "out/prediction-m-2024/predictions_00002.jsonl": b'{"n": 2}\n',
                "out/prediction-m-2024/predictions_00001.jsonl": b'{"n": 1}\n',
                "out/prediction-m-2024/errors_00001.jsonl": b'{"error": {"code": 3}}\n',
                "out/prediction-m-2024/explanation_metadata.json": b"{}",
                "out/prediction-m-2024-other/predictions_00001.jsonl": b'{"n": 99}\n',
            }
        }
    )
    files = list(iter_output_files(_job(), client=storage))
    assert storage.listed == [("bkt", "out/prediction-m-2024/")]
    assert [(f.kind, f.format) for f in files] == [
        ("errors", "jsonl"),
        ("other", "json"),
        ("predictions", "jsonl"),
        ("predictions", "jsonl"),
    ]
    assert [r["n"] for r in iter_predictions(_job(), client=storage)] == [1, 2]
    rows = list(iter_predictions(_job(), client=storage, include_errors=True))
    assert rows[-1] == {"error": {"code": 3}}
    blob = files[2].blob
    assert blob.opened_with == [{"chunk_size": 4 * 1024 * 1024}] * 2  # once per pass


def test_unknown_format_is_refused() -> None:
    storage = FakeStorage({"bkt": {"out/prediction-m-2024/predictions_1.tfrecord": b"x"}})
    with pytest.raises(OutputsError, match="cannot parse format 'tfrecord'"):
        list(iter_predictions(_job(), client=storage))


def test_gemini_rows_wrap_each_row() -> None:
    row = b'{"status": "", "request": {}, "response": {"candidates": [{"content": {"parts": [{"text": "hi"}]}}]}}\n'  # noqa: E501
    storage = FakeStorage({"bkt": {"out/prediction-m-2024/predictions.jsonl": row}})
    assert [r.text for r in iter_gemini_rows(_job(), client=storage)] == ["hi"]


BQ_JOB = _job(bigqueryOutputDataset="bq://proj.ds_1", bigqueryOutputTable="predictions")


def test_bigquery_tables_and_row_mapping() -> None:
    assert bigquery_tables(BQ_JOB) == ["proj.ds_1.predictions"]
    assert bigquery_tables(BQ_JOB, include_errors=True)[1] == "proj.ds_1.errors"
    fake = FakeBigQuery(
        {
            "proj.ds_1.predictions": [{"instance": 1, "prediction": 2}],
            "proj.ds_1.errors": [{"instance": 3, "error": {"code": 3}}],
        }
    )
    rows = list(iter_predictions(BQ_JOB, bigquery_client=fake, include_errors=True))
    assert rows == [{"instance": 1, "prediction": 2}, {"instance": 3, "error": {"code": 3}}]
    assert fake.calls == [("proj.ds_1.predictions", 1000), ("proj.ds_1.errors", 1000)]


def test_bigquery_missing_errors_table_is_skipped_missing_predictions_is_not() -> None:
    fake = FakeBigQuery({"proj.ds_1.predictions": [{"a": 1}]})
    assert list(iter_bigquery_rows(BQ_JOB, client=fake, include_errors=True)) == [{"a": 1}]
    with pytest.raises(OutputsError, match=r"cannot read proj\.ds_1\.predictions"):
        list(iter_bigquery_rows(BQ_JOB, client=FakeBigQuery({})))


def test_bigquery_bad_dataset_is_refused() -> None:
    job = _job(bigqueryOutputDataset="bq://nodots", bigqueryOutputTable="predictions")
    with pytest.raises(OutputsError, match=r"project\.dataset"):
        list(iter_bigquery_rows(job, client=FakeBigQuery({})))


def test_refusal_happens_at_call_time_like_the_sdk() -> None:
    failed = _job("JOB_STATE_FAILED")
    with pytest.raises(OutputsError):
        iter_predictions(failed, client=FakeStorage({}))  # no next(): refused on the call
    with pytest.raises(OutputsError):
        iter_gemini_rows(failed, client=FakeStorage({}))
    with pytest.raises(OutputsError):
        iter_output_files(failed, client=FakeStorage({}))
    with pytest.raises(OutputsError, match="no BigQuery output"):
        iter_bigquery_rows(_job(), client=FakeBigQuery({}))
