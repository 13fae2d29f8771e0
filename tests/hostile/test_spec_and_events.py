"""Hostile job specs and event messages: only the documented error ever escapes.

``JobSpec.from_sdk_kwargs`` / ``from_dict`` / ``from_json`` / ``resolve``: ``SpecError`` (with a
field and a rule) or a valid spec; ``JobEvent.from_json``: ``EventError`` or a valid event.
No RecursionError, TypeError, KeyError, UnicodeError... whatever comes in.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hostile.strategies import JSONISH, SDK_KWARGS, VALID, nested
from vbq.errors import EventError, SpecError
from vbq.events import JobEvent
from vbq.spec import JobSpec

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _spec_or_spec_error(build: Any) -> JobSpec | None:
    try:
        spec = build()
    except SpecError as exc:
        assert exc.errors, "a SpecError must name at least one broken rule"
        for err in exc.errors:
            assert err["field"] and err["rule"] and err["message"], err
        return None
    assert isinstance(spec, JobSpec)
    return spec


def _resolve_or_spec_error(spec: JobSpec) -> None:
    try:
        req = spec.resolve(default_project="hostile-project", default_location="us-central1")
    except SpecError as exc:
        assert exc.errors
        return
    # What resolves is sendable: JSON without NaN/Infinity.
    json.dumps(req.body, allow_nan=False)


@FAST
@given(SDK_KWARGS)
def test_from_sdk_kwargs_raises_only_spec_error(kwargs: dict[str, Any]) -> None:
    spec = _spec_or_spec_error(lambda: JobSpec.from_sdk_kwargs(**kwargs))
    if spec is not None:
        _resolve_or_spec_error(spec)
        # The stored form comes back identical.
        assert JobSpec.from_dict(spec.to_dict()).fingerprint() == spec.fingerprint()


@FAST
@given(JSONISH)
def test_from_dict_and_from_json_raise_only_spec_error(data: Any) -> None:
    _spec_or_spec_error(lambda: JobSpec.from_dict(data))
    try:
        text = json.dumps(data)
    except (ValueError, TypeError):
        return
    _spec_or_spec_error(lambda: JobSpec.from_json(text))


@pytest.mark.parametrize("depth", [100, 1_000, 10_000, 100_000])
def test_deeply_nested_values_end_in_spec_error_not_recursion_error(depth: int) -> None:
    deep: Any = []
    for _ in range(depth):  # built iteratively: the test itself must not recurse
        deep = [deep]
    for field in ("model_parameters", "labels", "gcs_source", "explanation_metadata"):
        _spec_or_spec_error(lambda f=field: JobSpec.from_sdk_kwargs(**{**VALID, f: deep}))
    _spec_or_spec_error(lambda: JobSpec.from_dict({**VALID, "model_parameters": deep}))
    _spec_or_spec_error(lambda: JobSpec.from_json(nested(depth)))
    _spec_or_spec_error(lambda: JobSpec.from_json(nested(depth, kind="object")))


def test_huge_and_non_finite_values_are_refused_with_a_field() -> None:
    cases: list[dict[str, Any]] = [
        {"job_display_name": "x" * 1_000_000},
        {"labels": {f"k{i}": "v" for i in range(10_000)}},
        {"gcs_source": [f"gs://b/{i}" for i in range(100_000)]},
        {"model_parameters": {"temperature": math.nan}},
        {"model_parameters": {"temperature": math.inf}},
        {"accelerator_count": 10**30},
        {"create_request_timeout": -1.0},
        {"labels": {"vbq-submission": "f" * 32}},  # reserved: would forge our dedupe label
    ]
    for case in cases:
        with pytest.raises(SpecError) as err:
            JobSpec.from_sdk_kwargs(**{**VALID, **case})
        assert err.value.fields, case


# -- events ------------------------------------------------------------------------------------

_GOOD = json.loads(
    JobEvent.create(
        type="job.succeeded", submission_id="a" * 32, state="SUCCEEDED", previous_state="RUNNING"
    ).to_json()
)


def _event_or_event_error(data: bytes | str) -> None:
    try:
        event = JobEvent.from_json(data)
    except EventError as exc:
        assert str(exc)
        return
    assert isinstance(event, JobEvent)
    assert JobEvent.from_json(event.to_json()) == event


@FAST
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300)))
def test_event_from_arbitrary_bytes_raises_only_event_error(data: bytes | str) -> None:
    _event_or_event_error(data)


@FAST
@given(st.dictionaries(st.sampled_from(sorted(_GOOD)), JSONISH, max_size=4))
def test_event_with_hostile_fields_raises_only_event_error(changes: dict[str, Any]) -> None:
    try:
        text = json.dumps({**_GOOD, **changes})
    except (ValueError, TypeError):
        return
    _event_or_event_error(text)
    _event_or_event_error(text.encode())


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deep_or_huge_events_raise_event_error(depth: int) -> None:
    for data in (nested(depth), nested(depth, kind="object")):
        with pytest.raises(EventError):
            JobEvent.from_json(data)
    deep_job = '{"schema":"vbq.job-event/1","job":' + nested(depth, kind="object") + "}"
    with pytest.raises(EventError):
        JobEvent.from_json(deep_job)
    with pytest.raises(EventError):
        JobEvent.from_json(b"x" * (10 * 1024 * 1024))
    with pytest.raises(EventError):
        JobEvent.from_json(b"\xff\xfe{}")
