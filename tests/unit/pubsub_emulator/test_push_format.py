"""The push request: Google's envelope, the unwrapped form and its metadata headers."""

from __future__ import annotations

import base64
import json

from google.pubsub_v1 import types
from vbq_emulators.pubsub.push_format import SUCCESS_CODES, build_push_request

SUB = "projects/p/subscriptions/s"


def received(*, data: bytes = b"hi", key: str = "", attempt: int = 3, **attrs: str) -> object:
    message = types.PubsubMessage.pb()(
        data=data, attributes=attrs, message_id="42", ordering_key=key
    )
    message.publish_time.FromJsonString("2021-02-26T19:13:55.749Z")
    return types.ReceivedMessage.pb()(ack_id="a", message=message, delivery_attempt=attempt)


def config(**fields: object) -> object:
    return types.PushConfig.pb()(push_endpoint="https://example.com/push", **fields)


def test_success_codes_are_googles() -> None:
    assert frozenset({102, 200, 201, 202, 204}) == SUCCESS_CODES


def test_wrapped_envelope() -> None:
    request = build_push_request(SUB, config(), received(key="k", color="red"), with_attempt=True)
    body = json.loads(request.body)
    assert body == {
        "message": {
            "attributes": {"color": "red"},
            "data": base64.b64encode(b"hi").decode(),
            "messageId": "42",
            "message_id": "42",
            "orderingKey": "k",
            "publishTime": "2021-02-26T19:13:55.749Z",
            "publish_time": "2021-02-26T19:13:55.749Z",
        },
        "subscription": SUB,
        "deliveryAttempt": 3,
    }
    assert request.headers["Content-Type"] == "application/json"
    assert request.url == "https://example.com/push"


def test_wrapped_envelope_leaves_out_what_is_empty() -> None:
    request = build_push_request(SUB, config(), received(data=b"", a="1"), with_attempt=False)
    body = json.loads(request.body)
    assert "deliveryAttempt" not in body
    assert "data" not in body["message"] and "orderingKey" not in body["message"]


def test_no_wrapper_with_metadata_and_token() -> None:
    push = config(no_wrapper={"write_metadata": True})
    request = build_push_request(
        SUB,
        push,
        received(key="k", **{"content-type": "text/plain", "bad key": "x", "uni": "\u2603"}),
        with_attempt=True,
        token="jwt",
    )
    assert request.body == b"hi"
    assert request.headers["x-goog-pubsub-subscription-name"] == SUB
    assert request.headers["x-goog-pubsub-message-id"] == "42"
    assert request.headers["x-goog-pubsub-publish-time"] == "2021-02-26T19:13:55.749Z"
    assert request.headers["x-goog-pubsub-ordering-key"] == "k"
    assert request.headers["content-type"] == "text/plain"
    assert "Content-Type" not in request.headers  # replaced by the attribute
    assert "bad key" not in request.headers and "uni" not in request.headers
    assert request.headers["Authorization"] == "Bearer jwt"


def test_no_wrapper_without_metadata() -> None:
    push = config(no_wrapper={"write_metadata": False})
    request = build_push_request(SUB, push, received(color="red"), with_attempt=True)
    assert request.body == b"hi"
    assert "color" not in request.headers
    assert not [h for h in request.headers if h.startswith("x-goog-")]
