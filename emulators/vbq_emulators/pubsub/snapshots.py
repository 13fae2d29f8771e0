"""Snapshots and Seek: set a subscription's acknowledgment state in bulk.

A snapshot retains the source subscription's unacknowledged backlog at creation and every
message published to its topic afterwards; it expires ``7 days - age of the oldest unacked
message`` after creation (refused when that is under an hour). ``Seek`` to a snapshot makes
exactly its messages unacknowledged; ``Seek`` to a time makes the messages the subscription
retains (its backlog, its acknowledged messages with ``retain_acked_messages``, and the topic's
messages with topic retention) unacknowledged when published at or after the time, and
acknowledged before it. Either way the subscription's filter applies, delivery attempts start
over and outstanding leases end (their ack ids no longer work).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from google.pubsub_v1 import types

from vbq_emulators.pubsub.config import page, validate_name
from vbq_emulators.pubsub.model import StoredMessage
from vbq_emulators.pubsub.state import BrokerState, SnapshotRecord, SubscriptionRecord, b64
from vbq_emulators.pubsub.status import StatusError

__all__ = ["SnapshotOps"]

SnapshotPb: Any = types.Snapshot.pb()

MAX_SNAPSHOT_LIFE_S = 7 * 24 * 3600.0
MIN_SNAPSHOT_LIFE_S = 3600.0


def _timestamp_s(ts: Any) -> float:
    return float(ts.seconds) + float(ts.nanos) / 1e9


def _set_timestamp(ts: Any, epoch_s: float) -> None:
    ts.seconds, ts.nanos = divmod(int(epoch_s * 1e9), 1_000_000_000)


class SnapshotOps(BrokerState):
    """CreateSnapshot ... Seek, with every change journaled."""

    def _attached(self, name: str) -> SubscriptionRecord:
        sub = self._sub(name)
        if sub.config.detached:
            raise StatusError.failed_precondition(f"The subscription is detached ({name}).")
        return sub

    def create_snapshot(self, name: str, subscription: str, labels: dict[str, str]) -> Any:
        """CreateSnapshot (a random name in the subscription's project when ``name`` is '').

        Raises:
            StatusError: INVALID_ARGUMENT (names), NOT_FOUND (subscription), ALREADY_EXISTS,
                FAILED_PRECONDITION (detached, topic deleted, or a backlog so old the snapshot
                would expire within an hour).
        """
        validate_name(subscription, "subscriptions")
        if not name:
            project = subscription.split("/")[1]
            name = f"projects/{project}/snapshots/snapshot-{secrets.token_hex(8)}"
        validate_name(name, "snapshots")
        with self._lock:
            sub = self._attached(subscription)
            if name in self._snapshots:
                raise StatusError.already_exists(f"snapshot={name}")
            if sub.config.topic not in self._topics:
                raise StatusError.failed_precondition(
                    f"The subscription's topic was deleted ({subscription})."
                )
            now_s = self._clock()
            backlog = {n: e.message for n, e in sub.queue.live.items()}
            oldest = min((m.publish_time_s for m in backlog.values()), default=now_s)
            expire_s = min(oldest, now_s) + MAX_SNAPSHOT_LIFE_S
            if expire_s - now_s < MIN_SNAPSHOT_LIFE_S:
                raise StatusError.failed_precondition(
                    "The subscription's backlog is too old: the snapshot would expire in less "
                    "than 1 hour."
                )
            pb = SnapshotPb(name=name, topic=sub.config.topic, labels=labels)
            _set_timestamp(pb.expire_time, expire_s)
            self._add_snapshot(SnapshotRecord(pb, backlog, self._next_number, expire_s))
            self._write(self._snapshot_record(self._snapshots[name]))
            self._flush()
            return pb

    def _snapshot_record(self, snapshot: SnapshotRecord) -> dict[str, Any]:
        return {
            "op": "snap",
            "pb": b64(snapshot.pb.SerializeToString()),
            "held": sorted(snapshot.messages),
            "after": snapshot.after,
        }

    def _add_snapshot(self, snapshot: SnapshotRecord) -> None:
        self._snapshots[snapshot.pb.name] = snapshot
        self._topic_snaps.setdefault(snapshot.pb.topic, set()).add(snapshot.pb.name)

    def _remove_snapshot(self, name: str) -> None:
        snapshot = self._snapshots.pop(name, None)
        if snapshot is not None:
            self._topic_snaps.get(snapshot.pb.topic, set()).discard(name)

    def get_snapshot(self, name: str) -> Any:
        """GetSnapshot. Raises: StatusError NOT_FOUND."""
        with self._lock:
            snapshot = self._snapshots.get(name)
            if snapshot is None:
                raise StatusError.not_found(f"snapshot={name}")
            return snapshot.pb

    def list_snapshots(
        self, project: str, *, page_size: int, page_token: str
    ) -> tuple[list[Any], str]:
        """ListSnapshots of ``projects/P``, by name, and the next page token."""
        with self._lock:
            prefix = f"{project}/snapshots/"
            names, token = page(
                [n for n in self._snapshots if n.startswith(prefix)], page_size, page_token
            )
            return [self._snapshots[n].pb for n in names], token

    def update_snapshot(self, update: Any, paths: list[str]) -> Any:
        """UpdateSnapshot (``labels``, ``expire_time``).

        Raises:
            StatusError: NOT_FOUND, INVALID_ARGUMENT (empty or unknown mask, an expiry in the
                past or more than 7 days after creation).
        """
        if not paths:
            raise StatusError.invalid_argument("The update_mask must not be empty.")
        with self._lock:
            snapshot = self._snapshots.get(update.name)
            if snapshot is None:
                raise StatusError.not_found(f"snapshot={update.name}")
            pb = SnapshotPb()
            pb.CopyFrom(snapshot.pb)
            expire_s = snapshot.expire_s
            for path in paths:
                if path == "labels":
                    pb.labels.clear()
                    pb.labels.update(update.labels)
                elif path == "expire_time":
                    expire_s = _timestamp_s(update.expire_time)
                    if expire_s <= self._clock():
                        raise StatusError.invalid_argument("Invalid expire_time: in the past.")
                    _set_timestamp(pb.expire_time, expire_s)
                else:
                    raise StatusError.invalid_argument(f"Invalid update_mask provided: {path!r}.")
            snapshot.pb, snapshot.expire_s = pb, expire_s
            self._write(self._snapshot_record(snapshot))
            self._flush()
            return pb

    def delete_snapshot(self, name: str) -> None:
        """DeleteSnapshot: its retained messages go. Raises: StatusError NOT_FOUND."""
        with self._lock:
            if name not in self._snapshots:
                raise StatusError.not_found(f"snapshot={name}")
            self._remove_snapshot(name)
            self._write({"op": "delsnap", "name": name})
            self._flush()

    def expire_snapshots(self, now_s: float) -> None:
        """Delete snapshots past their expire time (the timer calls this; caller holds lock)."""
        for name, snapshot in list(self._snapshots.items()):
            if snapshot.expire_s <= now_s:
                self._remove_snapshot(name)
                self._write({"op": "delsnap", "name": name})

    # -- seek -----------------------------------------------------------------------------

    def seek(self, subscription: str, *, time_s: float | None, snapshot: str) -> None:
        """Seek to a time (epoch seconds) or to a snapshot.

        Raises:
            StatusError: NOT_FOUND (subscription or snapshot), INVALID_ARGUMENT (neither target,
                or the snapshot's topic is not the subscription's), FAILED_PRECONDITION
                (detached).
        """
        validate_name(subscription, "subscriptions")
        with self._lock:
            sub = self._attached(subscription)
            retained = self._retained_for(sub)
            if snapshot:
                record = self._snapshots.get(snapshot)
                if record is None:
                    raise StatusError.not_found(f"snapshot={snapshot}")
                if record.pb.topic != sub.config.topic:
                    raise StatusError.invalid_argument(
                        f"The snapshot's topic ({record.pb.topic}) is not the subscription's "
                        f"topic ({sub.config.topic})."
                    )
                unacked = {n: m for n, m in record.messages.items() if self._wanted(sub, m)}
            elif time_s is not None:
                unacked = {n: m for n, m in retained.items() if m.publish_time_s >= time_s}
            else:
                raise StatusError.invalid_argument("Seek needs a time or a snapshot.")
            acked = [m for n, m in retained.items() if n not in unacked]
            self._apply_seek(sub, unacked.values(), acked)
            kept = sorted(m.number for m in acked) if sub.queue.policy.retain_acked else []
            self._write({"op": "seek", "sub": subscription, "live": sorted(unacked), "kept": kept})
            self._flush()

    def _wanted(self, sub: SubscriptionRecord, message: StoredMessage) -> bool:
        cutoff = self._clock() - sub.queue.policy.retention_s
        return message.publish_time_s >= cutoff and sub.filter.matches(message.attributes)

    def _retained_for(self, sub: SubscriptionRecord) -> dict[int, StoredMessage]:
        """Every message the subscription can still bring back, by number."""
        out = {n: e.message for n, e in sub.queue.live.items()}
        for message in sub.queue.retained.values():
            out[message.number] = message
        log = self._topic_logs.get(sub.config.topic)
        if log is not None:
            for message in log.values():
                out[message.number] = message
        return {n: m for n, m in out.items() if self._wanted(sub, m)}

    def _apply_seek(
        self,
        sub: SubscriptionRecord,
        unacked: Iterable[StoredMessage],
        acked: Iterable[StoredMessage],
    ) -> None:
        kept = list(acked) if sub.queue.policy.retain_acked else []
        sub.queue.reset(unacked, kept)
        sub.cond.notify_all()
