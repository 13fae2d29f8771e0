"""Push delivery to a real local HTTP receiver, configured with Google's own clients."""

from __future__ import annotations

import base64
import itertools
import json
import re
from collections import defaultdict
from collections.abc import Iterator

import pytest
from google.auth.transport import requests as google_requests
from google.cloud import pubsub_v1
from google.oauth2 import id_token

from tests.integration.pubsub_emulator.helpers import names, publisher, wait_until
from tests.integration.pubsub_emulator.receiver import PushReceiver, Received
from tests.support.pubsub import PubSubEmulator

pytestmark = pytest.mark.integration

RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


@pytest.fixture
def receiver() -> Iterator[PushReceiver]:
    server = PushReceiver()
    yield server
    server.close()


def _envelope(request: Received) -> dict[str, object]:
    body: dict[str, object] = json.loads(request.body)
    return body


def _push_sub(
    subscriber: pubsub_v1.SubscriberClient, sub: str, topic: str, endpoint: str, **extra: object
) -> None:
    subscriber.create_subscription(
        request={"name": sub, "topic": topic, "push_config": {"push_endpoint": endpoint}, **extra}
    )


def test_pushed_message_arrives_in_googles_envelope_and_is_acked(
    shared_pubsub_host: str, receiver: PushReceiver
) -> None:
    topic, sub = names("push")
    pub, subscriber = publisher(), pubsub_v1.SubscriberClient()
    pub.create_topic(name=topic)
    _push_sub(subscriber, sub, topic, receiver.url + "/push?token=abc")
    assert subscriber.get_subscription(subscription=sub).push_config.attributes == {
        "x-goog-version": "v1"
    }
    message_id = pub.publish(topic, b"hello push", color="red").result(timeout=10)

    assert receiver.wait_for(lambda rs: len(rs) >= 1, timeout_s=15)
    (request,) = receiver.snapshot()
    assert request.path == "/push?token=abc"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == "CloudPubSub-Google"
    assert "authorization" not in request.headers
    body = _envelope(request)
    assert body["subscription"] == sub
    assert "deliveryAttempt" not in body  # no dead-letter policy
    message = body["message"]
    assert isinstance(message, dict)
    assert base64.b64decode(message["data"]) == b"hello push"
    assert message["attributes"] == {"color": "red"}
    assert message["messageId"] == message["message_id"] == message_id
    assert message["publishTime"] == message["publish_time"]
    assert RFC3339.fullmatch(str(message["publishTime"]))
    assert "orderingKey" not in message
    # A 204 acknowledged it: nothing left to pull, nothing pushed again.
    response = subscriber.pull(
        request={"subscription": sub, "max_messages": 5, "return_immediately": True}, timeout=10
    )
    assert list(response.received_messages) == []
    assert not receiver.wait_for(lambda rs: len(rs) > 1, timeout_s=1.5)


def test_success_codes_ack_and_other_answers_are_retried(
    shared_pubsub_host: str, receiver: PushReceiver
) -> None:
    codes = [102, 200, 201, 202, 204, 203, 400, 404, 429, 503]
    seen: dict[str, int] = defaultdict(int)

    def answer(request: Received) -> int:
        message = _envelope(request)["message"]
        assert isinstance(message, dict)
        seen[message["messageId"]] += 1
        code = int(message["attributes"]["code"])
        return code if seen[message["messageId"]] == 1 else 204

    receiver.answer = answer
    topic, sub = names("codes")
    pub, subscriber = publisher(), pubsub_v1.SubscriberClient()
    pub.create_topic(name=topic)
    _push_sub(subscriber, sub, topic, receiver.url)
    ids = {code: pub.publish(topic, b"x", code=str(code)).result(timeout=10) for code in codes}
    acked_at_once = {ids[c] for c in codes[:5]}
    retried = {ids[c] for c in codes[5:]}

    assert receiver.wait_for(lambda rs: len(rs) >= 15, timeout_s=30), dict(seen)
    assert not receiver.wait_for(lambda rs: len(rs) > 15, timeout_s=1.0)
    assert {mid: seen[mid] for mid in acked_at_once} == dict.fromkeys(acked_at_once, 1)
    assert {mid: seen[mid] for mid in retried} == dict.fromkeys(retried, 2)


def test_failures_are_retried_with_growing_attempts_then_dead_lettered(
    shared_pubsub_host: str, receiver: PushReceiver
) -> None:
    receiver.answer = lambda request: 500
    topic, sub = names("pushdl")
    dead_topic, dead_sub = names("pushdead")
    pub, subscriber = publisher(), pubsub_v1.SubscriberClient()
    pub.create_topic(name=topic)
    pub.create_topic(name=dead_topic)
    subscriber.create_subscription(request={"name": dead_sub, "topic": dead_topic})
    _push_sub(
        subscriber,
        sub,
        topic,
        receiver.url,
        dead_letter_policy={"dead_letter_topic": dead_topic, "max_delivery_attempts": 5},
    )
    message_id = pub.publish(topic, b"poison", reason="test").result(timeout=10)

    dead: list[object] = []

    def arrived() -> bool:
        response = subscriber.pull(
            request={"subscription": dead_sub, "max_messages": 10, "return_immediately": True},
            timeout=10,
        )
        dead.extend(response.received_messages)
        return bool(dead)

    assert wait_until(arrived, timeout_s=30, interval_s=0.2)
    requests = receiver.snapshot()
    attempts = [_envelope(r)["deliveryAttempt"] for r in requests]
    assert attempts == [1, 2, 3, 4, 5]
    assert {_envelope(r)["message"]["messageId"] for r in requests} == {message_id}  # type: ignore[index]
    # Push backoff: 100 ms doubling after each failure (generous bounds for a loaded machine).
    gaps = [b.at - a.at for a, b in itertools.pairwise(requests)]
    assert gaps[-1] >= 0.7, gaps
    assert sum(gaps) >= 1.3, gaps
    (forwarded,) = dead
    attrs = dict(forwarded.message.attributes)  # type: ignore[attr-defined]
    assert attrs["reason"] == "test"
    assert attrs["CloudPubSubDeadLetterSourceDeliveryCount"] == "5"
    assert not receiver.wait_for(lambda rs: len(rs) > 5, timeout_s=1.0)


def test_ordering_keys_hold_through_failed_pushes(
    shared_pubsub_host: str, receiver: PushReceiver
) -> None:
    failed_once: set[str] = set()

    def answer(request: Received) -> int:
        message = _envelope(request)["message"]
        assert isinstance(message, dict)
        index = int(base64.b64decode(message["data"]).split(b":")[1])
        if index % 3 == 1 and message["messageId"] not in failed_once:
            failed_once.add(message["messageId"])
            return 503
        return 200

    receiver.answer = answer
    topic, sub = names("pushord")
    pub, subscriber = publisher(ordering=True), pubsub_v1.SubscriberClient()
    pub.create_topic(name=topic)
    _push_sub(subscriber, sub, topic, receiver.url, enable_message_ordering=True)
    keys = ["a", "b", "c"]
    futures = [
        pub.publish(topic, f"{key}:{i}".encode(), ordering_key=key)
        for i in range(8)
        for key in keys
    ]
    for future in futures:
        future.result(timeout=10)

    def acked_all(requests: list[Received]) -> bool:
        return len(requests) >= 24 + len([i for i in range(8) if i % 3 == 1]) * 3

    assert receiver.wait_for(acked_all, timeout_s=40), len(receiver.snapshot())
    by_key: dict[str, list[int]] = defaultdict(list)
    for request in receiver.snapshot():
        message = _envelope(request)["message"]
        assert isinstance(message, dict)
        key, index = base64.b64decode(message["data"]).decode().split(":")
        assert message["orderingKey"] == key
        by_key[key].append(int(index))
    for key in keys:
        # Never a later message while an earlier one is unacknowledged: the log only repeats.
        assert by_key[key] == sorted(by_key[key]), (key, by_key[key])
        assert sorted(set(by_key[key])) == list(range(8))


def test_no_wrapper_sends_raw_data_and_metadata_headers(
    shared_pubsub_host: str, receiver: PushReceiver
) -> None:
    topic, sub = names("nowrap")
    plain_sub = sub + "-plain"
    pub, subscriber = publisher(ordering=True), pubsub_v1.SubscriberClient()
    pub.create_topic(name=topic)
    no_wrapper = {"push_endpoint": receiver.url + "/meta", "no_wrapper": {"write_metadata": True}}
    subscriber.create_subscription(request={"name": sub, "topic": topic, "push_config": no_wrapper})
    bare = {"push_endpoint": receiver.url + "/bare", "no_wrapper": {"write_metadata": False}}
    subscriber.create_subscription(request={"name": plain_sub, "topic": topic, "push_config": bare})
    body = b'{"status": "Hello there"}'
    message_id = pub.publish(
        topic, body, ordering_key="some-key", **{"Content-Type": "application/json", "k": "v"}
    ).result(timeout=10)

    assert receiver.wait_for(lambda rs: len(rs) >= 2, timeout_s=15)
    by_path = {r.path: r for r in receiver.snapshot()}
    meta, plain = by_path["/meta"], by_path["/bare"]
    assert meta.body == plain.body == body
    assert meta.headers["x-goog-pubsub-subscription-name"] == sub
    assert meta.headers["x-goog-pubsub-message-id"] == message_id
    assert RFC3339.fullmatch(meta.headers["x-goog-pubsub-publish-time"])
    assert meta.headers["x-goog-pubsub-ordering-key"] == "some-key"
    assert meta.headers["content-type"] == "application/json"
    assert meta.headers["k"] == "v"
    assert not any(h.startswith("x-goog-pubsub-") for h in plain.headers)
    assert "k" not in plain.headers


def test_oidc_token_verifies_against_the_emulators_certs(
    shared_pubsub_host: str, pubsub_emulator_session: PubSubEmulator, receiver: PushReceiver
) -> None:
    topic, sub = names("oidc")
    pub, subscriber = publisher(), pubsub_v1.SubscriberClient()
    pub.create_topic(name=topic)
    email = "push-invoker@vbq-test.iam.gserviceaccount.com"
    push_config = {
        "push_endpoint": receiver.url + "/auth",
        "oidc_token": {"service_account_email": email, "audience": "https://events.example"},
    }
    subscriber.create_subscription(
        request={"name": sub, "topic": topic, "push_config": push_config}
    )
    default_aud = sub + "-default-aud"
    push_config = {
        "push_endpoint": receiver.url + "/default",
        "oidc_token": {"service_account_email": email},
    }
    subscriber.create_subscription(
        request={"name": default_aud, "topic": topic, "push_config": push_config}
    )
    pub.publish(topic, b"signed").result(timeout=10)

    assert receiver.wait_for(lambda rs: len(rs) >= 2, timeout_s=15)
    certs_url = f"http://127.0.0.1:{pubsub_emulator_session.admin_port}/_emulator/oauth2/v1/certs"
    request = google_requests.Request()
    by_path = {r.path: r for r in receiver.snapshot()}
    scheme, token = by_path["/auth"].headers["authorization"].split(" ", 1)
    assert scheme == "Bearer"
    claims = id_token.verify_token(
        token, request, audience="https://events.example", certs_url=certs_url
    )
    assert claims["iss"] == "https://accounts.google.com"
    assert claims["email"] == email
    assert claims["email_verified"] is True
    assert claims["exp"] - claims["iat"] == 3600
    token = by_path["/default"].headers["authorization"].split(" ", 1)[1]
    claims = id_token.verify_token(
        token, request, audience=receiver.url + "/default", certs_url=certs_url
    )
    assert claims["aud"] == receiver.url + "/default"
    with pytest.raises(ValueError, match="audience"):
        id_token.verify_token(token, request, audience="https://other", certs_url=certs_url)


def test_modify_push_config_switches_between_push_and_pull(
    shared_pubsub_host: str, receiver: PushReceiver
) -> None:
    topic, sub = names("switch")
    pub, subscriber = publisher(), pubsub_v1.SubscriberClient()
    pub.create_topic(name=topic)
    subscriber.create_subscription(request={"name": sub, "topic": topic})
    subscriber.modify_push_config(
        request={"subscription": sub, "push_config": {"push_endpoint": receiver.url}}
    )
    pub.publish(topic, b"pushed").result(timeout=10)
    assert receiver.wait_for(lambda rs: len(rs) >= 1, timeout_s=15)

    subscriber.modify_push_config(request={"subscription": sub, "push_config": {}})
    assert subscriber.get_subscription(subscription=sub).push_config.push_endpoint == ""
    pub.publish(topic, b"pulled").result(timeout=10)
    response = subscriber.pull(request={"subscription": sub, "max_messages": 5}, timeout=10)
    assert [m.message.data for m in response.received_messages] == [b"pulled"]
    assert len(receiver.snapshot()) == 1

    # And back to push with UpdateSubscription, as Google's update_push_subscription sample does.
    subscriber.update_subscription(
        request={
            "subscription": {"name": sub, "push_config": {"push_endpoint": receiver.url + "/x"}},
            "update_mask": {"paths": ["push_config"]},
        }
    )
    subscriber.acknowledge(
        request={"subscription": sub, "ack_ids": [response.received_messages[0].ack_id]}
    )
    pub.publish(topic, b"pushed again").result(timeout=10)
    assert receiver.wait_for(lambda rs: len(rs) >= 2, timeout_s=15)
    assert receiver.snapshot()[-1].path == "/x"
