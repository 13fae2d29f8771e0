"""Delivery state of one subscription, driven with explicit times (no threads, no sleeps)."""

from __future__ import annotations

import itertools

from vbq_emulators.pubsub.model import EntryState, StoredMessage, StreamState
from vbq_emulators.pubsub.queue import DeliveryPolicy, SubscriptionQueue

_numbers = itertools.count(1)


def msg(key: str = "", *, t: float = 0.0, size: int = 10) -> StoredMessage:
    n = next(_numbers)
    return StoredMessage(
        number=n,
        topic="projects/p/topics/topic",
        data=b"x",
        attributes={},
        ordering_key=key,
        publish_time_s=t,
        pb=None,
        size_bytes=size,
    )


def stream(max_messages: int = 0, max_bytes: int = 0) -> StreamState:
    return StreamState(
        stream_id=1,
        subscription="s",
        client_id="c",
        max_messages=max_messages,
        max_bytes=max_bytes,
        ack_deadline_s=10,
    )


def take(q: SubscriptionQueue, now: float = 0.0, n: int = 100, st: StreamState | None = None):
    return q.take(now_s=now, ack_deadline_s=10, stream=st, max_messages=n)


def test_ordered_keys_release_one_message_at_a_time_in_order() -> None:
    q = SubscriptionQueue(epoch="e", policy=DeliveryPolicy(ordered=True))
    a = [q.add(msg("a")) for _ in range(3)]
    b = [q.add(msg("b")) for _ in range(2)]
    first = take(q)
    assert [e.message for e in first] == [a[0].message, b[0].message]
    assert take(q) == []  # heads are leased: nothing else of a or b is deliverable
    q.ack([a[0].ack_id])
    assert [e.message for e in take(q)] == [a[1].message]
    q.modify([b[0].ack_id], 0, now_s=1)  # nack: b's head comes back before b[1]
    again = take(q, now=1)
    assert again == [b[0]] and b[0].deliveries == 2


def test_unordered_subscription_ignores_keys() -> None:
    q = SubscriptionQueue(epoch="e", policy=DeliveryPolicy(ordered=False))
    for _ in range(3):
        q.add(msg("a"))
    assert len(take(q)) == 3


def test_flow_control_limits_messages_and_bytes() -> None:
    q = SubscriptionQueue(epoch="e", policy=DeliveryPolicy())
    for _ in range(10):
        q.add(msg(size=100))
    st = stream(max_messages=3)
    got = take(q, st=st)
    assert len(got) == 3 and st.outstanding_messages == 3
    assert take(q, st=st) == []
    q.ack([got[0].ack_id])
    assert len(take(q, st=st)) == 1
    assert st.peak_outstanding_messages == 3
    by_bytes = stream(max_bytes=250)
    assert len(take(q, st=by_bytes)) == 2
    big = SubscriptionQueue(epoch="e", policy=DeliveryPolicy())
    big.add(msg(size=1000))
    assert len(take(big, st=stream(max_bytes=250))) == 1  # never starve on one big message


def test_expired_lease_is_redelivered_and_late_ack_still_counts() -> None:
    q = SubscriptionQueue(epoch="e", policy=DeliveryPolicy())
    entry = q.add(msg())
    (leased,) = take(q, now=0)
    old_ack = leased.ack_id
    assert q.tick(5).woke is False
    assert q.tick(10.5).woke is True
    assert entry.state is EntryState.READY
    assert q.ack([old_ack]) == [entry]  # expired but not yet redelivered: the ack wins
    assert take(q, now=11) == []


def test_stale_ack_after_redelivery_is_ignored() -> None:
    q = SubscriptionQueue(epoch="e", policy=DeliveryPolicy())
    q.add(msg())
    (first,) = take(q, now=0)
    old = first.ack_id
    q.tick(11)
    (second,) = take(q, now=11)
    assert second.ack_id != old
    assert q.ack([old]) == []
    assert q.ack([second.ack_id]) == [second]


def test_modack_extends_the_deadline() -> None:
    q = SubscriptionQueue(epoch="e", policy=DeliveryPolicy())
    q.add(msg())
    (e,) = take(q, now=0)
    q.modify([e.ack_id], 30, now_s=5)
    q.tick(20)
    assert e.state is EntryState.LEASED
    q.tick(35.1)
    assert e.state is EntryState.READY


def test_retry_policy_backoff_grows_and_is_capped() -> None:
    policy = DeliveryPolicy(retry_min_backoff_s=1, retry_max_backoff_s=3)
    assert [policy.backoff_s(n) for n in (1, 2, 3, 4)] == [1, 2, 3, 3]
    q = SubscriptionQueue(epoch="e", policy=policy)
    q.add(msg())
    (e,) = take(q, now=0)
    q.modify([e.ack_id], 0, now_s=0)
    assert e.state is EntryState.DELAYED
    assert take(q, now=0.5) == []
    q.tick(0.5)
    assert take(q, now=0.5) == []
    q.tick(1.01)
    assert take(q, now=1.01) == [e]


def test_dead_letter_after_max_delivery_attempts() -> None:
    q = SubscriptionQueue(epoch="e", policy=DeliveryPolicy(max_delivery_attempts=5))
    entry = q.add(msg())
    for attempt in range(1, 5):
        (e,) = take(q)
        assert e.deliveries == attempt
        assert q.modify([e.ack_id], 0, now_s=0) == []
    (e,) = take(q)
    assert e.deliveries == 5
    assert q.modify([e.ack_id], 0, now_s=0) == [entry]
    q.finish(entry)
    assert take(q) == [] and q.live == {}


def test_retention_drops_old_unacked_messages_and_frees_the_key() -> None:
    q = SubscriptionQueue(epoch="e", policy=DeliveryPolicy(retention_s=600, ordered=True))
    old = q.add(msg("k", t=0))
    new = q.add(msg("k", t=500))
    result = q.tick(601)
    assert result.dropped == [old]
    assert take(q, now=601) == [new]
    assert q.tick(2000).dropped == [new]
    assert q.live == {}


def test_one_delivery_stays_below_the_grpc_message_limit() -> None:
    q = SubscriptionQueue(epoch="e", policy=DeliveryPolicy())
    for _ in range(3):
        q.add(msg(size=5 * 1024 * 1024))
    assert len(take(q)) == 1  # 10 MB would not fit in one response
    assert len(take(q)) == 1


def test_leased_lists_current_leases_with_their_modacks() -> None:
    q = SubscriptionQueue(epoch="e", policy=DeliveryPolicy())
    q.add(msg())
    q.add(msg())
    st = stream()
    first, second = take(q, st=st, n=2)
    q.modify([first.ack_id], 30, now_s=1)
    q.modify([first.ack_id], 30, now_s=2)
    q.ack([second.ack_id])
    assert q.leased() == [first]
    assert first.modacks == 2 and first.stream is st
    q.modify([first.ack_id], 0, now_s=3)  # nack
    assert q.leased() == []
    assert take(q, now=3)[0].modacks == 0  # a new lease starts without extensions
