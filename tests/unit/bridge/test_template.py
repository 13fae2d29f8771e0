"""The safe template language: placeholders, filters, defaults, errors."""

from __future__ import annotations

import pytest

from vbq.errors import ConfigError, SpecError
from vbq.producers.bridge import ObjectEvent, Template, sanitize_label_value


def _ctx(name: str = "incoming/2024/05/Sales Report.v2.jsonl", **meta: str) -> dict[str, object]:
    event = ObjectEvent(
        event_type="OBJECT_FINALIZE",
        bucket="my-bucket",
        name=name,
        generation="1717",
        resource={"contentType": "application/jsonl", "size": "42", "metadata": meta},
    )
    return event.context(rule="r1")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("gs://{bucket}/{name}", "gs://my-bucket/incoming/2024/05/Sales Report.v2.jsonl"),
        (
            "{object.bucket}/{object.name}#{object.generation}",
            "my-bucket/incoming/2024/05/Sales Report.v2.jsonl#1717",
        ),
        ("{path[0]}|{path[1]}|{path[-1]}", "incoming|2024|Sales Report.v2.jsonl"),
        ("{basename}", "Sales Report.v2.jsonl"),
        ("{stem}.{ext}", "Sales Report.v2.jsonl"),
        ("{dirname}", "incoming/2024/05"),
        (
            "{object.content_type} {object.contentType} {object.size}",
            "application/jsonl application/jsonl 42",
        ),
        ("{metadata.team}", "Data Science"),
        ("{metadata.owner|default:nobody}", "nobody"),
        ("{metadata.team|label}", "data-science"),
        ("{metadata.team|lower}/{stem|upper}", "data science/SALES REPORT.V2"),
        ("{{literal}} {rule}", "{literal} r1"),
        ("no placeholders", "no placeholders"),
    ],
)
def test_render(text: str, expected: str) -> None:
    assert Template(text).render(_ctx(team="Data Science"), field="f") == expected


def test_extension_edge_cases() -> None:
    assert Template("{stem}|{ext}").render(_ctx("a/file"), field="f") == "file|"
    assert Template("{stem}|{ext}").render(_ctx("a/.hidden"), field="f") == ".hidden|"


@pytest.mark.parametrize(
    "text",
    [
        "{unknown}",
        "{path}",
        "{metadata}",
        "{basename.x}",
        "{name|shout}",
        "{open",
        "close}",
        "{__class__}",
        "{object.__dict__[0]}",
    ],
)
def test_bad_templates_fail_at_compile_time(text: str) -> None:
    with pytest.raises(ConfigError):
        Template(text, where="rules[0].job.x")


def test_missing_value_names_the_field() -> None:
    with pytest.raises(SpecError) as info:
        Template("{metadata.batch}").render(_ctx(), field="labels.batch")
    assert info.value.errors[0]["field"] == "labels.batch"
    assert info.value.errors[0]["rule"] == "template"
    with pytest.raises(SpecError):
        Template("{path[9]}").render(_ctx(), field="gcs_source")


def test_nothing_is_evaluated() -> None:
    # Attribute access and expressions are plain text to the template, never Python.
    # "name.__class__" is just a key the resource does not have.
    with pytest.raises(SpecError):
        Template("{object.name.__class__}").render(_ctx(), field="f")
    value = Template("{metadata.x}").render(_ctx(x="{name}"), field="f")
    assert value == "{name}"  # values are not templates themselves


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Team A/B.Report", "team-a-b-report"),
        ("ok_value-1", "ok_value-1"),
        ("ÄÖÜ straße", "äöü-straße"),
        ("x" * 80, "x" * 63),
        ("", ""),
        ("!!!", "-"),
    ],
)
def test_sanitize_label_value(raw: str, expected: str) -> None:
    out = sanitize_label_value(raw)
    assert out == expected
    assert len(out) <= 63
