"""The subscriber runtime: streaming pull, dedupe, run handlers, ack or nack.

For each message :class:`Subscriber` does, in the client's thread pool:

1. parse with :meth:`JobEvent.from_json`; a malformed message is published to the dead-letter
   topic with attribute ``vbq_error`` (see :mod:`vbq.pubsub.dead_letter`) and then acked, so it
   never crashes the process nor comes back;
2. no registered handler for the type: ack;
3. claim ``vbq:inbox:{group}:{event_id}`` (see :mod:`vbq.subscribers.inbox`): ``done`` → ack without
   running (a redelivery); ``busy`` (another process is running it) → hold the message and poll
   until that claim ends, then handle or ack accordingly;
4. run the matching handlers; success → mark ``done`` (TTL ``Settings.inbox_ttl_s``) and ack;
   an exception → release the claim and **nack**.

Backoff for failing handlers is Pub/Sub's job: a nack makes the message available again and the
subscription's retry policy (``vbq subscribe --create`` sets 1 s … 60 s exponential) spaces the
redeliveries; after 5 deliveries the dead-letter policy moves it to the dead-letter topic. The
runtime never sleeps on a failed message itself (that would hold a flow-control slot).

Shutdown (SIGTERM in ``vbq subscribe``): stop pulling, nack messages not yet started, let
running handlers finish within ``Settings.shutdown_grace_s``, then nack whatever still runs
(their claims stop being renewed and expire, so a redelivery elsewhere takes over).
"""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeoutError
from dataclasses import dataclass
from typing import Any

import redis as redis_lib
from google.api_core import exceptions as gexc
from google.cloud import pubsub_v1
from google.cloud.pubsub_v1.subscriber.scheduler import ThreadScheduler

from vbq.errors import EventError, PubSubError
from vbq.events import JobEvent
from vbq.logs import bind_job, get_logger
from vbq.metrics import DEAD_LETTERED, SUBSCRIBER_MESSAGES, time_handler
from vbq.pubsub.admin import subscriber_client
from vbq.pubsub.dead_letter import DeadLetterSink
from vbq.pubsub.messages import DeadLetterSender, MessageLike
from vbq.settings import Settings
from vbq.subscribers.context import Delivery, delivery_context
from vbq.subscribers.inbox import ClaimStatus, Inbox
from vbq.subscribers.registry import HandlerRegistry, Registration

__all__ = ["Subscriber", "SubscriberStats"]

_log = get_logger("vbq.subscriber")

# The stream cannot recover from these; anything else is retried by re-subscribing.
_FATAL = (gexc.NotFound, gexc.PermissionDenied, gexc.InvalidArgument, gexc.Unauthenticated)


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


class Subscriber:
    """Streaming-pull subscriber that runs registered handlers once per event id per group.

    Args:
        settings: subscription, flow control (``subscriber_max_messages``), inbox TTL,
            shutdown grace.
        redis: a ``redis.Redis`` client for the inbox.
        registry: the handlers to run (see :func:`vbq.subscribers.load_handlers`).
        subscription: subscription id or path (default ``settings.events_subscription``).
        group: subscriber group for dedupe (default: the subscription id). Processes in one
            group run each event once between them.
        client: a ``SubscriberClient`` (default: built from settings).
        dead_letter: sink for malformed messages (default: the dead-letter topic).
        threads: handler threads (concurrent handler calls in this process).
        claim_lease_s: inbox claim lease in seconds; renewed every third of it while running.
        busy_wait_s: how long a message whose event another process is handling waits for
            that claim to end before it is nacked, in seconds (default: twice the lease).
    """

    def __init__(
        self,
        *,
        settings: Settings,
        redis: redis_lib.Redis,
        registry: HandlerRegistry,
        subscription: str | None = None,
        group: str | None = None,
        client: pubsub_v1.SubscriberClient | None = None,
        dead_letter: DeadLetterSender | None = None,
        threads: int = 10,
        claim_lease_s: float = 30.0,
        busy_wait_s: float | None = None,
    ) -> None:
        sub_settings = (
            settings.replace(events_subscription=subscription) if subscription else settings
        )
        self.settings = settings
        self.subscription_path = sub_settings.events_subscription_path()
        self.group = group or self.subscription_path.rsplit("/", 1)[-1]
        self.registry = registry
        self._client = client
        self._dead_letter = dead_letter
        self._threads = threads
        self._claim_lease_s = claim_lease_s
        self._busy_wait_s = busy_wait_s if busy_wait_s is not None else 2 * claim_lease_s
        self._inbox = Inbox(
            redis=redis, group=self.group, ttl_s=settings.inbox_ttl_s, lease_s=claim_lease_s
        )
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._claims: dict[str, str] = {}  # event_id -> token, renewed while running
        self._inflight: dict[int, MessageLike] = {}
        self._counts = {
            "handled": 0,
            "duplicates": 0,
            "failed": 0,
            "dead_lettered": 0,
            "ignored": 0,
        }

    # -- public ---------------------------------------------------------------------------------

    @property
    def inbox(self) -> Inbox:
        """The group's inbox."""
        return self._inbox

    def stats(self) -> SubscriberStats:
        """A snapshot of the counters."""
        with self._lock:
            return SubscriberStats(in_flight=len(self._inflight), **self._counts)

    def handle_message(self, message: MessageLike) -> None:
        """Process one message (the streaming-pull callback). Never raises.

        Acks when the event was handled (now or before), ignored, or dead-lettered; nacks when
        a handler raised, Redis or the dead-letter topic failed, or the subscriber is stopping.
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

    def run(self, stop_event: threading.Event) -> int:
        """Pull and handle until ``stop_event`` is set; then shut down gracefully.

        Returns:
            How many messages were still being handled when the grace period ended (they were
            nacked; their threads may still run, so a CLI should exit the process hard).

        Raises:
            PubSubError: the subscription does not exist or access is denied.
        """
        client = self._client or subscriber_client(self.settings)
        renewer = threading.Thread(
            target=self._renew_claims, args=(stop_event,), name="vbq-inbox-renew", daemon=True
        )
        renewer.start()
        backoff_s = 1.0
        _log.info("subscriber.started", subscription=self.subscription_path, group=self.group)
        try:
            while not stop_event.is_set():
                future = self._subscribe(client)
                while not stop_event.wait(0.2) and not future.done():
                    pass
                if stop_event.is_set():
                    return self._shutdown(future)
                exc = future.exception()
                if isinstance(exc, _FATAL):
                    raise PubSubError(f"streaming pull on {self.subscription_path}: {exc}") from exc
                _log.warning("subscriber.stream_ended", error=str(exc), retry_in_s=backoff_s)
                stop_event.wait(random.uniform(backoff_s / 2, backoff_s))
                backoff_s = min(backoff_s * 2, 10.0)
            return 0
        finally:
            if self._client is None:
                client.close()
            _log.info("subscriber.stopped", **self._counts)

    def close(self) -> None:
        """Close the dead-letter publisher if one was created."""
        if self._dead_letter is not None:
            self._dead_letter.close()

    # -- streaming pull -------------------------------------------------------------------------

    def _subscribe(self, client: pubsub_v1.SubscriberClient) -> Any:
        executor = ThreadPoolExecutor(max_workers=self._threads, thread_name_prefix="vbq-handler")
        return client.subscribe(
            self.subscription_path,
            callback=self.handle_message,
            flow_control=pubsub_v1.types.FlowControl(
                max_messages=self.settings.subscriber_max_messages
            ),
            scheduler=ThreadScheduler(executor=executor),
            # Running handlers finish (and their acks are sent) before the stream closes.
            await_callbacks_on_shutdown=True,
        )

    def _shutdown(self, future: Any) -> int:
        self._stopping.set()
        future.cancel()  # stops pulling; queued messages are nacked by the client
        grace_s = self.settings.shutdown_grace_s
        try:
            future.result(timeout=grace_s)
        except FutureTimeoutError:
            with self._lock:
                late = list(self._inflight.values())
                # Stop renewing: the claims expire and a redelivery elsewhere takes over.
                self._claims.clear()
            for message in late:
                message.nack()
            _log.warning("subscriber.grace_expired", grace_s=grace_s, nacked=len(late))
            return len(late)
        except Exception as exc:
            _log.info("subscriber.stream_closed", error=str(exc))
        return 0

    def _renew_claims(self, stop_event: threading.Event) -> None:
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

    # -- one message ----------------------------------------------------------------------------

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
        try:
            status = self._claim(event_id, token)
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
            self._run_handlers(message, event, regs)
            self._complete(event_id)
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

    def _complete(self, event_id: str) -> None:
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
                self._inbox.complete(event_id)
                return
            except redis_lib.RedisError as exc:
                if time.monotonic() + pause_s > deadline:
                    raise
                _log.warning("subscriber.complete_retry", event_id=event_id, error=str(exc))
                time.sleep(pause_s)
                pause_s = min(pause_s * 2, 1.0)

    def _claim(self, event_id: str, token: str) -> ClaimStatus:
        status = self._inbox.claim(event_id, token)
        deadline = time.monotonic() + self._busy_wait_s
        # Another process is running this event: wait for its outcome rather than nack, which
        # would bounce the message straight back (a hot loop between two processes).
        while status is ClaimStatus.BUSY and time.monotonic() < deadline:
            if self._stopping.wait(0.25):
                break
            status = self._inbox.claim(event_id, token)
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
