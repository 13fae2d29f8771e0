"""Shared helpers: Google's clients, resource names, a thread-safe message collector."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from google.cloud import pubsub_v1

PROJECT = "vbq-test"


def names(prefix: str = "t") -> tuple[str, str]:
    """A unique ``(topic path, subscription path)`` pair."""
    suffix = uuid.uuid4().hex[:8]
    return (
        f"projects/{PROJECT}/topics/{prefix}-{suffix}",
        f"projects/{PROJECT}/subscriptions/{prefix}-{suffix}-sub",
    )


def publisher(*, ordering: bool = False) -> pubsub_v1.PublisherClient:
    options = pubsub_v1.types.PublisherOptions(enable_message_ordering=ordering)
    return pubsub_v1.PublisherClient(publisher_options=options)


class Collector:
    """Records what a streaming-pull callback saw; ``action`` decides ack / nack / nothing."""

    def __init__(self, action: Callable[[Any], None] | None = None) -> None:
        self.messages: list[Any] = []
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.action = action or (lambda m: m.ack())

    def __call__(self, message: Any) -> None:
        with self.lock:
            self.messages.append(message)
            self.changed.notify_all()
        self.action(message)

    def wait_for(self, predicate: Callable[[list[Any]], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        with self.lock:
            while not predicate(self.messages):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.changed.wait(remaining)
            return True

    def snapshot(self) -> list[Any]:
        with self.lock:
            return list(self.messages)


def wait_until(predicate: Callable[[], bool], timeout_s: float, interval_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return predicate()
