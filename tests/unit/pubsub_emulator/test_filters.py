"""Subscription filter grammar: what matches, what is refused."""

from __future__ import annotations

import grpc
import pytest
from vbq_emulators.pubsub import StatusError, parse_filter

ATTRS = {"type": "job.succeeded", "tenant": "acme", "region-name": "eu"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", True),
        ('attributes.type = "job.succeeded"', True),
        ('attributes.type = "job.failed"', False),
        ('attributes.type != "job.failed"', True),
        ('attributes.missing != "x"', True),
        ('attributes.type != "job.succeeded"', False),
        ("attributes:tenant", True),
        ("attributes:missing", False),
        ("NOT attributes:missing", True),
        ("-attributes:tenant", False),
        ('hasPrefix(attributes.type, "job.")', True),
        ('hasPrefix(attributes.type, "task.")', False),
        ('hasPrefix(attributes.missing, "")', False),
        ('attributes:tenant AND attributes.tenant = "acme"', True),
        ('attributes:tenant AND attributes.tenant = "other"', False),
        ('attributes.tenant = "other" OR attributes.type = "job.succeeded"', True),
        ('attributes.tenant = "other" OR attributes.type = "x"', False),
        ('(attributes.tenant = "x" OR attributes:type) AND NOT attributes:missing', True),
        ("NOT (attributes:tenant AND attributes:type)", False),
        ('attributes.region-name = "eu"', True),
        ('attributes."region-name" = "eu"', True),
        ("attributes.tenant = 'acme'", True),
        ('attributes.type = "job\\x2esucceeded"', True),
    ],
)
def test_filter_matches(text: str, expected: bool) -> None:
    assert parse_filter(text).matches(ATTRS) is expected


@pytest.mark.parametrize(
    "text",
    [
        "attributes.type",
        "attributes.type = job",
        "attributes:type AND attributes:tenant OR attributes:x",
        "(attributes:type",
        "hasPrefix(attributes.type)",
        'data = "x"',
        "attributes:type AND",
        'attributes.type == "x"',
        "attributes:" + "k" * 300,
    ],
)
def test_invalid_filter_is_invalid_argument(text: str) -> None:
    with pytest.raises(StatusError) as info:
        parse_filter(text)
    assert info.value.code is grpc.StatusCode.INVALID_ARGUMENT
