"""Ordered delivery at volume, through Google's PublisherClient and streaming SubscriberClient."""

from __future__ import annotations

import time

import pytest
from google.cloud import pubsub_v1

from tests.integration.pubsub_emulator.helpers import Collector, names, publisher

pytestmark = pytest.mark.integration


def _run(total: int, keys: int, timeout_s: float) -> float:
    topic, sub = names("order")
    pub = publisher(ordering=True)
    subscriber = pubsub_v1.SubscriberClient()
    pub.create_topic(name=topic)
    subscriber.create_subscription(
        request={"name": sub, "topic": topic, "enable_message_ordering": True}
    )
    started = time.monotonic()
    futures = [
        pub.publish(topic, f"m{i}".encode(), ordering_key=f"key-{i % keys}", seq=str(i))
        for i in range(total)
    ]
    ids = [f.result(timeout=timeout_s) for f in futures]
    assert len(set(ids)) == total
    collector = Collector()
    streaming = subscriber.subscribe(sub, collector)
    try:
        assert collector.wait_for(lambda ms: len(ms) >= total, timeout_s), (
            f"received {len(collector.snapshot())} of {total}"
        )
    finally:
        streaming.cancel()
        streaming.result(timeout=10)
    elapsed = time.monotonic() - started
    per_key: dict[str, list[int]] = {}
    for message in collector.snapshot():
        per_key.setdefault(message.ordering_key, []).append(int(message.attributes["seq"]))
    assert len(per_key) == keys
    for key, seqs in per_key.items():
        index = int(key.removeprefix("key-"))
        assert seqs == list(range(index, total, keys)), f"{key} out of order or duplicated"
    return elapsed


def test_ordered_keys_flow_in_order(shared_pubsub_host: str) -> None:
    """2,000 messages over 100 ordering keys (the default run's bounded version)."""
    _run(2_000, 100, timeout_s=60)


@pytest.mark.slow
def test_ordered_keys_flow_in_order_10k(shared_pubsub_host: str) -> None:
    """10,000 messages over 100 ordering keys, all received, in order per key."""
    elapsed = _run(10_000, 100, timeout_s=120)
    print(f"10k ordered messages published and received in {elapsed:.1f}s")
