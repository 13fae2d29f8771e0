"""The relay's publisher: one Publish request carries the messages of many ordering keys.

Google's ``PublisherClient`` batches per ordering key. vbq gives every submission its own key,
so its batches hold one message each: one RPC (and one commit thread) per event.
:class:`BatchedPublisher` implements :class:`~vbq.workers.pubsub_publisher.EventPublisher` on
the same client's Publish RPC (``PublisherClient.api.publish``) and packs up to
``max_messages`` messages of any keys of one topic into each request; Pub/Sub keeps the
messages of one key in the order of the request, and the order of requests.

Per-key order, as Google's client keeps it:

- at most one request with messages of a given (topic, key) is in flight; the key's later
  messages wait in the queue (behind it, in publish order) until that request settled;
- a message that Pub/Sub refuses with a permanent error (found by halving a refused request)
  fails and *pauses* its key: the key's later publishes fail at once, until :meth:`resume`;
- transient errors (UNAVAILABLE, DEADLINE_EXCEEDED, ...) are retried without end while the
  publisher is open, so during an outage a future stays pending and completes once Pub/Sub is
  back (what the client does with ordering on).

Messages without a key are not ordered and go with any request.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from google.api_core import exceptions as gexc
from google.pubsub_v1 import types as pubsub_types

from vbq.logs import get_logger
from vbq.pubsub.admin import TRANSIENT_ERRORS, publish_retry, publisher_client
from vbq.settings import Settings

__all__ = ["BatchedPublisher", "PausedKeyError"]

_log = get_logger("vbq.relay")

_MAX_MESSAGES = 1000
"""Pub/Sub's limit of messages per Publish request."""
_MAX_BYTES = 9_000_000
"""Below Pub/Sub's 10 MB per request, leaving room for attributes and framing."""
_TRANSIENT: tuple[type[Exception], ...] = (*TRANSIENT_ERRORS, gexc.RetryError)
"""What ``publish_retry`` retries, and its own give-up: tried again while the publisher is open."""


class PausedKeyError(RuntimeError):
    """A publish to an ordering key that an earlier failed publish paused (see :meth:`resume`)."""


@dataclass(slots=True)
class _Item:
    topic: str
    key: str
    message: Any  # google.pubsub_v1.types.PubsubMessage
    size: int
    future: Future[str]


class BatchedPublisher:
    """:class:`~vbq.workers.pubsub_publisher.EventPublisher` that packs many ordering keys into
    each Publish request (see the module docstring).

    Args:
        client: a ``google.cloud.pubsub_v1.PublisherClient`` (only its ``api`` is used).
        senders: requests in flight at once (threads).
        max_messages: messages per request.
        max_bytes: bytes of message data per request.
        retry_pause_s: wait between attempts after a transient failure, in seconds.
    """

    def __init__(
        self,
        *,
        client: Any,
        senders: int = 2,
        max_messages: int = _MAX_MESSAGES,
        max_bytes: int = _MAX_BYTES,
        retry_pause_s: float = 0.5,
    ) -> None:
        self._client = client
        self._api = client.api
        self._max_messages = max(1, min(max_messages, _MAX_MESSAGES))
        self._max_bytes = max_bytes
        self._retry_pause_s = retry_pause_s
        # Bounded per call so that close() is not stuck behind a long outage; the loop in
        # _send retries again while the publisher is open.
        self._retry = publish_retry().with_timeout(30.0)
        self._cond = threading.Condition()
        self._queue: deque[_Item] = deque()
        self._busy: set[tuple[str, str]] = set()  # (topic, key) with a request in flight
        self._paused: set[tuple[str, str]] = set()
        self._in_flight = 0
        self._closing = False
        self._abandoned = False  # closing during an outage: fail what is queued, send nothing
        self._threads = [
            threading.Thread(target=self._send_loop, name=f"vbq-publish-{i}", daemon=True)
            for i in range(max(1, senders))
        ]
        for thread in self._threads:
            thread.start()

    @classmethod
    def from_settings(cls, settings: Settings) -> BatchedPublisher:
        """Build on ``settings`` (the emulator when ``pubsub_emulator_host`` is set)."""
        return cls(client=publisher_client(settings, enable_message_ordering=True))

    def publish(
        self,
        topic: str,
        data: bytes,
        *,
        attributes: Mapping[str, str],
        ordering_key: str = "",
    ) -> Future[str]:
        """Queue one message; the future resolves to its message id or fails with the reason
        (:class:`PausedKeyError` at once for a paused key)."""
        future: Future[str] = Future()
        future.set_running_or_notify_cancel()  # not cancellable: it settles when Pub/Sub answers
        message = pubsub_types.PubsubMessage(
            data=data, attributes=dict(attributes), ordering_key=ordering_key
        )
        with self._cond:
            if self._closing:
                raise RuntimeError("publisher is closed")
            if ordering_key and (topic, ordering_key) in self._paused:
                future.set_exception(_paused(ordering_key))
                return future
            self._queue.append(_Item(topic, ordering_key, message, len(data), future))
            self._cond.notify()
        return future

    def resume(self, topic: str, ordering_key: str) -> None:
        """Accept messages for ``ordering_key`` again; a no-op when it is not paused."""
        with self._cond:
            self._paused.discard((topic, ordering_key))

    def close(self) -> None:
        """Send what is queued, then stop. During an outage the first failed attempt ends it:
        that request and everything still queued fail (their keys paused), so a shutdown is
        not held for minutes; the relay publishes them again from the outbox."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join()
        self._client.stop()

    # -- sending --------------------------------------------------------------------------------

    def _take(self) -> list[_Item]:
        """The next request's items (one topic, keys not in flight, publish order kept per
        key); called with the condition held."""
        batch: list[_Item] = []
        held: set[tuple[str, str]] = set()  # keys whose earlier message stays queued
        kept: deque[_Item] = deque()
        size = 0
        topic = ""
        while self._queue:
            item = self._queue.popleft()
            ident = (item.topic, item.key)
            if self._abandoned:
                _settle(item, error=RuntimeError("publisher closed during a Pub/Sub outage"))
                continue
            if item.key and ident in self._paused:  # queued behind the failed one: fails too
                _settle(item, error=_paused(item.key))
                continue
            fits = len(batch) < self._max_messages and (
                not batch or size + item.size <= self._max_bytes
            )
            ordered = bool(item.key)
            blocked = ordered and (ident in self._busy or ident in held)
            if fits and not blocked and (not batch or item.topic == topic):
                topic = item.topic
                batch.append(item)
                size += item.size
                continue
            kept.append(item)
            if ordered:
                held.add(ident)
            if not fits:
                break
        kept.extend(self._queue)
        self._queue = kept
        for item in batch:
            if item.key:
                self._busy.add((item.topic, item.key))
        return batch

    def _send_loop(self) -> None:
        while True:
            with self._cond:
                batch = self._take()
                while not batch:
                    if self._closing and not self._queue and self._in_flight == 0:
                        self._cond.notify_all()
                        return
                    self._cond.wait(0.5)
                    batch = self._take()
                self._in_flight += 1
            try:
                self._send(batch)
            except Exception as exc:  # never lose a sender thread, nor leave a future open
                _log.error("relay.publisher_error", error=repr(exc)[:200])
                self._fail(batch, exc)
            finally:
                with self._cond:
                    self._in_flight -= 1
                    for item in batch:
                        self._busy.discard((item.topic, item.key))
                    self._cond.notify_all()

    def _send(self, batch: list[_Item]) -> None:
        """Publish ``batch`` (one topic). A permanent error on several messages is narrowed
        down by halves, so one message Pub/Sub refuses (a schema violation) fails and pauses
        only its own key, not every key that shared its request."""
        topic = batch[0].topic
        while True:
            try:
                response = self._api.publish(
                    topic=topic,
                    messages=[item.message for item in batch],
                    retry=self._retry,
                    timeout=60.0,
                )
            except _TRANSIENT as exc:
                if self._closing:
                    with self._cond:
                        self._abandoned = True
                    self._fail(batch, exc)
                    return
                _log.warning("relay.publish_retrying", topic=topic, error=str(exc)[:200])
                threading.Event().wait(self._retry_pause_s)
                continue
            except Exception as exc:  # permanent
                if len(batch) == 1:
                    self._fail(batch, exc)
                    return
                half = len(batch) // 2
                for part in (batch[:half], batch[half:]):
                    with self._cond:  # a key that failed in the first half stays paused
                        paused = [i for i in part if i.key and (i.topic, i.key) in self._paused]
                    for item in paused:
                        _settle(item, error=_paused(item.key))
                    rest = [i for i in part if i not in paused]
                    if rest:
                        self._send(rest)
                return
            ids = list(response.message_ids)
            if len(ids) != len(batch):
                error = RuntimeError(f"Publish answered {len(ids)} ids for {len(batch)} messages")
                self._fail(batch, error)
                return
            for item, message_id in zip(batch, ids, strict=True):
                _settle(item, result=message_id)
            return

    def _fail(self, batch: list[_Item], exc: BaseException) -> None:
        """Fail ``batch`` and pause its keys (their later messages fail until resumed)."""
        with self._cond:
            self._paused.update((i.topic, i.key) for i in batch if i.key)
        for item in batch:
            _settle(item, error=exc)


def _paused(key: str) -> PausedKeyError:
    return PausedKeyError(f"ordering key {key!r} is paused after a failure")


def _settle(item: _Item, *, result: str | None = None, error: BaseException | None = None) -> None:
    """Answer ``item``'s future once (a second answer, after an error path, is ignored)."""
    if item.future.done():
        return
    if error is not None:
        item.future.set_exception(error)
    else:
        item.future.set_result(result or "")
