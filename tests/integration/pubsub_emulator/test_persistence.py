"""Persisted mode: kill -9 and restart on the same data file, nothing unacked is lost."""

from __future__ import annotations

from pathlib import Path

import pytest
from google.cloud import pubsub_v1

from tests.integration.pubsub_emulator.helpers import Collector, names, publisher
from tests.support.pubsub import PubSubEmulator

pytestmark = pytest.mark.integration


@pytest.fixture
def persisted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PubSubEmulator:
    emulator = PubSubEmulator(tmp_path / "logs", data_file=tmp_path / "data" / "pubsub.jsonl")
    emulator.start()
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", emulator.host)
    yield emulator  # type: ignore[misc]
    emulator.stop()


def _pull_all(subscriber: pubsub_v1.SubscriberClient, sub: str, count: int) -> list[object]:
    out: list[object] = []
    while len(out) < count:
        response = subscriber.pull(
            request={"subscription": sub, "max_messages": count - len(out)}, timeout=10
        )
        assert response.received_messages, f"only {len(out)} of {count} messages"
        out.extend(response.received_messages)
    return out


def test_kill_9_keeps_unacked_messages(persisted: PubSubEmulator) -> None:
    topic, sub = names("persist")
    dead_topic, _ = names("persist-dead")
    pub = publisher(ordering=True)
    subscriber = pubsub_v1.SubscriberClient()
    pub.create_topic(name=topic)
    pub.create_topic(name=dead_topic)
    subscriber.create_subscription(
        request={
            "name": sub,
            "topic": topic,
            "enable_message_ordering": True,
            "dead_letter_policy": {"dead_letter_topic": dead_topic, "max_delivery_attempts": 10},
        }
    )
    futures = [
        pub.publish(topic, f"m{i}".encode(), ordering_key=f"k{i % 5}", seq=str(i))
        for i in range(100)
    ]
    ids = [f.result(timeout=10) for f in futures]
    # Ack the heads of every key (5 messages), lease the next 5 without acking.
    first = _pull_all(subscriber, sub, 5)
    subscriber.acknowledge(request={"subscription": sub, "ack_ids": [m.ack_id for m in first]})
    leased = _pull_all(subscriber, sub, 5)
    acked_ids = {m.message.message_id for m in first}
    leased_ids = {m.message.message_id for m in leased}

    persisted.restart(kill=True)

    # The same subscriber client reconnects to the restarted process on the same port.
    assert (
        subscriber.get_subscription(subscription=sub).dead_letter_policy.max_delivery_attempts == 10
    )
    collector = Collector()
    streaming = subscriber.subscribe(sub, collector)
    try:
        assert collector.wait_for(lambda ms: len(ms) >= 95, timeout_s=30)
        assert not collector.wait_for(lambda ms: len(ms) > 95, timeout_s=1.0)
    finally:
        streaming.cancel()
        streaming.result(timeout=10)
    got = collector.snapshot()
    got_ids = [m.message_id for m in got]
    assert set(got_ids) == set(ids) - acked_ids
    assert leased_ids <= set(got_ids)
    per_key: dict[str, list[int]] = {}
    for message in got:
        per_key.setdefault(message.ordering_key, []).append(int(message.attributes["seq"]))
    assert all(seqs == sorted(seqs) for seqs in per_key.values())
    # Leased before the crash, delivered again now: the attempt count survived the restart.
    redelivered = [m for m in got if m.message_id in leased_ids]
    assert {m.delivery_attempt for m in redelivered} == {2}
    # Message ids never repeat after a restart.
    new_id = pub.publish(topic, b"after", ordering_key="k0", seq="100").result(timeout=10)
    assert int(new_id) > max(int(i) for i in ids)


@pytest.mark.slow
def test_running_subscriber_survives_graceful_restart(persisted: PubSubEmulator) -> None:
    """SIGTERM ends streams with UNAVAILABLE, so Google's client reconnects by itself. Its
    stream-reopen throttle and the gRPC channel's reconnect backoff (which grows while the
    port refuses connections) make this take 10-40 s on a busy machine, hence slow."""
    topic, sub = names("restart")
    pub = publisher()
    subscriber = pubsub_v1.SubscriberClient()
    pub.create_topic(name=topic)
    subscriber.create_subscription(request={"name": sub, "topic": topic})
    collector = Collector()
    streaming = subscriber.subscribe(sub, collector)
    try:
        pub.publish(topic, b"before").result(timeout=10)
        assert collector.wait_for(lambda ms: len(ms) >= 1, timeout_s=15)
        persisted.restart(kill=False)
        pub.publish(topic, b"after").result(timeout=30)
        assert collector.wait_for(lambda ms: any(m.data == b"after" for m in ms), timeout_s=90), (
            persisted.log_text()[-3000:]
        )
    finally:
        streaming.cancel()
        streaming.result(timeout=10)
