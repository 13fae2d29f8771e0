"""vbq.stats: counters shared by every process, windows on the Redis clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from vbq.stats import WINDOW_S, read_stats, record_create_refusal, record_published

pytestmark = pytest.mark.integration


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


def test_published_and_refusals(raw: redis.Redis) -> None:
    record_published(raw, 3)
    record_published(raw, 0)
    record_published(raw, 2)
    for _ in range(4):
        record_create_refusal(raw, 429, tenant="a")
    record_create_refusal(raw, 429, tenant="b")
    record_create_refusal(raw, 503, tenant="a")  # not a quota refusal: not counted
    snap = read_stats(raw, seconds=60)
    assert snap.counters == {"events_published": 5, "create_429": 5}
    sec = int(raw.time()[0])
    assert snap.now_s == pytest.approx(sec, abs=2)
    windows = snap.windows["create_429"]
    assert len(windows) == 60 // WINDOW_S + 1
    assert [w for w, _ in windows] == sorted(w for w, _ in windows)
    assert sum(c.get("a", 0) for _, c in windows) == 4
    # The windows expire after an hour.
    keys = list(raw.scan_iter("vbq:stats:w:create_429:*"))
    assert keys and all(3500 < raw.ttl(k) <= 3600 for k in keys)


def test_recent_counts_the_open_window_too(raw: redis.Redis) -> None:
    for _ in range(3):  # again if a window boundary passes between the writes and the read
        raw.flushdb()
        current = int(raw.time()[0]) // WINDOW_S
        raw.hset(f"vbq:stats:w:creates:{current}", mapping={"a": 100})
        raw.hset(f"vbq:stats:w:creates:{current - 1}", mapping={"a": 5, "b": 1})
        raw.hset(f"vbq:stats:w:creates:{current - 6}", mapping={"b": 2})
        raw.hset(f"vbq:stats:w:creates:{current - 7}", mapping={"b": 50})
        snap = read_stats(raw, seconds=120)
        if int(snap.now_s) // WINDOW_S == current:
            break
    # 60 s = the open window and the five before it.
    assert snap.recent("creates", seconds=60) == 106
    assert snap.recent("creates", seconds=60, tenant="a") == 105
    assert snap.recent_by_tenant("creates", seconds=60) == {"a": 105, "b": 1}
    assert snap.recent("creates", seconds=70) == 108
    assert snap.recent("creates", seconds=120) == 158
