"""Recorders that observe a chaos run from outside the system under test.

- :class:`OutboxTap` reads ``vbq:outbox`` with ``XREAD BLOCK`` and counts every entry it sees
  (the relay deletes entries once published, so this is the only live view of them; it
  reconnects across Redis restarts and resumes after the last id it saw).
- :class:`AuditPuller` pulls an extra subscription of the events topic with no dedupe and
  records every delivery ``(event_id, message_id)``; it survives Pub/Sub outages.
- :func:`read_handler_runs` parses the recording handler's JSON lines.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import redis

from vbq.settings import Settings

__all__ = ["AuditPuller", "OutboxTap", "read_handler_runs"]

OUTBOX = "vbq:outbox"


class OutboxTap:
    """Count outbox entries by event id, in a daemon thread, until :meth:`stop`."""

    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self.seen: Counter[str] = Counter()
        self.errors = 0
        self._last_id = "0-0"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-tap", daemon=True)

    def start(self) -> OutboxTap:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        client: redis.Redis | None = None
        while not self._stop.is_set():
            try:
                if client is None:
                    client = redis.Redis.from_url(
                        self.redis_url, socket_timeout=5, socket_connect_timeout=2
                    )
                reply = client.xread({OUTBOX: self._last_id}, count=1000, block=200)
                for _stream, entries in reply or []:
                    for entry_id, fields in entries:
                        self._last_id = entry_id.decode()
                        raw = fields.get(b"event", b"{}")
                        try:
                            event_id = str(json.loads(raw)["event_id"])
                        except (ValueError, KeyError, TypeError):
                            event_id = f"<malformed {self._last_id}>"
                        self.seen[event_id] += 1
            except redis.RedisError:
                self.errors += 1
                client = None
                time.sleep(0.2)


class AuditPuller:
    """Pull ``subscription`` (a path) in a daemon thread; record each delivery."""

    def __init__(self, settings: Settings, subscription: str) -> None:
        self.settings = settings
        self.subscription = subscription
        self.deliveries: list[tuple[str, str]] = []
        self.errors = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-puller", daemon=True)

    def start(self) -> AuditPuller:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=20)

    def snapshot(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self.deliveries)

    def _run(self) -> None:
        from vbq.pubsub.admin import subscriber_client

        client: Any = None
        while not self._stop.is_set():
            try:
                if client is None:
                    client = subscriber_client(self.settings)
                resp = client.pull(subscription=self.subscription, max_messages=1000, timeout=5.0)
                got = resp.received_messages
                if not got:
                    continue
                with self._lock:
                    for m in got:
                        event_id = m.message.attributes.get("event_id", "")
                        self.deliveries.append((event_id, m.message.message_id))
                client.acknowledge(subscription=self.subscription, ack_ids=[m.ack_id for m in got])
            except Exception:  # the emulator is down or restarting: try again shortly
                self.errors += 1
                if client is not None:
                    try:
                        client.close()
                    except Exception:
                        pass
                client = None
                time.sleep(0.5)
        if client is not None:
            client.close()


def read_handler_runs(record_dir: Path) -> list[dict[str, Any]]:
    """Every ``start``/``finish`` line the recording handler wrote (torn lines skipped)."""
    runs: list[dict[str, Any]] = []
    for path in sorted(record_dir.glob("handler-*.jsonl")):
        for line in path.read_text(errors="replace").splitlines():
            try:
                runs.append(json.loads(line))
            except ValueError:
                continue
    return runs
