"""A scriptable stand-in for the relay's publisher (futures the test resolves or fails).

It mimics Google's ordered publisher where the relay depends on it: a permanent failure pauses
the ordering key, later messages of a paused key fail at once, and ``resume`` unpauses.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field


@dataclass
class Sent:
    topic: str
    data: bytes
    attributes: dict[str, str]
    ordering_key: str
    future: Future[str]


@dataclass
class FakePublisher:
    """``mode``: ``ok`` resolves at once; ``hold`` leaves futures pending (outage);
    ``fail_keys`` fails the next publish of those keys once (permanent error)."""

    mode: str = "ok"
    fail_keys: set[str] = field(default_factory=set)
    fail_when: Callable[[Sent], bool] | None = None
    sent: list[Sent] = field(default_factory=list)
    paused: set[str] = field(default_factory=set)
    resumed: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _n: int = 0

    def publish(
        self, topic: str, data: bytes, *, attributes: Mapping[str, str], ordering_key: str = ""
    ) -> Future[str]:
        fut: Future[str] = Future()
        item = Sent(topic, data, dict(attributes), ordering_key, fut)
        with self._lock:
            self.sent.append(item)
            if ordering_key and ordering_key in self.paused:
                fut.set_exception(RuntimeError(f"ordering key {ordering_key} paused"))
                return fut
            failing = ordering_key in self.fail_keys or (
                self.fail_when is not None and self.fail_when(item)
            )
            if failing:
                self.fail_keys.discard(ordering_key)
                if ordering_key:
                    self.paused.add(ordering_key)
                fut.set_exception(RuntimeError("INVALID_ARGUMENT: refused"))
                return fut
            if self.mode == "ok":
                self._n += 1
                fut.set_result(str(self._n))
        return fut

    def release_all(self) -> None:
        """End the outage: resolve every pending future in publish order."""
        with self._lock:
            for item in self.sent:
                if not item.future.done():
                    self._n += 1
                    item.future.set_result(str(self._n))
            self.mode = "ok"

    def resume(self, topic: str, ordering_key: str) -> None:
        with self._lock:
            self.paused.discard(ordering_key)
            self.resumed.append(ordering_key)

    def close(self) -> None:
        return None

    def confirmed(self, topic: str | None = None) -> list[Sent]:
        return [
            s
            for s in self.sent
            if s.future.done()
            and s.future.exception() is None
            and (topic is None or s.topic == topic)
        ]
