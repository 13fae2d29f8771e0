"""One batch of bridge messages: parse, submit, then ack or dead-letter (see
:mod:`vbq.producers.bridge.consumer` for the ack rules).

:class:`BatchHandler` has no Pub/Sub stream of its own: it takes messages the runtime collected
and settles each one exactly once (ack, nack, drop), or hands it back through ``requeue``.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from vbq.errors import SpecError
from vbq.logs import get_logger
from vbq.producers.batch import BatchResult
from vbq.producers.bridge.notifications import EVENT_FINALIZE, is_storage_notification
from vbq.producers.bridge.notifications import parse_notification as parse_object_event
from vbq.producers.bridge.requests import JobRequest, parse_request
from vbq.producers.bridge.rules import RuleSet
from vbq.producers.client import Client
from vbq.pubsub.dead_letter import DeadLetterSink
from vbq.pubsub.messages import DeadLetterSender, MessageLike
from vbq.settings import Settings

__all__ = ["BatchHandler", "Counters", "FaultAction", "FaultHook", "Pending"]

_log = get_logger("vbq.bridge")

FaultAction = Literal["ack", "nack", "drop"]
FaultHook = Callable[[MessageLike], FaultAction]
"""Test hook called right before a handled message is acked: ``"ack"`` (normal), ``"nack"``
(Pub/Sub redelivers it at once) or ``"drop"`` (neither: the lease expires and Pub/Sub
redelivers it later). Lets tests force redeliveries of messages already submitted."""

_Ignored = Literal["ignored", "unmatched"]

COUNTER_NAMES = (
    "received",
    "submitted",
    "replayed",
    "dead_lettered",
    "ignored",
    "unmatched",
    "nacked",
    "dropped",
    "store_retries",
    "outstanding",
    "peak_outstanding",
    "stream_releases",
)


@dataclass(frozen=True)
class Pending:
    """A message taken in from ``subscription`` and not settled yet."""

    subscription: str
    message: MessageLike


class Counters:
    """Thread-safe counters (names: :data:`COUNTER_NAMES`)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._counts = dict.fromkeys(COUNTER_NAMES, 0)

    def add(self, name: str, delta: int = 1) -> None:
        """Add ``delta`` to counter ``name``."""
        with self.lock:
            self._counts[name] += delta

    def received(self) -> None:
        """One more message taken in (and outstanding); tracks the peak."""
        with self.lock:
            counts = self._counts
            counts["received"] += 1
            counts["outstanding"] += 1
            counts["peak_outstanding"] = max(counts["peak_outstanding"], counts["outstanding"])

    def snapshot(self) -> dict[str, int]:
        """A copy of every counter."""
        with self.lock:
            return dict(self._counts)


class BatchHandler:
    """Turns batches of messages into submissions.

    Args:
        settings: dead-letter topic (the sink is built on first use).
        client: validates and stores (``Client.submit_many``).
        rules: storage-notification rules (None: every notification is "unmatched").
        counters: where outcomes are counted.
        topics: subscription path -> topic path (scopes derived idempotency keys).
        dead_letter: sink for invalid messages (default: the dead-letter topic).
        default_tenant: tenant of request messages that name none.
        allow_message_tenant: False refuses request messages that name a tenant.
        before_ack: :data:`FaultHook` for tests.
    """

    def __init__(
        self,
        *,
        settings: Settings,
        client: Client,
        rules: RuleSet | None,
        counters: Counters,
        topics: Mapping[str, str],
        dead_letter: DeadLetterSender | None = None,
        default_tenant: str = "default",
        allow_message_tenant: bool = True,
        before_ack: FaultHook | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.rules = rules
        self.counters = counters
        self._topics = topics
        self._dead_letter = dead_letter
        self.default_tenant = default_tenant
        self.allow_message_tenant = allow_message_tenant
        self._before_ack = before_ack

    def process(
        self,
        batch: Sequence[Pending],
        stop_event: threading.Event,
        requeue: Callable[[Pending], None],
    ) -> None:
        """Handle one batch: parse, submit in one call, then ack, dead-letter or requeue.

        ``requeue`` takes back messages that could not be stored because ``stop_event`` was
        set while the store was down (the caller hands them back to Pub/Sub).
        """
        ready: list[tuple[Pending, JobRequest]] = []
        for pending in batch:
            try:
                outcome = self._parse(pending)
            except SpecError as exc:
                self._to_dead_letter(pending, exc.errors)
                continue
            except Exception as exc:  # a malformed message must never stop the bridge
                _log.exception("bridge.parse_failed", message_id=pending.message.message_id)
                error = {"field": "data", "rule": "unreadable", "message": repr(exc)}
                self._to_dead_letter(pending, [error])
                continue
            if isinstance(outcome, str):
                self.counters.add(outcome)
                self.settle(pending.message, "ack")
            else:
                ready.append((pending, outcome))
        if not ready:
            return
        result = self._submit([req.as_item() for _, req in ready], stop_event)
        if result is None:  # stopping while the store was down: handed back after the close
            for pending, _ in ready:
                requeue(pending)
            return
        for item in result.accepted:
            pending = ready[item.index][0]
            self.counters.add("submitted" if item.created else "replayed")
            self.settle(
                pending.message, self._before_ack(pending.message) if self._before_ack else "ack"
            )
        for refused in result.errors:
            self._to_dead_letter(ready[refused.index][0], list(refused.errors))

    def _parse(self, pending: Pending) -> JobRequest | _Ignored:
        message = pending.message
        attributes = message.attributes
        if not is_storage_notification(attributes):
            return parse_request(
                message.data,
                message_id=message.message_id,
                topic_path=self._topics.get(pending.subscription, pending.subscription),
                default_tenant=self.default_tenant,
                allow_message_tenant=self.allow_message_tenant,
            )
        event = parse_object_event(message.data, attributes)
        if event.event_type != EVENT_FINALIZE:
            return "ignored"
        rule = self.rules.match(event) if self.rules is not None else None
        if rule is None:
            return "unmatched"
        return rule.render(event)

    def _submit(
        self, items: list[dict[str, Any]], stop_event: threading.Event
    ) -> BatchResult | None:
        backoff_s = 0.2
        while True:
            try:
                return self.client.submit_many(
                    items, batch_size=len(items), tenant=self.default_tenant
                )
            except Exception as exc:
                # Redis down or failing over: keep the leases and try again (nacking would burn
                # delivery attempts; see vbq.producers.bridge.consumer).
                self.counters.add("store_retries")
                _log.warning("bridge.store_failed", error=repr(exc), retry_in_s=backoff_s)
                if stop_event.wait(random.uniform(backoff_s / 2, backoff_s)):
                    return None
                backoff_s = min(backoff_s * 2, 10.0)

    def _to_dead_letter(self, pending: Pending, errors: Sequence[Mapping[str, str]]) -> None:
        message = pending.message
        reason = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "invalid request"
        fields = ",".join(dict.fromkeys(e["field"] for e in errors))
        attributes = {**message.attributes, "vbq_error_fields": fields[:1000]}
        try:
            sink = self._sink()
            sink.send(
                message.data,
                attributes=attributes,
                reason=reason,
                subscription=pending.subscription,
                message_id=message.message_id,
            )
        except Exception as exc:
            _log.error("bridge.dead_letter_failed", message_id=message.message_id, error=str(exc))
            self.settle(message, "nack")
            return
        _log.warning(
            "bridge.dead_lettered", message_id=message.message_id, fields=fields, reason=reason
        )
        self.counters.add("dead_lettered")
        self.settle(message, "ack")

    def _sink(self) -> DeadLetterSender:
        with self.counters.lock:
            if self._dead_letter is None:
                self._dead_letter = DeadLetterSink.from_settings(self.settings)
            return self._dead_letter

    def settle(self, message: MessageLike, action: FaultAction) -> None:
        """Ack, nack or drop ``message`` and count it as no longer outstanding."""
        if action == "ack":
            message.ack()
        elif action == "nack":
            message.nack()
            self.counters.add("nacked")
        else:
            self.counters.add("dropped")
        self.counters.add("outstanding", -1)

    def close(self) -> None:
        """Close the dead-letter publisher if one was created."""
        if self._dead_letter is not None:
            self._dead_letter.close()
