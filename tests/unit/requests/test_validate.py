"""Request checks: Google's GenerateContentRequest, vbq's rules, model names, descriptors."""

from __future__ import annotations

from typing import Any

import pytest

from vbq.errors import SpecError
from vbq.requests import check_request, normalize_model

GOOD = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


def fields(exc: pytest.ExceptionInfo[SpecError]) -> list[str]:
    return [e["field"] for e in exc.value.errors]


def test_a_valid_request_comes_back_unchanged_in_either_naming() -> None:
    camel = {**GOOD, "generationConfig": {"temperature": 0.2, "maxOutputTokens": 64}}
    snake = {
        **GOOD,
        "generation_config": {"temperature": 0.2},
        "system_instruction": GOOD["contents"][0],
    }
    assert check_request(camel) == camel
    assert check_request(snake) == snake
    labelled = {**GOOD, "labels": {"team": "search"}}
    assert check_request(labelled)["labels"] == {"team": "search"}


@pytest.mark.parametrize(
    ("request_", "field", "rule"),
    [
        ("not an object", "request", "type"),
        ({"contents": []}, "request.contents", "required"),
        ({}, "request.contents", "required"),
        ({"contents": [{"role": "user", "parts": []}]}, "request.contents[0].parts", "required"),
        ({"contentz": 1}, "request.contentz", "schema"),
        ({"contents": [{"parts": [{"txt": "x"}]}]}, "request.contents[0].parts[0].txt", "schema"),
        (
            {**GOOD, "generationConfig": {"temperature": "hot"}},
            "request.generationConfig.temperature",
            "schema",
        ),
        ({**GOOD, "labels": {"vbq-request": "x"}}, "request.labels.vbq-request", "reserved"),
        ({**GOOD, "labels": {"Team": "x"}}, "request.labels.Team", "label"),
        ({**GOOD, "model": "gemini-2.0-flash-001"}, "request.model", "forbidden"),
        ({"contents": [{"parts": [{"text": float("nan")}]}]}, "request", "schema"),
    ],
)
def test_bad_requests_name_the_field_and_rule(request_: Any, field: str, rule: str) -> None:
    with pytest.raises(SpecError) as exc:
        check_request(request_)
    found = [(e["field"], e["rule"]) for e in exc.value.errors]
    assert (field, rule) in found, found


def test_too_many_labels_leave_no_room_for_the_routing_labels() -> None:
    labels = {f"k{i}": "v" for i in range(63)}
    with pytest.raises(SpecError) as exc:
        check_request({**GOOD, "labels": labels})
    assert "request.labels" in fields(exc)


@pytest.mark.parametrize(
    ("given", "resource"),
    [
        ("gemini-2.0-flash-001", "publishers/google/models/gemini-2.0-flash-001"),
        ("publishers/google/models/gemini-2.5-pro", "publishers/google/models/gemini-2.5-pro"),
        (
            "projects/p-1/locations/europe-west4/publishers/google/models/gemini-2.5-flash",
            "projects/p-1/locations/europe-west4/publishers/google/models/gemini-2.5-flash",
        ),
        (
            "projects/p-1/locations/us-central1/models/1234",
            "projects/p-1/locations/us-central1/models/1234",
        ),
    ],
)
def test_gemini_and_tuned_models_are_accepted(given: str, resource: str) -> None:
    assert normalize_model(given) == resource


@pytest.mark.parametrize(
    "model",
    ["text-bison", "publishers/anthropic/models/claude-3", "", None, "gemini 2", "models/9"],
)
def test_other_models_are_refused(model: Any) -> None:
    with pytest.raises(SpecError) as exc:
        normalize_model(model)
    assert fields(exc) == ["model"]


def test_the_allow_list_narrows_the_models() -> None:
    allowed = ("gemini-2.0-flash-001",)
    assert normalize_model("publishers/google/models/gemini-2.0-flash-001", allowed=allowed)
    with pytest.raises(SpecError) as exc:
        normalize_model("gemini-2.5-pro", allowed=allowed)
    assert exc.value.errors[0]["rule"] == "not_allowed"


def test_a_known_shape_skips_the_parse_but_not_the_verdict() -> None:
    from vbq.requests import validate

    first = {
        "contents": [{"role": "user", "parts": [{"text": "first"}]}],
        "generationConfig": {"candidateCount": 1},
    }
    assert check_request(first) == first
    same_shape = {
        "contents": [{"role": "user", "parts": [{"text": "other words"}]}],
        "generationConfig": {"candidateCount": 1},
    }
    assert validate._shape(same_shape) == validate._shape(first)
    assert check_request(same_shape) == same_shape
    # Values the parser checks are part of the shape: a bad one is still refused.
    for bad in (
        {
            "contents": [{"role": "user", "parts": [{"text": "x"}]}],
            "generationConfig": {"candidateCount": 2**40},
        },
        {**first, "safetySettings": [{"category": "NO_SUCH_CATEGORY", "threshold": "BLOCK_NONE"}]},
        {
            "contents": [{"role": "user", "parts": [{"text": "x"}]}],
            "generationConfig": {"candidateCount": 1.5},
        },
    ):
        with pytest.raises(SpecError):
            check_request(bad)
    labelled = {**first, "labels": {"vbq-x": "y"}}
    check_request({**first, "labels": {"ok": "y"}})
    with pytest.raises(SpecError):
        check_request(labelled)


def test_the_builder_refuses_what_json_cannot_carry() -> None:
    from vbq.producers.requests.builder import RequestBuilder
    from vbq.settings import Settings

    builder = RequestBuilder(Settings(project="p-1", pack_prefix="gs://b-1/x"))
    bad = {
        "contents": [{"parts": [{"text": "x"}]}],
        "generationConfig": {"temperature": float("nan")},
    }
    with pytest.raises(SpecError) as exc:
        builder.build(model="gemini-2.0-flash-001", request=bad, tenant="t")
    assert fields(exc) == ["request.generationConfig.temperature"]
    new = builder.build(model="gemini-2.0-flash-001", request=GOOD, tenant="t", idempotency_key="k")
    assert (
        new.project == "p-1"
        and new.request_id
        == builder.build(
            model="gemini-2.0-flash-001", request=GOOD, tenant="t", idempotency_key="k"
        ).request_id
    )
    assert b'"vbq-request":"' + new.request_id.encode() + b'"' in new.line
