"""Fakes for the subscriber runtime's unit tests: a Pub/Sub message and a dead-letter sink."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from vbq.errors import PubSubError


@dataclass
class FakeMessage:
    data: bytes
    attributes: dict[str, str] = field(default_factory=dict)
    message_id: str = "m-1"
    delivery_attempt: int | None = 1
    publish_time: datetime = field(default_factory=lambda: datetime.now(UTC))
    ordering_key: str = ""
    outcome: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def ack(self) -> None:
        with self._lock:
            assert self.outcome is None, f"already {self.outcome}"
            self.outcome = "ack"

    def nack(self) -> None:
        with self._lock:
            assert self.outcome is None, f"already {self.outcome}"
            self.outcome = "nack"


@dataclass
class FakeDeadLetter:
    fail: bool = False
    sent: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)

    def send(
        self,
        data: bytes,
        *,
        attributes: Mapping[str, str],
        reason: str,
        subscription: str = "",
        message_id: str = "",
    ) -> str:
        if self.fail:
            raise PubSubError("dead-letter topic unavailable")
        attrs = {**attributes, "vbq_error": reason, "vbq_message_id": message_id}
        self.sent.append((data, attrs))
        return f"dl-{len(self.sent)}"

    def close(self) -> None:
        return None
