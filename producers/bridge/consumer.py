"""The bridge: Pub/Sub messages in, submissions out (``vbq bridge``).

One :class:`Bridge` pulls one or more subscriptions with streaming pull. Each message is either

- a **job request** (JSON body of ``POST /v1/submissions``, see
  :mod:`vbq.producers.bridge.requests`),
  idempotency key defaulting to ``pubsub:{project}/{topic}#{message_id}``; or
- a **Cloud Storage notification** (attributes ``eventType``, ``bucketId``, ``objectId``, see
  :mod:`vbq.producers.bridge.notifications`), turned into a request by the first matching rule
  (:mod:`vbq.producers.bridge.rules`), key ``gcs:{bucket}/{object}#{generation}``. Other event
  types than ``OBJECT_FINALIZE`` and objects no rule matches are acked and counted.

Messages are handled in small batches by one thread: parse, then ``Client.submit_many``
(one pipelined ``store.create_many``, one broker round trip for the ``vbq.submit`` tasks).

Ack rules (at-least-once in, exactly-once submissions):

- A message is acked only after ``store.create`` returned for it: the record is in Redis (AOF)
  in state ACCEPTED. Its ``vbq.submit`` task was then published in the same call; if that
  publish failed, the client logs it and the workers' sweeper re-enqueues ACCEPTED records
  older than 60 s, so the ack does not wait for the broker (the same guarantee the HTTP API
  gives). A redelivered message maps to the same idempotency key and so to the same submission.
- Invalid messages (not JSON, a broken spec rule, an idempotency conflict) are published to
  the dead-letter topic with the original data and attributes plus ``vbq_error`` (the message),
  ``vbq_error_fields`` (comma-separated field names), ``vbq_subscription`` and
  ``vbq_message_id``, and acked after Pub/Sub confirmed that publish.
- The job store unreachable: the batch is retried here with backoff (the messages stay leased,
  so flow control stops new deliveries) rather than nacked, which would burn the
  subscription's delivery attempts and dead-letter valid requests during a Redis outage.

Backpressure (:mod:`vbq.producers.bridge.backpressure`): the pressure is measured right before each
batch (three Redis reads), so at most one batch lands beyond ``max_backlog``. While paused the
batch is held and nothing is acked; Pub/Sub's flow control stops delivering once
``max_outstanding`` messages are leased, so nothing piles up in the bridge either. After
``release_after_s`` of pause the streams are closed (leased messages nacked back to Pub/Sub for
other consumers) and reopened when the pause ends.

Shutdown: stop taking messages, finish the batch in hand, nack what is queued, close the
streams (pending acks are flushed). The streams, the queue and the hand-back of unhandled
messages are :mod:`vbq.producers.bridge.intake`; parsing, submitting and settling one batch is
:mod:`vbq.producers.bridge.handling`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from google.cloud import pubsub_v1

from vbq.logs import get_logger
from vbq.producers.bridge.backpressure import Backpressure
from vbq.producers.bridge.handling import BatchHandler, Counters, FaultAction, FaultHook, Pending
from vbq.producers.bridge.intake import Intake
from vbq.producers.bridge.rules import RuleSet
from vbq.producers.client import Client
from vbq.pubsub.admin import subscriber_client
from vbq.pubsub.messages import DeadLetterSender
from vbq.settings import Settings

__all__ = ["Bridge", "BridgeStats", "FaultAction", "FaultHook"]

_log = get_logger("vbq.bridge")


@dataclass(frozen=True, kw_only=True)
class BridgeStats:
    """Counters since the bridge was created.

    Attributes:
        received: deliveries taken in (redeliveries count again).
        submitted: deliveries that created a new submission.
        replayed: deliveries whose idempotency key already had a submission (acked, no new one).
        dead_lettered: invalid messages sent to the dead-letter topic.
        ignored: storage notifications of another event type than ``OBJECT_FINALIZE``.
        unmatched: finalize notifications no rule matched.
        nacked: deliveries nacked (shutdown, a failed dead-letter publish, the fault hook).
        dropped: deliveries left to expire by the fault hook.
        store_retries: batches retried because the job store failed.
        outstanding: deliveries taken in and not yet acked, nacked or dropped.
        peak_outstanding: the largest ``outstanding`` seen.
        pauses: how often backpressure paused the bridge.
        paused_s: seconds spent paused.
        stream_releases: how often a long pause closed the streams.
    """

    received: int
    submitted: int
    replayed: int
    dead_lettered: int
    ignored: int
    unmatched: int
    nacked: int
    dropped: int
    store_retries: int
    outstanding: int
    peak_outstanding: int
    pauses: int
    paused_s: float
    stream_releases: int


class Bridge:
    """Consume request and notification subscriptions and submit jobs.

    Args:
        settings: project (paths), dead-letter topic, emulator host, shutdown grace.
        client: the producer client that validates and stores (``Client.from_settings``).
        subscriptions: subscription ids or paths to pull.
        rules: storage-notification rules (None: every notification is "unmatched").
        backpressure: pause policy (None: never pause).
        subscriber: a ``SubscriberClient`` (default: built from settings, closed at the end).
        dead_letter: sink for invalid messages (default: the dead-letter topic).
        max_outstanding: flow control, leased messages per stream (>= 1).
        batch_size: messages per store/broker round trip (1..500).
        batch_latency_s: how long a batch waits to fill, in seconds.
        default_tenant: tenant of request messages that name none.
        allow_message_tenant: False refuses request messages that name a tenant.
        release_after_s: close the streams after a pause this long, in seconds (None: never).
        max_lease_s: the client stops extending a message's lease after this, in seconds.
        lease_extension_s: each lease extension (and the stream's ack deadline), in seconds
            (10..600): how soon Pub/Sub redelivers what a crashed bridge held. Google's default
            of 60 s would leave a killed bridge's messages stranded for a minute.
        topics: subscription path -> topic path, to skip ``GetSubscription`` (tests).
        before_ack: :data:`FaultHook` for tests.

    Raises:
        ValueError: ``max_outstanding`` or ``batch_size`` out of range.
        ConfigError: no project to build subscription paths.
    """

    def __init__(
        self,
        *,
        settings: Settings,
        client: Client,
        subscriptions: Sequence[str],
        rules: RuleSet | None = None,
        backpressure: Backpressure | None = None,
        subscriber: pubsub_v1.SubscriberClient | None = None,
        dead_letter: DeadLetterSender | None = None,
        max_outstanding: int = 100,
        batch_size: int = 100,
        batch_latency_s: float = 0.05,
        default_tenant: str = "default",
        allow_message_tenant: bool = True,
        release_after_s: float | None = 30.0,
        max_lease_s: float = 3600.0,
        lease_extension_s: int = 10,
        topics: Mapping[str, str] | None = None,
        before_ack: FaultHook | None = None,
    ) -> None:
        if max_outstanding < 1:
            raise ValueError(f"max_outstanding must be >= 1, got {max_outstanding}")
        if not 1 <= batch_size <= 500:
            raise ValueError(f"batch_size must be 1..500, got {batch_size}")
        if not subscriptions:
            raise ValueError("give at least one subscription")
        self.settings = settings
        self.client = client
        self.subscriptions = [
            settings.replace(events_subscription=s).events_subscription_path()
            for s in dict.fromkeys(subscriptions)
        ]
        self.rules = rules
        self.backpressure = backpressure
        self.max_outstanding = max_outstanding
        self.batch_size = batch_size
        self.batch_latency_s = batch_latency_s
        self.default_tenant = default_tenant
        self.allow_message_tenant = allow_message_tenant
        self.release_after_s = release_after_s
        self.max_lease_s = max_lease_s
        self.lease_extension_s = lease_extension_s
        self._subscriber = subscriber
        self._topics: dict[str, str] = dict(topics or {})
        self._counters = Counters()
        self._handler = BatchHandler(
            settings=settings,
            client=client,
            rules=rules,
            counters=self._counters,
            topics=self._topics,  # filled in by run() (GetSubscription)
            dead_letter=dead_letter,
            default_tenant=default_tenant,
            allow_message_tenant=allow_message_tenant,
            before_ack=before_ack,
        )
        self._intake = Intake(
            settings=settings,
            subscriptions=self.subscriptions,
            topics=self._topics,
            counters=self._counters,
            settle=self._handler.settle,
            max_outstanding=max_outstanding,
            max_lease_s=max_lease_s,
            lease_extension_s=lease_extension_s,
            batch_size=batch_size,
            batch_latency_s=batch_latency_s,
        )

    # -- public ---------------------------------------------------------------------------------

    def stats(self) -> BridgeStats:
        """A snapshot of the counters."""
        bp = self.backpressure
        counts = self._counters.snapshot()
        return BridgeStats(
            **counts,
            pauses=bp.pauses if bp else 0,
            paused_s=bp.paused_total_s() if bp else 0.0,
        )

    def run(self, stop_event: threading.Event) -> None:
        """Pull, submit and ack until ``stop_event`` is set; then shut down gracefully.

        Raises:
            PubSubError: a subscription does not exist or access is denied.
        """
        sub_client = self._subscriber or subscriber_client(self.settings)
        intake = self._intake
        try:
            intake.start(sub_client)
            _log.info("bridge.started", subscriptions=self.subscriptions)
            while not stop_event.is_set():
                intake.keep_streams()
                batch = intake.take_batch(stop_event)
                if batch and self._wait_for_room(batch, stop_event):
                    self._process(batch, stop_event)
        finally:
            intake.release(stop_event)
            if self._subscriber is None:
                sub_client.close()
            self._handler.close()
            _log.info("bridge.stopped", **self._counters.snapshot())

    # -- backpressure ---------------------------------------------------------------------------

    def _paused(self) -> bool:
        """Measure now (a failed measurement keeps the last decision) and say whether to wait."""
        bp = self.backpressure
        if bp is None:
            return False
        try:
            bp.update()
        except Exception as exc:
            _log.warning("bridge.backpressure_check_failed", error=repr(exc))
        return bp.paused

    def _wait_for_room(self, batch: list[Pending], stop_event: threading.Event) -> bool:
        """Hold ``batch`` while paused. True: process it; False: it was nacked (stopping, or
        the pause lasted ``release_after_s`` and the streams were closed until it ends)."""
        interval_s = self.backpressure.check_interval_s if self.backpressure else 0.0
        while self._paused():
            if stop_event.is_set():
                break
            if self._intake.streaming and self._should_release():
                self._intake.release(stop_event, held=batch)
                while self._paused() and not stop_event.wait(interval_s):
                    pass
                return False
            stop_event.wait(interval_s)
        else:
            return True
        # Stopping: the streams close first, then the batch is handed back (see Intake.release).
        self._intake.release(stop_event, held=batch)
        return False

    def _should_release(self) -> bool:
        bp = self.backpressure
        return (
            bp is not None
            and self.release_after_s is not None
            and bp.paused_for_s() >= self.release_after_s
        )

    def _process(self, batch: list[Pending], stop_event: threading.Event) -> None:
        self._handler.process(batch, stop_event, self._intake.requeue)
