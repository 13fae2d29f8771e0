"""The sweeper against a real Redis: which stale submissions get a new submit message."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from vbq.settings import Settings
from vbq.workers.sweeper import DUE_KEY, DueIndex, Sweeper

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


def test_reenqueues_old_accepted_never_published_or_long_overdue(r: redis.Redis) -> None:
    put(r, "young", "ACCEPTED", created=NOW - 10, updated=NOW - 10)
    put(r, "unpublished", "ACCEPTED", created=NOW - 120, updated=NOW - 120)
    put(r, "waiting", "ACCEPTED", created=NOW - 120, updated=NOW - 120)
    put(r, "queued", "ACCEPTED", created=NOW - 500, updated=NOW - 500)
    put(r, "lost", "ACCEPTED", created=NOW - 5000, updated=NOW - 5000)
    due = DueIndex(r)
    due.mark(["waiting"], NOW + 30)  # rescheduled itself: a message is pending
    due.mark(["queued"], NOW - 400)  # behind a broker backlog: not lost, leave it
    due.mark(["lost"], NOW - 700)  # beyond visibility timeout (600) + grace (60)
    sent: list[str] = []
    report = sweeper(r, sent).sweep()
    assert sorted(sent) == ["lost", "unpublished"]
    assert sorted(report.accepted) == ["lost", "unpublished"] and report.total == 2
    # enqueue marks them (here the fake enqueue does not), so mark as a real one would:
    due.mark(sent, NOW)
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


def test_an_unpublished_record_behind_a_marked_backlog_is_found(r: redis.Redis) -> None:
    # 2,500 older records wait for rate-limit tokens (valid marks); one newer was never sent.
    backlog = [f"w{i:05d}" for i in range(2500)]
    pipe = r.pipeline(transaction=False)
    for i, sid in enumerate(backlog):
        pipe.zadd("vbq:idx:state:ACCEPTED", {sid: NOW - 3000 + i * 0.1})
    pipe.execute()
    DueIndex(r).mark(backlog, NOW + 60)
    put(r, "unsent", "ACCEPTED", created=NOW - 200, updated=NOW - 200)
    sent: list[str] = []
    sweeper(r, sent).sweep()
    assert sent == ["unsent"]
