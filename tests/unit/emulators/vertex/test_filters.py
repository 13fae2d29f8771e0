"""The list filter grammar of the Vertex emulator."""

from __future__ import annotations

import pytest
from vbq_emulators.errors import EmulatorConfigError
from vbq_emulators.vertex.filters import JobView, parse_filter, parse_rfc3339

T0 = parse_rfc3339("2024-01-01T00:00:00Z")

JOBS = {
    "a": JobView(
        display_name="nightly-run-1",
        model_display_name="gemini-2.0-flash",
        state="JOB_STATE_SUCCEEDED",
        create_time_s=T0,
        labels={"team": "x", "env": "prod"},
    ),
    "b": JobView(
        display_name="nightly-run-2",
        model_display_name="123",
        state="JOB_STATE_RUNNING",
        create_time_s=T0 + 3600,
        labels={"team": "y"},
    ),
    "c": JobView(
        display_name="adhoc",
        model_display_name="123",
        state="JOB_STATE_FAILED",
        create_time_s=T0 + 7200,
        labels={},
    ),
}


def matching(text: str) -> set[str]:
    predicate = parse_filter(text)
    return {key for key, job in JOBS.items() if predicate(job)}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", {"a", "b", "c"}),
        ('display_name="adhoc"', {"c"}),
        ("displayName=adhoc", {"c"}),
        ('display_name!="adhoc"', {"a", "b"}),
        ('display_name:"nightly-*"', {"a", "b"}),
        ('display_name:"*-2"', {"b"}),
        ('display_name:"nightly"', set()),
        ("model_display_name=123", {"b", "c"}),
        ('modelDisplayName:"gemini*"', {"a"}),
        ("state=JOB_STATE_SUCCEEDED", {"a"}),
        ('state="JOB_STATE_RUNNING"', {"b"}),
        ("state!=JOB_STATE_FAILED", {"a", "b"}),
        ("state=FAILED", {"c"}),
        ('create_time>"2024-01-01T00:30:00Z"', {"b", "c"}),
        ('createTime>="2024-01-01T01:00:00Z"', {"b", "c"}),
        ('create_time<"2024-01-01T01:00:00Z"', {"a"}),
        ('create_time<="2024-01-01T01:00:00+00:00"', {"a", "b"}),
        ('create_time="2024-01-01T02:00:00Z"', {"c"}),
        ('create_time!="2024-01-01T02:00:00Z"', {"a", "b"}),
        ("create_time>2024-01-01T00:30:00Z", {"b", "c"}),
        ('labels.team="x"', {"a"}),
        ("labels.team=y", {"b"}),
        ("labels.team:*", {"a", "b"}),
        ('labels."env":*', {"a"}),
        ('labels."team"="x"', {"a"}),
        ("labels.team!=x", {"b", "c"}),
        ("labels.team:x*", {"a"}),
        ('labels.team="x" OR labels.team="y"', {"a", "b"}),
        ('labels.team:* AND state!="JOB_STATE_RUNNING"', {"a"}),
        ("NOT labels.team:*", {"c"}),
        ("-labels.team:*", {"c"}),
        ('(labels.team="x" OR state=JOB_STATE_FAILED) AND display_name!=adhoc', {"a"}),
        ('NOT (labels.team="x" OR labels.team="y")', {"c"}),
        ("state=JOB_STATE_FAILED OR state=JOB_STATE_RUNNING AND labels.team=y", {"b", "c"}),
        ("  state = JOB_STATE_FAILED  ", {"c"}),
    ],
)
def test_filter_matches(text: str, expected: set[str]) -> None:
    assert matching(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "nonsense",
        'unknown_field="x"',
        "state<JOB_STATE_FAILED",
        "state=JOB_STATE_NOPE",
        'create_time>"yesterday"',
        'create_time>"2024-01-01T00:00:00"',
        'display_name>"a"',
        "(state=JOB_STATE_FAILED",
        "state=JOB_STATE_FAILED)",
        'labels="x"',
        'labels.a.b="x"',
        'display_name="unterminated',
        "state=",
        "AND state=JOB_STATE_FAILED",
        "state=JOB_STATE_FAILED AND",
        "labels.team<x",
    ],
)
def test_bad_filters_raise(text: str) -> None:
    with pytest.raises(EmulatorConfigError):
        parse_filter(text)


def test_keyword_prefix_is_a_field_name_not_a_keyword() -> None:
    # "ORacle" must not split into OR + acle.
    with pytest.raises(EmulatorConfigError, match="unknown filter field"):
        parse_filter("ORacle=1")


def test_escaped_quote_in_value() -> None:
    predicate = parse_filter(r'display_name="say \"hi\""')
    assert predicate(JobView(display_name='say "hi"'))
    assert not predicate(JobView(display_name="say hi"))
