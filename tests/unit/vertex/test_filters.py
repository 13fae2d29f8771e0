"""The core ``filter`` grammar (:mod:`vbq.vertex.filters`): tree, predicate, index hints."""

from __future__ import annotations

import pytest

from vbq.errors import FilterError
from vbq.vertex.filters import (
    Comparison,
    JobView,
    Junction,
    Negation,
    parse_expression,
    parse_filter,
    referenced_fields,
    required_terms,
)

JOB = JobView(
    display_name="my_job_1",
    model_display_name="gemini",
    state="JOB_STATE_SUCCEEDED",
    create_time_s=1_700_000_000.0,
    labels={"team": "x", "env": "prod"},
)


def test_tree_of_googles_documented_examples() -> None:
    node = parse_expression('state="JOB_STATE_SUCCEEDED" AND display_name:"my_job_*"')
    assert node == Junction(
        "AND",
        (
            Comparison(("state",), "=", "JOB_STATE_SUCCEEDED"),
            Comparison(("display_name",), ":", "my_job_*"),
        ),
    )
    assert parse_expression('NOT display_name="my_job"') == Negation(
        Comparison(("display_name",), "=", "my_job")
    )
    assert parse_expression("   ") is None


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ('state="JOB_STATE_SUCCEEDED" AND display_name:"my_job_*"', True),
        ('state!="JOB_STATE_FAILED" OR display_name="my_job"', True),
        ('NOT display_name="my_job"', True),
        ('-displayName="my_job_1"', False),
        ('create_time>"2023-01-01T00:00:00Z"', True),
        ("labels.team=x AND labels.env:*", True),
        ("labels.team:* AND NOT labels.missing:*", True),
        ("state=4", True),
        ("state=SUCCEEDED AND (labels.team=y OR labels.env=prod)", True),
        ('model_display_name="gemini"', True),
    ],
)
def test_predicates(text: str, matches: bool) -> None:
    assert parse_filter(text)(JOB) is matches


def test_required_terms_are_the_top_level_and_chain() -> None:
    node = parse_expression("labels.a=b AND state=RUNNING AND (labels.c=d OR labels.e=f)")
    assert [t.path for t in required_terms(node)] == [("labels", "a"), ("state",)]
    assert required_terms(parse_expression("labels.a=b OR labels.c=d")) == []
    assert required_terms(parse_expression("NOT labels.a=b")) == []
    assert referenced_fields(
        parse_expression('labels.a=b OR createTime<"2024-01-01T00:00:00Z"')
    ) == {
        "labels",
        "create_time",
    }


@pytest.mark.parametrize(
    "text",
    [
        "state<RUNNING",
        "nope=1",
        "state=NOPE",
        "labels.a.b=1",
        "create_time>yesterday",
        "(labels.a=b",
        "labels.a=",
        "display_name>x",
        "a=b c",
        "(" * 40 + "state=1" + ")" * 40,
        "x" * 5000,
    ],
)
def test_malformed_filters_raise_filter_error(text: str) -> None:
    with pytest.raises(FilterError):
        parse_filter(text)
