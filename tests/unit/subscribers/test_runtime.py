"""The per-message logic of the subscriber runtime, with a real Redis and fake messages."""

from __future__ import annotations

import threading
import time

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.unit.subscribers.fakes import FakeDeadLetter, FakeMessage
from vbq.events import JobEvent
from vbq.settings import Settings
from vbq.subscribers import HandlerRegistry, Subscriber, current_delivery
from vbq.subscribers.inbox import inbox_key

SETTINGS = Settings(project="p", events_subscription="subs", inbox_ttl_s=60)


def _event(type_: str = "job.succeeded", state: str = "SUCCEEDED", sid: str = "a" * 32) -> JobEvent:
    return JobEvent.create(type=type_, submission_id=sid, state=state, previous_state="RUNNING")


def _msg(event: JobEvent, **kw: object) -> FakeMessage:
    return FakeMessage(
        data=event.to_bytes(), attributes=event.attributes(), ordering_key=event.ordering_key, **kw
    )  # type: ignore[arg-type]


@pytest.fixture
def r(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


def _subscriber(
    r: redis.Redis, registry: HandlerRegistry, dl: FakeDeadLetter | None = None, **kw: object
) -> Subscriber:
    return Subscriber(
        settings=SETTINGS,
        redis=r,
        registry=registry,
        dead_letter=dl or FakeDeadLetter(),
        **kw,  # type: ignore[arg-type]
    )


def test_handler_runs_once_and_redelivery_is_acked_without_running(r: redis.Redis) -> None:
    calls: list[str] = []
    reg = HandlerRegistry()
    reg.add(lambda e: calls.append(e.event_id), "job.succeeded")
    sub = _subscriber(r, reg)
    ev = _event()
    first, again = _msg(ev), _msg(ev, message_id="m-2")
    sub.handle_message(first)
    sub.handle_message(again)
    assert calls == [ev.event_id]
    assert (first.outcome, again.outcome) == ("ack", "ack")
    assert r.get(inbox_key("subs", ev.event_id)) == b"done"
    assert 0 < r.ttl(inbox_key("subs", ev.event_id)) <= 60
    stats = sub.stats()
    assert (stats.handled, stats.duplicates) == (1, 1)


def test_groups_dedupe_independently(r: redis.Redis) -> None:
    calls: list[str] = []
    reg = HandlerRegistry()
    reg.add(lambda e: calls.append(e.event_id))
    ev = _event()
    _subscriber(r, reg, group="g1").handle_message(_msg(ev))
    _subscriber(r, reg, group="g2").handle_message(_msg(ev))
    assert calls == [ev.event_id, ev.event_id]


def test_failing_handler_nacks_and_releases_the_claim(r: redis.Redis) -> None:
    attempts: list[int] = []
    reg = HandlerRegistry()

    def flaky(event: JobEvent) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("downstream 503")

    reg.add(flaky, "job.succeeded")
    sub = _subscriber(r, reg)
    ev = _event()
    m1 = _msg(ev)
    sub.handle_message(m1)
    assert m1.outcome == "nack"
    assert r.get(inbox_key("subs", ev.event_id)) is None
    m2 = _msg(ev, delivery_attempt=2)
    sub.handle_message(m2)
    assert m2.outcome == "ack" and len(attempts) == 2
    assert sub.stats().failed == 1


def test_partial_failure_reruns_only_unfinished_handlers(r: redis.Redis) -> None:
    calls: list[str] = []
    reg = HandlerRegistry()
    fail = {"b": True}

    def a(event: JobEvent) -> None:
        calls.append("a")

    def b(event: JobEvent) -> None:
        calls.append("b")
        if fail["b"]:
            raise RuntimeError("boom")

    reg.add(a, "*")
    reg.add(b, "*")
    sub = _subscriber(r, reg)
    ev = _event()
    m1 = _msg(ev)
    sub.handle_message(m1)
    fail["b"] = False
    m2 = _msg(ev)
    sub.handle_message(m2)
    assert (m1.outcome, m2.outcome) == ("nack", "ack")
    assert calls == ["a", "b", "b"]
    assert not r.exists(inbox_key("subs", ev.event_id) + ":handlers")


@pytest.mark.parametrize(
    "data",
    [b"not json", b'{"schema": "other/1"}', b"\xff\xfe", b'{"schema": "vbq.job-event/1"}'],
)
def test_malformed_message_is_dead_lettered_with_reason_and_acked(
    r: redis.Redis, data: bytes
) -> None:
    dl = FakeDeadLetter()
    calls: list[str] = []
    reg = HandlerRegistry()
    reg.add(lambda e: calls.append(e.event_id))
    sub = _subscriber(r, reg, dl)
    m = FakeMessage(data=data, attributes={"x": "1"}, message_id="bad-1")
    sub.handle_message(m)
    assert m.outcome == "ack"
    assert calls == []
    ((sent_data, attrs),) = dl.sent
    assert sent_data == data and attrs["x"] == "1" and attrs["vbq_message_id"] == "bad-1"
    assert attrs["vbq_error"]
    assert sub.stats().dead_lettered == 1


def test_dead_letter_failure_nacks(r: redis.Redis) -> None:
    sub = _subscriber(r, HandlerRegistry(), FakeDeadLetter(fail=True))
    m = FakeMessage(data=b"{}")
    sub.handle_message(m)
    assert m.outcome == "nack"


def test_event_without_handler_is_acked(r: redis.Redis) -> None:
    reg = HandlerRegistry()
    reg.add(lambda e: None, "job.failed")
    sub = _subscriber(r, reg)
    m = _msg(_event())
    sub.handle_message(m)
    assert m.outcome == "ack" and sub.stats().ignored == 1


def test_redis_down_nacks_instead_of_running(redis_url: str) -> None:
    dead = redis.Redis(
        host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0)
    )
    calls: list[str] = []
    reg = HandlerRegistry()
    reg.add(lambda e: calls.append(e.event_id))
    sub = _subscriber(dead, reg)
    m = _msg(_event())
    sub.handle_message(m)
    assert m.outcome == "nack" and calls == []


def test_handler_sees_its_delivery(r: redis.Redis) -> None:
    seen = []
    reg = HandlerRegistry()

    def h(event: JobEvent) -> None:
        seen.append(current_delivery())

    reg.add(h)
    sub = _subscriber(r, reg)
    m = _msg(_event(), message_id="m-77", delivery_attempt=3)
    sub.handle_message(m)
    (d,) = seen
    assert d is not None
    assert (d.message_id, d.delivery_attempt, d.group) == ("m-77", 3, "subs")
    assert d.handler.endswith(":test_handler_sees_its_delivery.<locals>.h")
    assert current_delivery() is None


def test_concurrent_delivery_waits_for_the_running_claim(r: redis.Redis) -> None:
    """Two deliveries of one event at once (two processes): the handler runs once."""
    started = threading.Event()
    calls: list[str] = []
    reg = HandlerRegistry()

    def slow(event: JobEvent) -> None:
        calls.append(event.event_id)
        started.set()
        time.sleep(0.5)

    reg.add(slow)
    a = _subscriber(r, reg, claim_lease_s=5.0)
    b = _subscriber(r, reg, claim_lease_s=5.0)
    ev = _event()
    m1, m2 = _msg(ev), _msg(ev, message_id="m-2")
    t = threading.Thread(target=a.handle_message, args=(m1,))
    t.start()
    assert started.wait(5)
    b.handle_message(m2)  # blocks until a's claim is done, then acks as duplicate
    t.join(5)
    assert calls == [ev.event_id]
    assert (m1.outcome, m2.outcome) == ("ack", "ack")
    assert b.stats().duplicates == 1


def test_stale_claim_of_a_dead_process_is_taken_over(r: redis.Redis) -> None:
    ev = _event()
    # A crashed process left a claim with a short lease.
    r.set(inbox_key("subs", ev.event_id), "claim:dead:1", px=300)
    calls: list[str] = []
    reg = HandlerRegistry()
    reg.add(lambda e: calls.append(e.event_id))
    sub = _subscriber(r, reg, claim_lease_s=5.0)
    m = _msg(ev)
    t0 = time.monotonic()
    sub.handle_message(m)
    assert m.outcome == "ack" and calls == [ev.event_id]
    assert time.monotonic() - t0 >= 0.2


def test_busy_claim_beyond_the_wait_nacks(r: redis.Redis) -> None:
    ev = _event()
    r.set(inbox_key("subs", ev.event_id), "claim:other:1", px=10_000)
    calls: list[str] = []
    reg = HandlerRegistry()
    reg.add(lambda e: calls.append(e.event_id))
    sub = _subscriber(r, reg, busy_wait_s=0.3)
    m = _msg(ev)
    sub.handle_message(m)
    assert m.outcome == "nack" and calls == []


def test_handler_runs_stay_bounded_by_threads_while_more_messages_wait(r: redis.Redis) -> None:
    """The pull pool has a thread per flow-control slot; only ``threads`` handlers run at once."""
    running = 0
    peak = 0
    lock = threading.Lock()
    reg = HandlerRegistry()

    def slow(event: JobEvent) -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.1)
        with lock:
            running -= 1

    reg.add(slow)
    sub = _subscriber(r, reg, threads=2)
    msgs = [_msg(_event(sid=f"{i:032x}")) for i in range(8)]
    threads = [threading.Thread(target=sub.handle_message, args=(m,)) for m in msgs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert peak == 2
    assert [m.outcome for m in msgs] == ["ack"] * 8
    assert sub.stats().handled == 8


def test_done_mark_names_the_rerun_window_counts_and_clears_progress(r: redis.Redis) -> None:
    """Inbox.complete: one Lua call writes the mark (rerun-aware), clears per-handler progress
    and counts the event for the console."""
    sub = _subscriber(r, HandlerRegistry())
    inbox = sub.inbox
    window = inbox.set_rerun(since_s=1000.0, until_s=2000.0)
    first, second = _event(sid="c" * 32), _event(sid="d" * 32)
    r.sadd(inbox.key(first.event_id) + ":handlers", "h1")
    inbox.complete(first.event_id, published_s=1500.0)
    inbox.complete(second.event_id, published_s=2000.0)  # the window's end is outside it
    inbox.complete(_event(sid="e" * 32).event_id)  # publish time unknown
    assert r.get(inbox.key(first.event_id)) == f"done:{window.id}".encode()
    assert r.get(inbox.key(second.event_id)) == b"done"
    assert r.get(inbox.key(_event(sid="e" * 32).event_id)) == b"done"
    assert 0 < r.ttl(inbox.key(first.event_id)) <= SETTINGS.inbox_ttl_s
    assert r.exists(inbox.key(first.event_id) + ":handlers") == 0
    counters = r.hgetall("vbq:stats:counters")
    assert counters[b"events_handled"] == b"3"
    assert counters[f"events_handled:{sub.group}".encode()] == b"3"


def test_one_event_delivered_many_times_at_once_runs_once_with_batched_claims(
    r: redis.Redis,
) -> None:
    """Concurrent claims of one process share a Lua call; one event id still runs once."""
    calls: list[str] = []
    reg = HandlerRegistry()

    def slow(event: JobEvent) -> None:
        calls.append(event.event_id)
        time.sleep(0.2)

    reg.add(slow)
    sub = _subscriber(r, reg, claim_lease_s=5.0)
    ev = _event(sid="b" * 32)
    others = [_event(sid=f"{i:032x}") for i in range(6)]
    msgs = [_msg(ev, message_id=f"dup-{i}") for i in range(4)] + [_msg(e) for e in others]
    threads = [threading.Thread(target=sub.handle_message, args=(m,)) for m in msgs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    assert sorted(calls) == sorted([ev.event_id] + [e.event_id for e in others])
    assert [m.outcome for m in msgs] == ["ack"] * len(msgs)
    assert sub.stats().duplicates == 3 and sub.stats().handled == 7
