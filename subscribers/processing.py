"""Processing one job-event message, whatever brought it: streaming pull or an HTTP push.

:class:`EventProcessor` is the transport-independent core of the subscriber runtime. For each
message it:

1. parses with :meth:`JobEvent.from_json`; a malformed message is published to the dead-letter
   topic with attribute ``vbq_error`` (see :mod:`vbq.pubsub.dead_letter`) and then acked, so it
   never crashes the process nor comes back;
2. no registered handler for the type: ack;
3. claims ``vbq:inbox:{group}:{event_id}`` (see :mod:`vbq.subscribers.inbox`): ``done`` → ack
   without running (a redelivery, unless a ``--rerun`` replay window covers it); ``busy``
   (another process is running it) → hold the message and poll until that claim ends, then
   handle or ack accordingly;
4. runs the matching handlers; success → mark ``done`` (TTL ``Settings.inbox_ttl_s``) and ack;
   an exception → release the claim and **nack**.

The transport turns ack/nack into its own terms: :class:`vbq.subscribers.runtime.Subscriber`
acks or nacks the streaming-pull message, :mod:`vbq.subscribers.push` answers 204 or 500.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import redis as redis_lib

from vbq.errors import EventError
from vbq.events import JobEvent
from vbq.logs import bind_job, get_logger
from vbq.metrics import DEAD_LETTERED, SUBSCRIBER_MESSAGES, time_handler
from vbq.pubsub.dead_letter import DeadLetterSink
from vbq.pubsub.messages import DeadLetterSender, MessageLike
from vbq.settings import Settings
from vbq.subscribers.context import Delivery, delivery_context
from vbq.subscribers.inbox import ClaimStatus, Inbox
from vbq.subscribers.registry import HandlerRegistry, Registration

__all__ = ["EventProcessor", "SubscriberStats"]

_log = get_logger("vbq.subscriber")


@dataclass(frozen=True, kw_only=True)
class SubscriberStats:
    """Counters since the subscriber was created.

    Attributes:
        handled: events whose handlers all ran to the end here.
        duplicates: redeliveries acked without running (already done in the group).
        failed: handler runs that raised (message nacked).
        dead_lettered: malformed messages sent to the dead-letter topic.
        ignored: valid events no handler wanted (acked).
        in_flight: messages being processed now.
    """

    handled: int
    duplicates: int
    failed: int
    dead_lettered: int
    ignored: int
    in_flight: int


class EventProcessor:
    """Runs the handlers of each message once per event id per group, then acks or nacks it.

    Args:
        settings: inbox TTL, the dead-letter topic.
        redis: a ``redis.Redis`` client for the inbox.
        registry: the handlers to run.
        subscription_path: the subscription messages come from (logs, dead letters).
        group: subscriber group for dedupe.
        dead_letter: sink for malformed messages (default: the dead-letter topic, built lazily).
        claim_lease_s: inbox claim lease in seconds; :meth:`renew_claims` renews it every third.
        busy_wait_s: how long a message whose event another process is handling waits for
            that claim to end before it is nacked, in seconds (default: twice the lease).
        handler_slots: most handler runs at once (None: as many as callers); the streaming
            pull runtime calls :meth:`handle` from more threads than that, so messages wait
            on the inbox's round trips concurrently while handlers stay bounded.
    """

    def __init__(
        self,
        *,
        settings: Settings,
        redis: redis_lib.Redis,
        registry: HandlerRegistry,
        subscription_path: str,
        group: str,
        dead_letter: DeadLetterSender | None = None,
        claim_lease_s: float = 30.0,
        busy_wait_s: float | None = None,
        handler_slots: int | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.subscription_path = subscription_path
        self.group = group
        self._dead_letter = dead_letter
        self._claim_lease_s = claim_lease_s
        self._busy_wait_s = busy_wait_s if busy_wait_s is not None else 2 * claim_lease_s
        self._inbox = Inbox(
            redis=redis, group=group, ttl_s=settings.inbox_ttl_s, lease_s=claim_lease_s
        )
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        # Bounds concurrent handler runs when more threads than that wait on the inbox.
        self._handler_slots = (
            threading.BoundedSemaphore(handler_slots) if handler_slots is not None else None
        )
        self._claims: dict[str, str] = {}  # event_id -> token, renewed while running
        self._inflight: dict[int, MessageLike] = {}
        self._counts = {
            "handled": 0,
            "duplicates": 0,
            "failed": 0,
            "dead_lettered": 0,
            "ignored": 0,
        }

    @property
    def inbox(self) -> Inbox:
        """The group's inbox."""
        return self._inbox

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called: new messages are nacked."""
        return self._stopping.is_set()

    def counts(self) -> dict[str, int]:
        """The counters by name (for logs)."""
        with self._lock:
            return dict(self._counts)

    def stats(self) -> SubscriberStats:
        """A snapshot of the counters."""
        with self._lock:
            return SubscriberStats(in_flight=len(self._inflight), **self._counts)

    def handle(self, message: MessageLike) -> None:
        """Process one message and ack or nack it. Never raises.

        Acks when the event was handled (now or before), ignored, or dead-lettered; nacks when
        a handler raised, Redis or the dead-letter topic failed, or processing is stopping.
        """
        if self._stopping.is_set():
            message.nack()
            return
        with self._lock:
            self._inflight[id(message)] = message
        try:
            self._process(message)
        except Exception as exc:  # the last line of defence: never kill a pool thread
            _log.exception("subscriber.unexpected_error", error=str(exc))
            message.nack()
        finally:
            with self._lock:
                self._inflight.pop(id(message), None)

    def stop(self) -> None:
        """Stop taking messages: the next ones are nacked at once."""
        self._stopping.set()

    def abandon(self) -> list[MessageLike]:
        """The messages still being handled, and stop renewing their claims (they expire, so
        a redelivery elsewhere takes over). The caller nacks them."""
        with self._lock:
            late = list(self._inflight.values())
            self._claims.clear()
        return late

    def renew_claims(self, stop_event: threading.Event) -> None:
        """Renew the claims of running handlers every third of the lease until ``stop_event``."""
        interval_s = max(0.05, self._claim_lease_s / 3)
        while not stop_event.wait(interval_s):
            with self._lock:
                claims = list(self._claims.items())
            if not claims:
                continue
            try:
                self._inbox.renew(claims)
            except redis_lib.RedisError as exc:
                _log.warning("subscriber.renew_failed", error=str(exc))

    def close(self) -> None:
        """Close the dead-letter publisher if one was created."""
        if self._dead_letter is not None:
            self._dead_letter.close()

    def _process(self, message: MessageLike) -> None:
        try:
            event = JobEvent.from_json(message.data)
        except EventError as exc:
            self._to_dead_letter(message, str(exc))
            return
        regs = self.registry.for_type(event.type)
        if not regs:
            self._count("ignored")
            message.ack()
            return
        with bind_job(event.submission_id):
            self._handle_event(message, event, regs)

    def _to_dead_letter(self, message: MessageLike, reason: str) -> None:
        try:
            sink = self._dead_letter_sink()
            dl_id = sink.send(
                message.data,
                attributes=dict(message.attributes),
                reason=reason,
                subscription=self.subscription_path,
                message_id=message.message_id,
            )
        except Exception as exc:
            _log.error(
                "subscriber.dead_letter_failed", message_id=message.message_id, error=str(exc)
            )
            message.nack()
            return
        _log.warning(
            "subscriber.dead_lettered",
            message_id=message.message_id,
            dead_letter_message_id=dl_id,
            reason=reason,
        )
        self._count("dead_lettered")
        message.ack()

    def _dead_letter_sink(self) -> DeadLetterSender:
        with self._lock:
            if self._dead_letter is None:
                self._dead_letter = DeadLetterSink.from_settings(self.settings)
            return self._dead_letter

    def _handle_event(
        self, message: MessageLike, event: JobEvent, regs: list[Registration]
    ) -> None:
        event_id = event.event_id
        token = self._inbox.new_token()
        published_s = message.publish_time.timestamp() if message.publish_time else None
        try:
            status = self._claim(event_id, token, published_s)
        except redis_lib.RedisError as exc:
            _log.warning("subscriber.inbox_unavailable", event_id=event_id, error=str(exc))
            message.nack()
            return
        if status is ClaimStatus.DONE:
            self._count("duplicates")
            message.ack()
            return
        if status is ClaimStatus.BUSY:
            _log.info("subscriber.claim_busy", event_id=event_id)
            message.nack()
            return
        with self._lock:
            self._claims[event_id] = token
        try:
            if self._handler_slots is None:
                self._run_handlers(message, event, regs)
            else:
                with self._handler_slots:
                    self._run_handlers(message, event, regs)
            self._complete(event_id, published_s)
        except Exception as exc:
            self._count("failed")
            _log.warning(
                "subscriber.handler_failed",
                event_id=event_id,
                event_type=event.type,
                delivery_attempt=message.delivery_attempt,
                error=f"{type(exc).__name__}: {exc}",
                exc_info=not isinstance(exc, redis_lib.RedisError),
            )
            with self._lock:
                self._claims.pop(event_id, None)
            try:
                self._inbox.release(event_id, token)
            except redis_lib.RedisError:
                pass  # the lease expires on its own
            message.nack()
            return
        with self._lock:
            self._claims.pop(event_id, None)
        self._count("handled")
        message.ack()

    def _complete(self, event_id: str, published_s: float | None) -> None:
        """Mark ``event_id`` done; retry while our claim's lease lasts.

        The handlers already ran: giving up here (nack) would make another process run them
        again, so a Redis blip (restart, failover) is waited out. Our claim is still renewed
        meanwhile, and the message is still held, so nobody else can take the event over.

        Raises:
            redis.RedisError: Redis stayed unreachable for a whole lease.
        """
        deadline = time.monotonic() + self._claim_lease_s
        pause_s = 0.05
        while True:
            try:
                self._inbox.complete(event_id, published_s=published_s)
                return
            except redis_lib.RedisError as exc:
                if time.monotonic() + pause_s > deadline:
                    raise
                _log.warning("subscriber.complete_retry", event_id=event_id, error=str(exc))
                time.sleep(pause_s)
                pause_s = min(pause_s * 2, 1.0)

    def _claim(self, event_id: str, token: str, published_s: float | None) -> ClaimStatus:
        status = self._inbox.claim(event_id, token, published_s=published_s)
        deadline = time.monotonic() + self._busy_wait_s
        # Another process is running this event: wait for its outcome rather than nack, which
        # would bounce the message straight back (a hot loop between two processes).
        while status is ClaimStatus.BUSY and time.monotonic() < deadline:
            if self._stopping.wait(0.25):
                break
            status = self._inbox.claim(event_id, token, published_s=published_s)
        return status

    def _run_handlers(
        self, message: MessageLike, event: JobEvent, regs: list[Registration]
    ) -> None:
        several = len(regs) > 1
        finished = self._inbox.handlers_done(event.event_id) if several else set()
        for reg in regs:
            if reg.name in finished:
                continue
            delivery = Delivery(
                message_id=message.message_id,
                delivery_attempt=message.delivery_attempt,
                publish_time=message.publish_time,
                ordering_key=message.ordering_key,
                attributes=dict(message.attributes),
                subscription=self.subscription_path,
                group=self.group,
                handler=reg.name,
            )
            with delivery_context(delivery), time_handler(reg.name):
                reg.func(event)
            if several:
                self._inbox.mark_handler_done(event.event_id, reg.name)

    def _count(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1
        SUBSCRIBER_MESSAGES.labels(outcome=name).inc()
        if name == "dead_lettered":
            DEAD_LETTERED.labels(source="subscriber").inc()
