"""The emulator's state: topics, subscriptions and messages, behind one lock.

One :class:`threading.RLock` guards everything; each subscription has its own
:class:`threading.Condition` on that lock, so a publish or an ack wakes only the streams of the
subscriptions it touched. A timer thread expires leases, ends backoffs and applies retention.
When a journal is configured, every state change is written to it before the call returns.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from vbq.logs import get_logger
from vbq_emulators.pubsub.delivery import DeliveryOps
from vbq_emulators.pubsub.journal import Journal
from vbq_emulators.pubsub.oidc import TokenSigner
from vbq_emulators.pubsub.push import PushDelivery
from vbq_emulators.pubsub.queue import SubscriptionQueue
from vbq_emulators.pubsub.resources import ResourceOps
from vbq_emulators.pubsub.snapshots import SnapshotOps
from vbq_emulators.pubsub.state import OutgoingMessage
from vbq_emulators.pubsub.topic_config import topic_retention_s

__all__ = ["Broker", "OutgoingMessage"]

log = get_logger(__name__)

TICK_INTERVAL_S = 0.05
"""How often the timer thread looks for expired leases and ended backoffs, seconds."""
COMPACT_MIN_RECORDS = 100_000
"""Journal records before a rewrite is considered (it happens when 3/4 of them are dead)."""


class Broker(ResourceOps, SnapshotOps, DeliveryOps):
    """Topics, subscriptions, snapshots, schemas and messages, safe to call from many gRPC
    threads; pushes the messages of push subscriptions once started.

    Args:
        journal_path: file to persist state to (``None``: memory only). Read back at start.
        clock: current time in epoch seconds (injectable for tests).
        signer: signs OIDC tokens of authenticated push subscriptions (one is made if omitted).
    """

    def __init__(
        self,
        *,
        journal_path: Path | None = None,
        clock: Callable[[], float] = time.time,
        signer: TokenSigner | None = None,
    ) -> None:
        journal = Journal(journal_path) if journal_path is not None else None
        super().__init__(journal=journal, clock=clock)
        self._timer: threading.Thread | None = None
        self._timer_stop = threading.Event()
        self.signer = signer or TokenSigner()
        self.push = PushDelivery(self, signer=self.signer)
        if journal is not None:
            self._load(journal)

    def _subscription_changed(self, name: str) -> None:
        self.push.ensure(name)

    def _load(self, journal: Journal) -> None:
        from vbq_emulators.pubsub.persistence import apply_record, snapshot_records

        with self._lock:
            count = 0
            self._replay_messages = {}
            for record in journal.replay():
                apply_record(self, record)
                count += 1
            self._replay_messages = None
            journal.rewrite(snapshot_records(self))
            log.info("pubsub_journal_loaded", records=count, path=str(journal.path))

    def _maybe_compact(self) -> None:
        # Acked messages stay in the journal until a rewrite; rewrite once they dominate it.
        journal = self._journal
        if journal is None or journal.records_written < COMPACT_MIN_RECORDS:
            return
        live = len(self._topics) + sum(
            len(s.queue.live) + len(s.queue.retained) + 1 for s in self._subs.values()
        )
        live += sum(len(log) for log in self._topic_logs.values())
        live += sum(len(snap.messages) + 1 for snap in self._snapshots.values())
        if journal.records_written > 4 * live:
            from vbq_emulators.pubsub.persistence import snapshot_records

            journal.rewrite(snapshot_records(self))

    def tick(self) -> None:
        """Expire leases, end backoffs, apply retention and dead-lettering, as of now."""
        with self._lock:
            self._maybe_compact()
            now_s = self._clock()
            self.expire_snapshots(now_s)
            for name, log in self._topic_logs.items():
                log.prune(now_s - topic_retention_s(self._topics[name]))
            for sub in list(self._subs.values()):
                result = sub.queue.tick(now_s)
                self._dead_letter(sub, result.exhausted)
                if result.dropped:
                    numbers = [e.message.number for e in result.dropped]
                    self._write({"op": "ack", "sub": sub.name, "n": numbers})
                if result.woke or result.exhausted or result.dropped:
                    sub.cond.notify_all()
            self._flush()

    def start(self) -> None:
        """Start the timer thread and push delivery."""
        if self._timer is None:
            self._timer = threading.Thread(target=self._run_timer, name="pubsub-timer", daemon=True)
            self._timer.start()
            self.push.start()

    def _run_timer(self) -> None:
        while not self._timer_stop.wait(TICK_INTERVAL_S):
            try:
                self.tick()
            except Exception:
                log.exception("pubsub_tick_failed")

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called: streams end and ask clients to reconnect."""
        return self._stopping

    def stop(self) -> None:
        """End every stream's and pull's wait; call before stopping the gRPC server."""
        with self._lock:
            self._stopping = True
            for sub in self._subs.values():
                sub.cond.notify_all()

    def close(self) -> None:
        """Stop the timer thread and close the journal (after the gRPC server stopped)."""
        self.stop()
        self.push.stop()
        self._timer_stop.set()
        if self._timer is not None:
            self._timer.join(timeout=5)
        with self._lock:
            if self._journal is not None:
                self._journal.close()

    def iter_subscriptions(self) -> Iterator[tuple[str, Any, SubscriptionQueue]]:
        """``(name, config, queue)`` of every subscription (call under :attr:`lock`)."""
        for sub in self._subs.values():
            yield sub.name, sub.config, sub.queue

    @property
    def lock(self) -> threading.RLock:
        """The broker's lock (for persistence helpers that read several structures at once)."""
        return self._lock

    def stats(self) -> dict[str, Any]:
        """Counters per subscription and stream, for the admin endpoint and tests."""
        with self._lock:
            subs = {}
            for sub in self._subs.values():
                subs[sub.name] = {
                    **sub.queue.stats(),
                    "streams": [s.to_dict() for s in sub.streams.values()],
                    "closed_streams": [s.to_dict() for s in sub.closed_streams],
                    "push": self.push.stats(sub.name),
                }
            return {
                "topics": sorted(self._topics),
                "snapshots": sorted(self._snapshots),
                "schemas": sorted(self.schemas.schemas),
                "published": self.published,
                "dead_lettered": self.dead_lettered,
                "subscriptions": subs,
            }
