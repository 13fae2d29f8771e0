"""The relay's BatchedPublisher on the real Pub/Sub emulator: many ordering keys per Publish
request, per-key order at the subscriber, and an emulator restart mid-stream (the futures wait
and complete; nothing is lost)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from typing import Any

import pytest
from google.cloud import pubsub_v1

from tests.support.pubsub import PubSubEmulator
from vbq.pubsub.admin import (
    ensure_subscription,
    ensure_topic,
    publisher_client,
    subscriber_client,
)
from vbq.settings import Settings
from vbq.workers.pubsub_batched import BatchedPublisher

pytestmark = pytest.mark.integration

KEYS = 40
PER_KEY = 10


def _plain_topic(settings: Settings, name: str) -> tuple[str, str]:
    """A topic without a schema and an ordered subscription on it: (topic, subscription)."""
    topic = f"projects/{settings.project}/topics/{name}"
    subscription = f"projects/{settings.project}/subscriptions/{name}-sub"
    publisher = publisher_client(settings)
    ensure_topic(publisher, topic)
    publisher.stop()
    subscriber = subscriber_client(settings)
    ensure_subscription(subscriber, subscription_path=subscription, topic_path=topic)
    subscriber.close()
    return topic, subscription


def _receive(settings: Settings, subscription: str, expected: int) -> dict[str, list[str]]:
    """Per ordering key, the data received in order (acked), until ``expected`` arrived."""
    got: dict[str, list[str]] = defaultdict(list)
    lock, done = threading.Lock(), threading.Event()
    count = [0]

    def callback(message: pubsub_v1.subscriber.message.Message) -> None:
        with lock:
            got[message.ordering_key].append(message.data.decode())
            count[0] += 1
            if count[0] >= expected:
                done.set()
        message.ack()

    client = subscriber_client(settings)
    future = client.subscribe(subscription, callback=callback)
    try:
        assert done.wait(60), f"received {count[0]} of {expected}"
        time.sleep(0.5)  # a duplicate or a late extra would show now
    finally:
        future.cancel()
        client.close()
    return dict(got)


def _publish_all(pub: BatchedPublisher, topic: str, *, during: object = None) -> list[str]:
    futures = []
    for i in range(PER_KEY):
        for k in range(KEYS):
            futures.append(pub.publish(topic, f"{k}:{i}".encode(), attributes={"i": str(i)},
                                       ordering_key=f"key-{k}"))  # fmt: skip
        if i == PER_KEY // 2 and callable(during):
            during()
    return [f.result(timeout=60) for f in futures]


def test_many_keys_per_request_arrive_in_order_per_key(settings: Settings) -> None:
    topic, subscription = _plain_topic(settings, "batched")
    real = publisher_client(settings)
    requests: list[int] = []

    class CountingApi:  # the real Publish RPC, counting the requests
        def publish(self, **kwargs: Any) -> Any:
            requests.append(len(kwargs["messages"]))
            return real.api.publish(**kwargs)

    class Client:
        api = CountingApi()
        stop = real.stop

    pub = BatchedPublisher(client=Client())
    ids = _publish_all(pub, topic)
    pub.close()
    assert len(set(ids)) == KEYS * PER_KEY
    assert len(requests) < KEYS * PER_KEY / 4, "keys were not packed into shared requests"
    got = _receive(settings, subscription, KEYS * PER_KEY)
    assert sorted(got) == sorted(f"key-{k}" for k in range(KEYS))
    for key, data in got.items():
        k = key.removeprefix("key-")
        assert data == [f"{k}:{i}" for i in range(PER_KEY)], key


def test_an_emulator_restart_delays_publishes_and_loses_none(
    settings: Settings, emulator: PubSubEmulator
) -> None:
    topic, subscription = _plain_topic(settings, "restart")
    pub = BatchedPublisher.from_settings(settings)
    ids = _publish_all(pub, topic, during=lambda: emulator.restart(kill=True))
    pub.close()
    assert len(set(ids)) == KEYS * PER_KEY
    got = _receive(settings, subscription, KEYS * PER_KEY)
    assert sorted(got) == sorted(f"key-{k}" for k in range(KEYS))
    for key, data in got.items():
        k = key.removeprefix("key-")
        # At least once: a request the killed emulator journaled but never answered is sent
        # again. Each message arrives, and the first arrivals keep the key's order.
        first_seen = list(dict.fromkeys(data))
        assert first_seen == [f"{k}:{i}" for i in range(PER_KEY)], key
