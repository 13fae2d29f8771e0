"""The relay's publishes in flight: handed to Pub/Sub, not yet settled, kept in stream order.

Every event is published with ordering key = submission id. When a publish fails for good,
Google's client pauses that key and fails its later messages too; the window then holds the
key's next publishes back (:meth:`PublishWindow.paused`) until none of its messages are pending,
and resumes it on the publisher. :meth:`PublishWindow.harvest` hands out the entries that may
leave the outbox without breaking per-key order: an entry whose key has an earlier publish still
pending waits for it, and an entry published after its key failed goes again with the rest of
the key.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, FIRST_EXCEPTION, Future, wait
from dataclasses import dataclass, field

from vbq.logs import get_logger
from vbq.workers.pubsub_publisher import EventPublisher

__all__ = ["Harvest", "PublishWindow"]

_log = get_logger("vbq.relay")


@dataclass
class _Pending:
    key: str
    future: Future[str]
    dead_letter: bool = False


@dataclass
class Harvest:
    """What one :meth:`PublishWindow.harvest` settled.

    Attributes:
        confirmed: stream ids of events Pub/Sub confirmed (delete them from the outbox).
        dead: stream ids of malformed entries the dead-letter topic confirmed (delete them).
        failures: publishes that failed (each entry is published again later).
        reread: some entries must be read again from the oldest one (a key failed, or a paused
            key was resumed whose entries the reads skipped).
    """

    confirmed: list[str] = field(default_factory=list)
    dead: list[str] = field(default_factory=list)
    failures: int = 0
    reread: bool = False

    @property
    def failed(self) -> bool:
        """True when a publish failed in this harvest (the round backs off)."""
        return self.failures > 0


class PublishWindow:
    """Unsettled publishes by outbox stream id, in publish order, and the keys paused.

    Args:
        publisher: where events go; the window resumes paused keys on it.
        topic: the events topic (where ordering keys are paused).
    """

    def __init__(self, publisher: EventPublisher, topic: str) -> None:
        self._publisher = publisher
        self._topic = topic
        self._inflight: dict[str, _Pending] = {}  # stream id -> pending, in publish order
        self._paused: set[str] = set()  # failed keys waiting for their pending to settle

    def __len__(self) -> int:
        return len(self._inflight)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._inflight

    def paused(self, key: str) -> bool:
        """True while ``key`` failed and its earlier publishes have not all settled."""
        return key in self._paused

    def publish(
        self,
        entry_id: str,
        topic: str,
        data: bytes,
        *,
        attributes: dict[str, str],
        ordering_key: str,
        dead_letter: bool = False,
    ) -> None:
        """Hand one entry to the publisher and track it until :meth:`harvest` settles it.

        A publisher that refuses at once (stopped, message too large) fails this entry like a
        failed future would: the key pauses and the round backs off.
        """
        try:
            future = self._publisher.publish(
                topic, data, attributes=attributes, ordering_key=ordering_key
            )
        except Exception as exc:
            future = Future()
            future.set_exception(exc)
        # Dead letters are unordered: each one is its own key, so they never pause events.
        key = f"\0dl:{entry_id}" if dead_letter else ordering_key
        self._inflight[entry_id] = _Pending(key=key, future=future, dead_letter=dead_letter)

    def unsettled(self) -> list[Future[str]]:
        """Futures of the publishes still waiting for Pub/Sub's answer."""
        return [p.future for p in self._inflight.values() if not p.future.done()]

    def wait_settled(self, wait_s: float, *, slice_s: float, between: Callable[[], bool]) -> None:
        """Wait until every publish settled, one failed, ``wait_s`` seconds passed, or
        ``between`` (called every ``slice_s`` seconds, e.g. a lease renewal) returns False."""
        deadline = time.monotonic() + max(0.0, wait_s)
        while True:
            pending = self.unsettled()
            remaining = deadline - time.monotonic()
            if not pending or remaining <= 0:
                return
            # FIRST_EXCEPTION: a failure is worth handling at once (resume the key).
            wait(pending, timeout=min(slice_s, remaining), return_when=FIRST_EXCEPTION)
            if any(f.done() and f.exception() is not None for f in pending):
                return
            if not between():
                return

    def wait_first(self, wait_s: float) -> None:
        """Wait until one unsettled publish settles, at most ``wait_s`` seconds."""
        pending = self.unsettled()
        if pending:
            wait(pending, timeout=max(0.0, wait_s), return_when=FIRST_COMPLETED)

    def harvest(self) -> Harvest:
        """Settle what Pub/Sub answered, in stream order per key; resume drained paused keys."""
        result = Harvest()
        failed_keys: set[str] = set()
        unsettled_keys: set[str] = set()
        for entry_id, p in list(self._inflight.items()):
            if not p.future.done():
                unsettled_keys.add(p.key)
                continue
            if p.key in unsettled_keys:
                # An earlier entry of this key is still pending: keep per-key order of deletes.
                continue
            exc = p.future.exception()
            del self._inflight[entry_id]
            if exc is not None:
                if p.key not in failed_keys:
                    _log.warning(
                        "relay.publish_failed",
                        entry_id=entry_id,
                        ordering_key=p.key if not p.dead_letter else "",
                        error=f"{type(exc).__name__}: {exc}",
                    )
                result.failures += 1
                failed_keys.add(p.key)
                if not p.dead_letter:
                    self._paused.add(p.key)
                continue
            if p.key in failed_keys:
                # Published after an earlier failure of its key; it goes again with the rest
                # of the key so the order on the topic stays the stream order.
                continue
            (result.dead if p.dead_letter else result.confirmed).append(entry_id)
        result.reread = bool(failed_keys)
        pending_keys = {p.key for p in self._inflight.values()}
        for key in list(self._paused):
            if key not in pending_keys:
                self._publisher.resume(self._topic, key)
                self._paused.discard(key)
                # Reads skipped this key's entries while it was paused: read them again.
                result.reread = True
        return result

    def clear(self) -> None:
        """Forget everything tracked (the lease changed: the outbox is read again)."""
        self._inflight.clear()
        self._paused.clear()
