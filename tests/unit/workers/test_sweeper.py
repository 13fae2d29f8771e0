"""The sweeper against a real Redis: which stale submissions get a new submit message."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from vbq.settings import Settings
from workers.sweeper import DUE_KEY, DueIndex, Sweeper

NOW = 1_800_000_000.0
SETTINGS = Settings(visibility_timeout_s=600)


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


def put(r: redis.Redis, sid: str, state: str, *, created: float, updated: float) -> None:
    r.zadd(f"vbq:idx:state:{state}", {sid: created})
    r.hset(f"vbq:sub:{sid}", mapping={"id": sid, "state": state, "updated_at": repr(updated)})


def sweeper(r: redis.Redis, sent: list[str]) -> Sweeper:
    return Sweeper(redis_client=r, settings=SETTINGS, enqueue=sent.extend, clock=lambda: NOW)


def test_reenqueues_only_old_accepted_without_a_pending_message(r: redis.Redis) -> None:
    put(r, "young", "ACCEPTED", created=NOW - 10, updated=NOW - 10)
    put(r, "lost", "ACCEPTED", created=NOW - 120, updated=NOW - 120)
    put(r, "waiting", "ACCEPTED", created=NOW - 120, updated=NOW - 120)
    put(r, "overdue", "ACCEPTED", created=NOW - 500, updated=NOW - 500)
    due = DueIndex(r)
    due.mark(["waiting"], NOW + 30)  # rescheduled itself: a message is pending
    due.mark(["overdue"], NOW - 90)  # should have run 90 s ago: lost
    sent: list[str] = []
    report = sweeper(r, sent).sweep()
    assert sorted(sent) == ["lost", "overdue"]
    assert sorted(report.accepted) == ["lost", "overdue"] and report.total == 2
    # Marked as just enqueued, so the next sweep leaves them alone.
    sent.clear()
    sweeper(r, sent).sweep()
    assert sent == []


def test_reenqueues_submitting_quiet_for_the_visibility_timeout(r: redis.Redis) -> None:
    put(r, "busy", "SUBMITTING", created=NOW - 5000, updated=NOW - 30)
    put(r, "stuck", "SUBMITTING", created=NOW - 5000, updated=NOW - 700)
    put(r, "stuck-but-due", "SUBMITTING", created=NOW - 5000, updated=NOW - 700)
    DueIndex(r).mark(["stuck-but-due"], NOW - 100)  # within the visibility timeout
    sent: list[str] = []
    report = sweeper(r, sent).sweep()
    assert sent == ["stuck"] and report.submitting == ("stuck",)


def test_clear_and_old_marks_are_forgotten(r: redis.Redis) -> None:
    due = DueIndex(r)
    due.mark(["a", "b"], NOW - 30 * 24 * 3600)
    due.mark(["c"], NOW)
    due.clear("c")
    sweeper(r, []).sweep()
    assert r.zcard(DUE_KEY) == 0
