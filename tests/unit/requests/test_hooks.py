"""Which finished events wait for results, and which submissions the splitter looks at."""

from __future__ import annotations

from typing import Any

import pytest

from vbq.settings import Settings
from vbq.spec import JobSpec
from vbq.states import SubmissionState as S
from vbq.store import SubmissionRecord
from vbq.workers.results_hook import wants_results
from vbq.workers.split_hook import SplitHook, splittable

GEMINI = "publishers/google/models/gemini-2.0-flash-001"
SETTINGS = Settings(project="proj-1", pack_prefix="gs://bkt/vbq")


def record(
    model: str = GEMINI, metadata: dict[str, Any] | None = None, **spec: Any
) -> SubmissionRecord:
    kwargs = {
        "job_display_name": "x",
        "model_name": model,
        "gcs_source": "gs://bkt/in.jsonl",
        "gcs_destination_prefix": "gs://bkt/out",
        **spec,
    }
    return SubmissionRecord(
        id="a" * 32,
        state=S.ACCEPTED,
        spec=JobSpec.from_sdk_kwargs(**kwargs),
        tenant="t",
        model=model,
        metadata=metadata or {},
    )


GCS_JOB = {"outputInfo": {"gcsOutputDirectory": "gs://bkt/out/prediction-model-x"}}


@pytest.mark.parametrize(
    ("rec", "job", "state", "expected"),
    [
        (record(), GCS_JOB, S.SUCCEEDED, True),
        (record(), GCS_JOB, S.PARTIALLY_SUCCEEDED, True),
        (record(), GCS_JOB, S.FAILED, False),
        (record(), {"outputInfo": {"bigqueryOutputTable": "t"}}, S.SUCCEEDED, False),
        (
            record(model="projects/proj-1/locations/us-central1/models/9"),
            GCS_JOB,
            S.SUCCEEDED,
            False,
        ),
        (record(metadata={"vbq_pack": {"pack_id": "p"}}), {}, S.FAILED, True),
        (record(metadata={"vbq_pack": {"pack_id": "p"}}), {}, S.CANCELLED, True),
    ],
)
def test_which_finished_events_wait_for_results(
    rec: SubmissionRecord, job: dict[str, Any], state: S, expected: bool
) -> None:
    assert wants_results(rec, job, state, SETTINGS) is expected


def test_token_accounting_off_leaves_only_packs() -> None:
    off = SETTINGS.replace(token_accounting=False)
    assert not wants_results(record(), GCS_JOB, S.SUCCEEDED, off)
    assert wants_results(record(metadata={"vbq_pack": {}}), GCS_JOB, S.SUCCEEDED, off)


def test_splittable_submissions() -> None:
    assert splittable(record(), SETTINGS)
    assert splittable(record(gcs_source="gs://bkt/in/*.jsonl"), SETTINGS)
    assert not splittable(record(), SETTINGS.replace(split_inputs=False))
    assert not splittable(record(), SETTINGS.replace(pack_prefix=""))
    assert not splittable(record(model="projects/proj-1/locations/us-central1/models/9"), SETTINGS)
    assert not splittable(record(instances_format="csv", gcs_source="gs://bkt/in.csv"), SETTINGS)
    assert not splittable(record(metadata={"vbq_pack": {}}), SETTINGS)
    assert not splittable(record(metadata={"vbq_split": {"parent": "x"}}), SETTINGS)


class FakeRedis:
    def __init__(self, value: bytes | None) -> None:
        self.value = value

    def get(self, key: str) -> bytes | None:
        return self.value


def test_the_hook_holds_until_the_splitter_decided() -> None:
    sent: list[str] = []
    hook = SplitHook(redis=FakeRedis(None), settings=SETTINGS, send_split=sent.append)  # type: ignore[arg-type]
    assert hook.hold(record()) == "measuring input" and sent == ["a" * 32]
    hook.redis = FakeRedis(b"split")  # type: ignore[assignment]
    assert hook.hold(record()) == "splitting"
    hook.redis = FakeRedis(b"whole")  # type: ignore[assignment]
    assert hook.hold(record()) is None
    assert hook.hold(record(model="projects/proj-1/locations/us-central1/models/9")) is None
    assert len(sent) == 2
