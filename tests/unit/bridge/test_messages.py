"""Request messages and Cloud Storage notifications: parse, build, keys."""

from __future__ import annotations

import json

import pytest

from vbq.errors import SpecError
from vbq.producers.bridge import (
    build_notification,
    is_storage_notification,
    message_idempotency_key,
    object_resource,
    parse_notification,
    parse_request,
)
from vbq.producers.bridge.requests import MAX_KEY_CHARS

TOPIC = "projects/p1/topics/requests"


def test_request_defaults_to_the_message_key() -> None:
    req = parse_request(
        b'{"model_name": "m", "metadata": {"a": 1}}', message_id="42", topic_path=TOPIC
    )
    assert req.idempotency_key == "pubsub:p1/requests#42"
    assert req.tenant == "default"
    assert req.as_item() == {
        "model_name": "m",
        "metadata": {"a": 1},
        "idempotency_key": "pubsub:p1/requests#42",
        "tenant": "default",
    }


def test_message_ids_are_scoped_by_topic() -> None:
    a = message_idempotency_key("projects/p/topics/a", "1")
    b = message_idempotency_key("projects/p/topics/b", "1")
    assert a != b
    long = message_idempotency_key("projects/p/topics/" + "t" * 300, "123")
    assert len(long) <= MAX_KEY_CHARS and long.endswith("#123")


def test_request_options() -> None:
    req = parse_request(
        json.dumps({"model_name": "m", "idempotency_key": "k1", "tenant": "acme"}).encode(),
        message_id="1",
        topic_path=TOPIC,
        default_tenant="other",
    )
    assert (req.idempotency_key, req.tenant) == ("k1", "acme")
    assert "tenant" not in req.sdk_kwargs and "idempotency_key" not in req.sdk_kwargs


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (b"\xff\xfe", "data"),
        (b"{not json", "data"),
        (b'"a string"', "data"),
        (b'{"idempotency_key": 5}', "idempotency_key"),
        (b'{"tenant": 5}', "tenant"),
        (b'{"metadata": [1]}', "metadata"),
    ],
)
def test_bad_requests(data: bytes, field: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_request(data, message_id="1", topic_path=TOPIC)
    assert info.value.fields[0] == field


def test_fixed_tenant_refuses_message_tenants() -> None:
    with pytest.raises(SpecError) as info:
        parse_request(
            b'{"tenant": "x"}', message_id="1", topic_path=TOPIC, allow_message_tenant=False
        )
    assert info.value.errors[0]["rule"] == "forbidden"


def test_notification_round_trip() -> None:
    resource = object_resource(
        bucket="b", name="in/a.jsonl", generation=1717, size=3, metadata={"team": "x"}
    )
    data, attrs = build_notification(resource, overwrote_generation="1716")
    assert is_storage_notification(attrs)
    assert attrs["eventType"] == "OBJECT_FINALIZE"
    assert attrs["payloadFormat"] == "JSON_API_V1"
    assert (attrs["bucketId"], attrs["objectId"], attrs["objectGeneration"]) == (
        "b",
        "in/a.jsonl",
        "1717",
    )
    assert attrs["overwroteGeneration"] == "1716"
    assert attrs["notificationConfig"] == "projects/_/buckets/b/notificationConfigs/1"
    assert json.loads(data)["kind"] == "storage#object"
    event = parse_notification(data, attrs)
    assert (event.bucket, event.name, event.generation) == ("b", "in/a.jsonl", "1717")
    assert event.metadata == {"team": "x"}
    assert event.event_time == attrs["eventTime"]


def test_payload_none_uses_the_attributes() -> None:
    attrs = {
        "eventType": "OBJECT_DELETE",
        "bucketId": "b",
        "objectId": "o",
        "objectGeneration": "3",
        "payloadFormat": "NONE",
    }
    event = parse_notification(b"", attrs)
    assert (event.event_type, event.name, event.resource) == ("OBJECT_DELETE", "o", {})


@pytest.mark.parametrize(
    ("data", "attrs", "field"),
    [
        (
            b"{}",
            {"eventType": "OBJECT_FINALIZE", "bucketId": "b", "objectId": "o"},
            "objectGeneration",
        ),
        (
            b"{}",
            {
                "eventType": "OBJECT_FINALIZE",
                "bucketId": "b",
                "objectId": "o",
                "objectGeneration": "x1",
            },
            "objectGeneration",
        ),
        (
            b"nope",
            {
                "eventType": "OBJECT_FINALIZE",
                "bucketId": "b",
                "objectId": "o",
                "objectGeneration": "1",
            },
            "data",
        ),
        (
            b"[]",
            {
                "eventType": "OBJECT_FINALIZE",
                "bucketId": "b",
                "objectId": "o",
                "objectGeneration": "1",
            },
            "data",
        ),
        (
            b"{}",
            {
                "eventType": "OBJECT_FINALIZE",
                "bucketId": "b",
                "objectId": "o",
                "objectGeneration": "1",
                "payloadFormat": "XML",
            },
            "payloadFormat",
        ),
    ],
)
def test_bad_notifications(data: bytes, attrs: dict[str, str], field: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_notification(data, attrs)
    assert info.value.fields[0] == field


def test_requests_are_not_notifications() -> None:
    assert not is_storage_notification({})
    assert not is_storage_notification({"eventType": "x"})


def test_build_refuses_unknown_event_types() -> None:
    with pytest.raises(SpecError):
        build_notification(
            object_resource(bucket="b", name="o", generation=1), event_type="OBJECT_EXPLODE"
        )
    with pytest.raises(SpecError):
        build_notification({"bucket": "b", "name": "o"})
