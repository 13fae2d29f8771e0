"""Subscribers started while Pub/Sub is down get exactly one stream each once it is back.

Regression test for the chaos suite's "events delivered but never handled" flake: with Google's
client as is, a streaming pull opened during an outage re-entered itself and left a live stream
behind that nobody read (see :mod:`vbq.pubsub.stream`); the emulator leased messages to it and
their ordering keys stayed blocked until the leases ran out, again and again.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.integration.pubsub_emulator.helpers import Collector, names, wait_until
from tests.support.pubsub import PubSubEmulator
from vbq.pubsub.admin import publisher_client, subscriber_client
from vbq.settings import Settings

pytestmark = pytest.mark.integration

SUBSCRIBERS = 5
"""Without the fix, each one is left with two streams in most runs (it depends on where its
channel is in its reconnect backoff); with five started at different moments, a test without
the fix fails almost always."""


def _open_streams(emulator: PubSubEmulator, sub: str) -> list[dict[str, Any]]:
    streams: list[dict[str, Any]] = emulator.stats()["subscriptions"][sub]["streams"]
    return streams


def _until_channel_fails_fast(client: Any, timeout_s: float = 3.0) -> None:
    """Wait (at most ``timeout_s``) until the client's channel is in TRANSIENT_FAILURE (a
    connection was refused): a call made now fails at once, as for a subscriber started in an
    outage. Only makes the bug likelier to show; the test checks the outcome either way."""
    failing = threading.Event()

    def watch(state: grpc.ChannelConnectivity) -> None:
        if state is grpc.ChannelConnectivity.TRANSIENT_FAILURE:
            failing.set()

    channel = client.transport.grpc_channel
    channel.subscribe(watch, try_to_connect=True)
    try:
        failing.wait(timeout_s)
    finally:
        channel.unsubscribe(watch)


def test_subscribers_started_during_an_outage_read_their_only_stream(tmp_path: Path) -> None:
    emulator = PubSubEmulator(tmp_path / "logs", data_file=tmp_path / "pubsub.journal").start()
    settings = Settings.from_env({"PUBSUB_EMULATOR_HOST": emulator.host})
    topic, sub = names("outage")
    publisher = publisher_client(settings)
    clients = [subscriber_client(settings) for _ in range(SUBSCRIBERS + 1)]
    admin, subscribers = clients[0], clients[1:]
    streaming: list[Any] = []
    try:
        publisher.create_topic(name=topic)
        admin.create_subscription(
            request={"name": sub, "topic": topic, "enable_message_ordering": True}
        )
        emulator.kill()
        collector = Collector()
        for client in subscribers:
            _until_channel_fails_fast(client)
            streaming.append(client.subscribe(sub, collector))
            time.sleep(0.3)
        emulator.start()
        # Google's client reopens at most five times per ten seconds, so this takes ~10 s.
        assert wait_until(lambda: len(_open_streams(emulator, sub)) >= SUBSCRIBERS, 40)
        time.sleep(1.0)  # a second stream of one client opens right after its first
        per_client = Counter(s["client_id"] for s in _open_streams(emulator, sub))
        assert sorted(per_client.values()) == [1] * SUBSCRIBERS, per_client

        total = 40
        for i in range(total):
            publisher.publish(topic, f"{i}".encode(), ordering_key=f"key-{i % 8}").result(10)
        # Well within the 60 s ack deadline: no message may wait for its lease on a stream
        # that nobody reads to run out.
        got = collector.wait_for(lambda ms: len({m.message_id for m in ms}) >= total, 20)
        assert got, f"{len(collector.snapshot())} of {total}; leases: {emulator.leases()}"
    finally:
        for future in streaming:
            future.cancel()
            try:
                future.result(timeout=10)
            except Exception:
                pass
        for client in clients:
            client.close()
        publisher.stop()
        emulator.stop()
