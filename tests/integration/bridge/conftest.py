"""Fixtures for bridge tests: real Redis (store and Celery broker), the real Pub/Sub emulator
(one per session and xdist worker, unique names per test), and helpers to run a bridge."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis
from google.cloud import pubsub_v1

from tests.support.pubsub import PubSubEmulator
from vbq.producers import Client
from vbq.producers.bridge import Bridge, ensure_bridge_resources
from vbq.pubsub.admin import dead_letter_subscription_path, publisher_client, subscriber_client
from vbq.settings import Settings

PROJECT = "bridge-test"


def valid_request(n: int, **extra: Any) -> dict[str, Any]:
    """A request message body that passes every spec rule."""
    return {
        "job_display_name": f"req-{n}",
        "model_name": "publishers/google/models/gemini-2.0-flash-001",
        "gcs_source": f"gs://bridge-in/batch-{n}.jsonl",
        "gcs_destination_prefix": "gs://bridge-out/results",
        **extra,
    }


def stored_records(url: str) -> list[dict[str, str]]:
    """Every submission hash in the store (``vbq:sub:*``)."""
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        pipe = client.pipeline(transaction=False)
        keys = list(client.scan_iter("vbq:sub:*", count=1000))
        for key in keys:
            pipe.hgetall(key)
        return [r for r in pipe.execute() if r]
    finally:
        client.close()


def wait_until(predicate: Callable[[], bool], timeout_s: float, interval_s: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return predicate()


@dataclass
class Names:
    """Unique topic and subscription ids of one test."""

    topic: str
    subscription: str
    dead_letter_topic: str

    @property
    def topic_path(self) -> str:
        return f"projects/{PROJECT}/topics/{self.topic}"

    @property
    def subscription_path(self) -> str:
        return f"projects/{PROJECT}/subscriptions/{self.subscription}"


@pytest.fixture
def names() -> Names:
    suffix = uuid.uuid4().hex[:8]
    return Names(
        topic=f"req-{suffix}", subscription=f"req-{suffix}-sub", dead_letter_topic=f"dl-{suffix}"
    )


@pytest.fixture
def settings(redis_url: str, shared_pubsub_host: str, names: Names) -> Settings:
    """Settings on the test's Redis (store and broker) and the session's Pub/Sub emulator."""
    return Settings.from_env(
        {
            "VBQ_REDIS_URL": redis_url,
            "VBQ_BROKER_URL": redis_url,
            "VBQ_PROJECT": PROJECT,
            "VBQ_DEAD_LETTER_TOPIC": names.dead_letter_topic,
            "PUBSUB_EMULATOR_HOST": shared_pubsub_host,
            "VBQ_SHUTDOWN_GRACE_S": "5",
        }
    )


@pytest.fixture
def emulator(pubsub_emulator_session: PubSubEmulator) -> PubSubEmulator:
    return pubsub_emulator_session


@pytest.fixture
def resources(settings: Settings, names: Names) -> Names:
    """Request topic + subscription and the dead-letter topic + subscription, created."""
    ensure_bridge_resources(settings, [(names.topic, names.subscription)])
    return names


@pytest.fixture
def publisher(settings: Settings) -> Iterator[pubsub_v1.PublisherClient]:
    client = publisher_client(settings, enable_message_ordering=False, max_messages=500)
    yield client
    client.stop()


def publish_all(
    publisher: pubsub_v1.PublisherClient,
    topic_path: str,
    messages: list[tuple[bytes, dict[str, str]]],
) -> list[str]:
    """Publish and wait for every message id."""
    futures = [publisher.publish(topic_path, data, **attrs) for data, attrs in messages]
    return [f.result(timeout=60) for f in futures]


def pull_dead_letters(settings: Settings, expected: int, timeout_s: float = 30) -> list[Any]:
    """Synchronously pull (and ack) dead-lettered messages until ``expected`` arrived."""
    client = subscriber_client(settings)
    path = dead_letter_subscription_path(settings)
    out: list[Any] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(out) < expected and time.monotonic() < deadline:
            resp = client.pull(
                request={"subscription": path, "max_messages": 100}, timeout=5, retry=None
            )
            if resp.received_messages:
                client.acknowledge(
                    request={
                        "subscription": path,
                        "ack_ids": [m.ack_id for m in resp.received_messages],
                    }
                )
            out.extend(m.message for m in resp.received_messages)
    finally:
        client.close()
    return out


class RunningBridge:
    """A :class:`Bridge` running in a thread; :meth:`stop` joins it and re-raises its error."""

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge
        self.stop_event = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="test-bridge", daemon=True)

    def _run(self) -> None:
        try:
            self.bridge.run(self.stop_event)
        except BaseException as exc:
            self.error = exc

    def start(self) -> RunningBridge:
        self.thread.start()
        return self

    def stop(self, timeout_s: float = 30) -> None:
        self.stop_event.set()
        self.thread.join(timeout_s)
        assert not self.thread.is_alive(), "bridge did not stop"
        if self.error is not None:
            raise self.error


@pytest.fixture
def run_bridge(settings: Settings) -> Iterator[Callable[..., RunningBridge]]:
    """Start a bridge on the test's settings: ``run_bridge(subscriptions=[...], **kwargs)``."""
    started: list[RunningBridge] = []
    clients: list[Client] = []

    def start(**kwargs: Any) -> RunningBridge:
        own = kwargs.pop("settings", settings)
        client = Client.from_settings(own)
        clients.append(client)
        runner = RunningBridge(Bridge(settings=own, client=client, **kwargs)).start()
        started.append(runner)
        return runner

    yield start
    for runner in started:
        if runner.thread.is_alive():
            runner.stop_event.set()
            runner.thread.join(30)
    for client in clients:
        client.close()
