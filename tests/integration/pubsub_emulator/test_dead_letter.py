"""Nacked messages come back with a growing delivery_attempt, then land on the dead-letter topic."""

from __future__ import annotations

import itertools
import time

import pytest
from google.cloud import pubsub_v1

from tests.integration.pubsub_emulator.helpers import Collector, names, publisher, wait_until

pytestmark = pytest.mark.integration


def test_nacks_count_attempts_then_dead_letter(shared_pubsub_host: str) -> None:
    topic, sub = names("dl")
    dead_topic, dead_sub = names("dead")
    pub = publisher()
    subscriber = pubsub_v1.SubscriberClient()
    pub.create_topic(name=topic)
    pub.create_topic(name=dead_topic)
    subscriber.create_subscription(request={"name": dead_sub, "topic": dead_topic})
    subscriber.create_subscription(
        request={
            "name": sub,
            "topic": topic,
            "dead_letter_policy": {"dead_letter_topic": dead_topic, "max_delivery_attempts": 5},
        }
    )
    message_id = pub.publish(topic, b"poison", reason="test").result(timeout=10)
    collector = Collector(action=lambda m: m.nack())
    streaming = subscriber.subscribe(sub, collector)
    try:
        dead: list[object] = []

        def arrived() -> bool:
            response = subscriber.pull(
                request={"subscription": dead_sub, "max_messages": 10}, timeout=10
            )
            dead.extend(response.received_messages)
            return bool(dead)

        assert wait_until(arrived, timeout_s=30, interval_s=0.2)
    finally:
        streaming.cancel()
        streaming.result(timeout=10)
    attempts = [m.delivery_attempt for m in collector.snapshot()]
    assert attempts == [1, 2, 3, 4, 5]
    assert {m.message_id for m in collector.snapshot()} == {message_id}
    (forwarded,) = dead
    assert forwarded.message.data == b"poison"
    attrs = dict(forwarded.message.attributes)
    assert attrs["reason"] == "test"
    assert attrs["CloudPubSubDeadLetterSourceDeliveryCount"] == "5"
    assert attrs["CloudPubSubDeadLetterSourceSubscription"] == sub.rsplit("/", 1)[-1]
    # Gone from the source subscription for good.
    response = subscriber.pull(
        request={"subscription": sub, "max_messages": 10, "return_immediately": True}, timeout=10
    )
    assert list(response.received_messages) == []


def test_without_dead_letter_policy_delivery_attempt_is_unset(shared_pubsub_host: str) -> None:
    topic, sub = names("nodl")
    pub = publisher()
    subscriber = pubsub_v1.SubscriberClient()
    pub.create_topic(name=topic)
    subscriber.create_subscription(request={"name": sub, "topic": topic})
    pub.publish(topic, b"x").result(timeout=10)
    seen = Collector(action=lambda m: m.nack() if len(seen.messages) < 3 else m.ack())
    streaming = subscriber.subscribe(sub, seen)
    try:
        assert seen.wait_for(lambda ms: len(ms) >= 3, timeout_s=20)
    finally:
        streaming.cancel()
        streaming.result(timeout=10)
    assert [m.delivery_attempt for m in seen.snapshot()][:3] == [None, None, None]


def test_retry_policy_spaces_out_redeliveries(shared_pubsub_host: str) -> None:
    topic, sub = names("retry")
    pub = publisher()
    subscriber = pubsub_v1.SubscriberClient()
    pub.create_topic(name=topic)
    subscriber.create_subscription(
        request={
            "name": sub,
            "topic": topic,
            "retry_policy": {"minimum_backoff": {"seconds": 1}, "maximum_backoff": {"seconds": 2}},
        }
    )
    pub.publish(topic, b"x").result(timeout=10)
    times: list[float] = []
    seen = Collector(
        action=lambda m: (times.append(time.monotonic()), m.nack() if len(times) < 3 else m.ack())
    )
    streaming = subscriber.subscribe(sub, seen)
    try:
        assert seen.wait_for(lambda ms: len(ms) >= 3, timeout_s=20)
    finally:
        streaming.cancel()
        streaming.result(timeout=10)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # Backoff 1 s then 2 s; generous upper bounds for a loaded machine.
    assert 0.9 <= gaps[0] < 5, gaps
    assert 1.9 <= gaps[1] < 7, gaps
