"""OutboxRelay against a real Redis with a scriptable publisher (ordering, outage, lock)."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from tests.integration.events.fake_publisher import FakePublisher
from vbq.events import JobEvent
from vbq.settings import Settings
from vbq.workers.relay import LOCK_KEY, OUTBOX_KEY, OutboxRelay

SETTINGS = Settings(project="p", events_topic="events", dead_letter_topic="dead")
TOPIC = "projects/p/topics/events"
DEAD = "projects/p/topics/dead"
STATES = [
    ("job.submitted", "SUBMITTED"),
    ("job.running", "RUNNING"),
    ("job.succeeded", "SUCCEEDED"),
]


@pytest.fixture
def r(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


def _append(r: redis.Redis, sid: str, type_: str, state: str) -> JobEvent:
    ev = JobEvent.create(type=type_, submission_id=sid, state=state, previous_state=None)
    r.xadd(OUTBOX_KEY, {"event": ev.to_json()})
    return ev


def _relay(
    r: redis.Redis, pub: FakePublisher, settings: Settings = SETTINGS, **kw: object
) -> OutboxRelay:
    return OutboxRelay(redis=r, publisher=pub, settings=settings, **kw)  # type: ignore[arg-type]


def _ids(pub: FakePublisher, key: str | None = None) -> list[str]:
    return [
        JobEvent.from_json(s.data).event_id
        for s in pub.confirmed(TOPIC)
        if key is None or s.ordering_key == key
    ]


def test_publishes_in_stream_order_with_attributes_then_deletes(r: redis.Redis) -> None:
    events = [_append(r, sid, t, s) for t, s in STATES for sid in ("a" * 32, "b" * 32)]
    pub = FakePublisher()
    relay = _relay(r, pub)
    assert relay.drain_once() == len(events)
    assert _ids(pub) == [e.event_id for e in events]
    first = pub.sent[0]
    assert first.topic == TOPIC
    assert first.ordering_key == "a" * 32
    assert first.attributes == events[0].attributes()
    assert r.xlen(OUTBOX_KEY) == 0
    stats = relay.stats()
    assert (stats.published, stats.outbox_depth, stats.in_flight) == (len(events), 0, 0)
    assert relay.drain_once() == 0


def test_failed_publish_stops_only_that_key_and_keeps_its_order(r: redis.Redis) -> None:
    a, b = "a" * 32, "b" * 32
    evs = [
        _append(r, a, *STATES[0]),
        _append(r, b, *STATES[0]),
        _append(r, a, *STATES[1]),  # fails once
        _append(r, a, *STATES[2]),
        _append(r, b, *STATES[1]),
    ]
    target = evs[2].event_id
    failed_once: list[bool] = []

    def fail_a2(item: object) -> bool:
        if failed_once:
            return False
        if JobEvent.from_json(item.data).event_id == target:  # type: ignore[attr-defined]
            failed_once.append(True)
            return True
        return False

    pub = FakePublisher(fail_when=fail_a2)
    relay = _relay(r, pub)
    assert relay.drain_once() == 3  # a1, b1, b2
    assert _ids(pub, b) == [evs[1].event_id, evs[4].event_id]
    assert _ids(pub, a) == [evs[0].event_id]  # a3 was not confirmed ahead of a2
    assert pub.resumed == [a]
    assert r.xlen(OUTBOX_KEY) == 2
    assert relay.stats().failed >= 1
    assert relay.drain_once() == 2
    assert _ids(pub, a) == [evs[0].event_id, evs[2].event_id, evs[3].event_id]
    assert r.xlen(OUTBOX_KEY) == 0


def test_outage_stalls_the_relay_not_the_writers_and_loses_nothing(r: redis.Redis) -> None:
    pub = FakePublisher(mode="hold")
    relay = _relay(r, pub)
    before = [_append(r, f"{i:032x}", *STATES[0]) for i in range(20)]
    assert relay.drain_once(wait_s=0.2) == 0
    # Writers keep appending during the outage.
    after = [_append(r, f"{i:032x}", *STATES[1]) for i in range(20)]
    assert relay.drain_once(wait_s=0.2) == 0
    assert r.xlen(OUTBOX_KEY) == 40
    stats = relay.stats()
    assert stats.in_flight == 40 and stats.oldest_entry_age_s >= 0.0
    # Pending publishes are not published a second time while they wait.
    assert len(pub.sent) == 40
    pub.release_all()
    assert relay.drain_once() == 40
    assert r.xlen(OUTBOX_KEY) == 0
    assert sorted(_ids(pub)) == sorted(e.event_id for e in before + after)
    for i in range(20):
        key = f"{i:032x}"
        assert _ids(pub, key) == [before[i].event_id, after[i].event_id]


def test_types_outside_event_types_are_dropped_unpublished(r: redis.Redis) -> None:
    sid = "c" * 32
    for t, s in STATES:
        _append(r, sid, t, s)
    pub = FakePublisher()
    relay = _relay(r, pub, SETTINGS.replace(event_types=("job.succeeded",)))
    assert relay.drain_once() == 1
    assert [JobEvent.from_json(s.data).type for s in pub.sent] == ["job.succeeded"]
    assert r.xlen(OUTBOX_KEY) == 0
    assert relay.stats().dropped == 2


def test_malformed_entry_goes_to_dead_letter_with_reason(r: redis.Redis) -> None:
    r.xadd(OUTBOX_KEY, {"event": "{not json"})
    r.xadd(OUTBOX_KEY, {"other": "x"})
    good = _append(r, "d" * 32, *STATES[0])
    pub = FakePublisher()
    relay = _relay(r, pub)
    assert relay.drain_once() == 1
    dead = pub.confirmed(DEAD)
    assert [s.data for s in dead] == [b"{not json", b""]
    assert "not JSON" in dead[0].attributes["vbq_error"]
    assert "no 'event' field" in dead[1].attributes["vbq_error"]
    assert _ids(pub) == [good.event_id]
    assert r.xlen(OUTBOX_KEY) == 0
    assert relay.stats().dead_lettered == 2


def test_one_relay_at_a_time_and_takeover_after_the_lease(r: redis.Redis) -> None:
    _append(r, "e" * 32, *STATES[0])
    pub_a, pub_b = FakePublisher(mode="hold"), FakePublisher()
    a = _relay(r, pub_a, lock_ttl_s=1.0, owner="A")
    b = _relay(r, pub_b, lock_ttl_s=1.0, owner="B")
    assert a.drain_once(wait_s=0.1) == 0 and a.holds_lock
    assert b.drain_once(wait_s=0.1) == 0 and not b.holds_lock
    assert pub_b.sent == []
    time.sleep(1.2)  # A stops renewing (a paused process): its lease runs out
    assert b.drain_once() == 1 and b.holds_lock
    token_b = int(r.get(LOCK_KEY).split(b":", 1)[0])
    assert token_b == 2  # fencing token increased
    # A comes back: Pub/Sub confirms its old publish, but it may not delete anything now.
    _append(r, "e" * 32, *STATES[1])
    pub_a.release_all()
    assert a.drain_once(wait_s=0.1) == 0
    assert not a.holds_lock
    assert r.xlen(OUTBOX_KEY) == 1


def test_fenced_delete_refuses_after_the_lock_changed_hands(r: redis.Redis) -> None:
    _append(r, "f" * 32, *STATES[0])
    pub = FakePublisher(mode="hold")
    relay = _relay(r, pub, owner="A")
    relay.drain_once(wait_s=0.05)
    # Someone else took the lock while A waited for Pub/Sub.
    r.set(LOCK_KEY, "99:other", px=10_000)
    pub.release_all()
    assert relay._harvest() == 0  # the confirmed entry is not deleted under a stale lease
    assert r.xlen(OUTBOX_KEY) == 1


def test_run_forever_relays_new_entries_and_releases_the_lock(r: redis.Redis) -> None:
    pub = FakePublisher()
    relay = _relay(r, pub, idle_wait_s=0.2)
    stop = threading.Event()
    thread = relay.start_thread(stop)
    try:
        evs = [_append(r, "9" * 32, t, s) for t, s in STATES]
        deadline = time.monotonic() + 10
        while r.xlen(OUTBOX_KEY) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _ids(pub) == [e.event_id for e in evs]
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert r.get(LOCK_KEY) is None


def test_run_forever_survives_publish_failures_with_backoff(r: redis.Redis) -> None:
    calls = {"n": 0}

    def fail_three(item: object) -> bool:
        calls["n"] += 1
        return calls["n"] <= 3

    pub = FakePublisher(fail_when=fail_three)
    relay = _relay(r, pub, idle_wait_s=0.1, backoff_base_s=0.05, backoff_max_s=0.2)
    ev = _append(r, "8" * 32, *STATES[0])
    stop = threading.Event()
    thread = relay.start_thread(stop)
    try:
        deadline = time.monotonic() + 10
        while r.xlen(OUTBOX_KEY) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(10)
    assert _ids(pub) == [ev.event_id]
    assert relay.stats().failed == 3


class _RaisingPublisher(FakePublisher):
    """Refuses synchronously the first ``raises`` times (a stopped client, say)."""

    raises: int = 2

    def publish(self, topic, data, *, attributes, ordering_key=""):  # type: ignore[no-untyped-def]
        if self.raises > 0:
            self.raises -= 1
            raise RuntimeError("Cannot publish on a stopped publisher.")
        return super().publish(topic, data, attributes=attributes, ordering_key=ordering_key)


def test_synchronous_publish_error_fails_the_entry_not_the_relay(r: redis.Redis) -> None:
    ev = _append(r, "7" * 32, *STATES[0])
    pub = _RaisingPublisher()
    relay = _relay(r, pub)
    assert relay.drain_once() == 0
    assert relay.drain_once() == 0
    assert r.xlen(OUTBOX_KEY) == 1 and relay.stats().failed == 2
    assert relay.drain_once() == 1
    assert _ids(pub) == [ev.event_id]


def test_run_forever_outlives_an_unreachable_redis() -> None:
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    dead = redis.Redis(
        host="127.0.0.1", port=1, socket_connect_timeout=0.1, retry=Retry(NoBackoff(), 0)
    )
    relay = _relay(dead, FakePublisher(), backoff_base_s=0.05, backoff_max_s=0.1)
    stop = threading.Event()
    thread = relay.start_thread(stop)
    time.sleep(0.5)
    assert thread.is_alive()
    stop.set()
    thread.join(5)
    assert not thread.is_alive()


def test_run_forever_publishes_ahead_of_confirmations_and_deletes_only_confirmed(
    r: redis.Redis,
) -> None:
    # Pub/Sub holds every confirmation: the relay keeps reading and publishing batch after
    # batch (up to max_in_flight) instead of waiting for the first batch, and deletes nothing.
    pub = FakePublisher(mode="hold")
    relay = _relay(r, pub, batch_size=10, max_in_flight=35, idle_wait_s=0.1)
    evs = [_append(r, f"{i:032x}", "job.submitted", "SUBMITTED") for i in range(50)]
    stop = threading.Event()
    thread = relay.start_thread(stop)
    try:
        deadline = time.monotonic() + 10
        while len(pub.sent) < 35 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)
        assert len(pub.sent) == 35  # four reads ahead of any confirmation, bounded by the window
        assert r.xlen(OUTBOX_KEY) == 50  # nothing confirmed, nothing deleted
        pub.release_all()
        deadline = time.monotonic() + 10
        while r.xlen(OUTBOX_KEY) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert r.xlen(OUTBOX_KEY) == 0
        assert sorted(_ids(pub)) == sorted(e.event_id for e in evs)
        assert len(pub.sent) == 50  # each published once: nothing re-read while pending
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


def test_run_forever_never_deletes_after_its_lease_changed_hands(r: redis.Redis) -> None:
    pub = FakePublisher(mode="hold")
    relay = _relay(r, pub, idle_wait_s=0.05)
    _append(r, "7" * 32, "job.submitted", "SUBMITTED")
    stop = threading.Event()
    thread = relay.start_thread(stop)
    try:
        deadline = time.monotonic() + 10
        while not pub.sent and time.monotonic() < deadline:
            time.sleep(0.02)
        r.set(LOCK_KEY, "999:someone-else", px=60_000)  # the lease moved while publishing
        pub.release_all()
        time.sleep(0.5)
        assert r.xlen(OUTBOX_KEY) == 1  # the fenced delete refused: at-least-once, never lost
    finally:
        stop.set()
        thread.join(10)
    assert r.get(LOCK_KEY) == b"999:someone-else"
