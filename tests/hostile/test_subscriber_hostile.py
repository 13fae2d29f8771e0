"""The subscriber runtime on hostile messages: dead-letters them, acks, never raises, never runs
a handler; a valid event after them is still handled. Real Redis inbox, fake Pub/Sub message."""

from __future__ import annotations

import json

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hostile.strategies import nested
from tests.unit.subscribers.fakes import FakeDeadLetter, FakeMessage
from vbq.events import JobEvent
from vbq.settings import Settings
from vbq.subscribers import HandlerRegistry, Subscriber

pytestmark = pytest.mark.integration

_RAN: list[str] = []


def _record(event: JobEvent) -> None:
    _RAN.append(event.event_id)


def _subscriber(redis_url: str, dead: FakeDeadLetter) -> Subscriber:
    registry = HandlerRegistry()
    registry.add(_record)
    return Subscriber(
        settings=Settings(project="hostile", redis_url=redis_url, inbox_ttl_s=60),
        redis=redis.Redis.from_url(redis_url),
        registry=registry,
        dead_letter=dead,
        claim_lease_s=1.0,
    )


HOSTILE = st.one_of(
    st.binary(max_size=200),
    st.sampled_from(
        [
            b"",
            b"null",
            b"[]",
            b'{"schema": "vbq.job-event/1"}',
            b'{"schema": "vbq.job-event/2", "event_id": "x:Y"}',
            nested(50_000).encode(),
            nested(50_000, kind="object").encode(),
            b"\xff" * 100,
            json.dumps({"schema": "vbq.job-event/1", "type": "job.nope"}).encode(),
        ]
    ),
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(HOSTILE)
def test_malformed_messages_are_dead_lettered_and_acked(redis_url: str, data: bytes) -> None:
    dead = FakeDeadLetter()
    sub = _subscriber(redis_url, dead)
    _RAN.clear()
    message = FakeMessage(data=data, attributes={"origin": "hostile"})
    sub.handle_message(message)  # must not raise
    try:
        JobEvent.from_json(data)
        valid = True
    except Exception:
        valid = False
    if not valid:
        assert message.outcome == "ack"
        assert [d for d, _ in dead.sent] == [data]
        assert dead.sent[0][1]["origin"] == "hostile" and dead.sent[0][1]["vbq_error"]
        assert _RAN == []


def test_a_valid_event_is_handled_after_a_flood_of_bad_ones(redis_url: str) -> None:
    dead = FakeDeadLetter()
    sub = _subscriber(redis_url, dead)
    _RAN.clear()
    bad = [FakeMessage(data=nested(20_000).encode(), message_id=f"b{i}") for i in range(50)]
    for m in bad:
        sub.handle_message(m)
    good = JobEvent.create(
        type="job.succeeded", submission_id="c" * 32, state="SUCCEEDED", previous_state=None
    )
    msg = FakeMessage(data=good.to_bytes(), attributes=good.attributes(), message_id="g")
    sub.handle_message(msg)
    assert all(m.outcome == "ack" for m in bad)
    assert len(dead.sent) == 50
    assert msg.outcome == "ack"
    assert [good.event_id] == _RAN


def test_dead_letter_topic_down_means_nack_not_crash(redis_url: str) -> None:
    sub = _subscriber(redis_url, FakeDeadLetter(fail=True))
    message = FakeMessage(data=b"not json")
    sub.handle_message(message)
    assert message.outcome == "nack"  # kept for later, never lost, process alive
