"""The dispatcher on a real Redis: fair order, weights, priorities, caps, fencing, grants."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator

import pytest
import redis

from tests.integration.producers.conftest import queued_ids, valid_kwargs
from vbq.producers import Client
from vbq.scheduler.dispatcher import Dispatcher
from vbq.scheduler.keys import LOCK_KEY, grant_key
from vbq.settings import Settings

pytestmark = pytest.mark.integration


def make_settings(redis_url: str, **env: str) -> Settings:
    return Settings.from_env(
        {
            "VBQ_REDIS_URL": redis_url,
            "VBQ_BROKER_URL": redis_url,
            "VBQ_PROJECT": "proj-one",
            "VBQ_CREATE_RATE_PER_MIN": "6000000",
            "VBQ_CREATE_BURST": "100000",
            "VBQ_MAX_IN_FLIGHT": "1000000",
            **env,
        }
    )


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


class Recorder:
    """A dispatcher whose publishes are recorded, in order."""

    def __init__(self, r: redis.Redis, settings: Settings) -> None:
        self.sent: list[str] = []
        self.dispatcher = Dispatcher(
            redis_client=r, settings=settings, publish=self.sent.extend, max_per_round=1
        )

    def take(self, n: int, timeout_s: float = 20.0) -> list[str]:
        start = len(self.sent)
        deadline = time.monotonic() + timeout_s
        while len(self.sent) - start < n:
            assert time.monotonic() < deadline, f"dispatched {len(self.sent) - start} of {n}"
            self.dispatcher.step()
        return self.sent[start : start + n]


def tenant_of(r: redis.Redis, sid: str) -> str:
    return str(r.hget(f"vbq:sub:{sid}", "tenant"))


def submit(client: Client, tenant: str, n: int, priority: str = "default") -> list[str]:
    items = [valid_kwargs(i) for i in range(n)]
    result = client.submit_many(items, tenant=tenant, priority=priority)
    assert not result.errors
    return [a.submission_id for a in result.accepted]


def test_a_small_tenant_is_not_stuck_behind_a_flood(redis_url: str, r: redis.Redis) -> None:
    settings = make_settings(redis_url, VBQ_MAX_IN_FLIGHT="1000000")
    client = Client.from_settings(settings)
    flood = submit(client, "a", 300)
    rec = Recorder(r, settings)
    assert rec.take(40) == flood[:40]
    late = submit(client, "b", 10)
    # Now both are backlogged with equal weight: b's ten alternate with a's next ten.
    nxt = rec.take(20)
    assert Counter(tenant_of(r, s) for s in nxt) == {"a": 10, "b": 10}
    assert [s for s in nxt if s in late] == late  # arrival order within the tenant
    client.close()


def test_weights_three_to_one_share_75_25(redis_url: str, r: redis.Redis) -> None:
    settings = make_settings(
        redis_url, VBQ_TENANT_OVERRIDES=json.dumps({"a": {"weight": 3}, "b": {"weight": 1}})
    )
    client = Client.from_settings(settings)
    submit(client, "a", 200)
    submit(client, "b", 200)
    got = Recorder(r, settings).take(200)
    shares = Counter(tenant_of(r, s) for s in got)
    assert shares == {"a": 150, "b": 50}
    client.close()


def test_interactive_overtakes_bulk_of_the_same_tenant(redis_url: str, r: redis.Redis) -> None:
    settings = make_settings(redis_url)
    client = Client.from_settings(settings)
    bulk = submit(client, "a", 200, priority="bulk")
    rec = Recorder(r, settings)
    rec.take(5)
    urgent = client.submit(**valid_kwargs(1), tenant="a", priority="interactive").submission_id
    normal = client.submit(**valid_kwargs(2), tenant="a").submission_id
    assert rec.take(3) == [urgent, normal, bulk[5]]
    assert r.hget(f"vbq:sub:{urgent}", "priority") == "interactive"
    client.close()


def test_in_flight_cap_holds_a_tenant_back_not_the_others(redis_url: str, r: redis.Redis) -> None:
    settings = make_settings(redis_url, VBQ_TENANT_OVERRIDES='{"a": {"max_in_flight": 2}}')
    client = Client.from_settings(settings)
    submit(client, "a", 10)
    others = submit(client, "b", 5)
    rec = Recorder(r, settings)
    got = rec.take(7)
    assert Counter(tenant_of(r, s) for s in got) == {"a": 2, "b": 5}
    for _ in range(5):
        rec.dispatcher.step()
    assert len(rec.sent) == 7  # a waits for its in-flight jobs; b is done
    assert set(got) >= set(others)
    client.close()


def test_dispatch_leaves_a_grant_and_a_due_mark_then_the_queue_empties(
    redis_url: str, r: redis.Redis
) -> None:
    settings = make_settings(redis_url, VBQ_RATE_LIMIT_MARGIN_S="5")
    client = Client.from_settings(settings)
    (sid,) = submit(client, "a", 1)
    assert queued_ids(redis_url) == [sid]
    assert Recorder(r, settings).take(1) == [sid]
    assert r.exists(grant_key(sid)) and r.zscore("vbq:submit:due", sid) is not None
    assert queued_ids(redis_url) == [] and not r.smembers("vbq:sched:places")
    assert r.zcard("vbq:slots:proj-one:us-central1") == 1  # its in-flight slot (short lease)
    client.close()


def test_only_the_lease_holder_dispatches(redis_url: str, r: redis.Redis) -> None:
    settings = make_settings(redis_url)
    client = Client.from_settings(settings)
    ids = submit(client, "a", 6)
    one, two = Recorder(r, settings), Recorder(r, settings)
    one.take(3)
    two.dispatcher.step()
    assert two.sent == []  # standing by
    # One loses its lease (paused past the TTL) and two takes over: one's writes are refused.
    r.delete(LOCK_KEY)
    two.dispatcher._renewed_at = -1e9
    two.take(3)
    assert not one.dispatcher.lease.held or one.dispatcher.step() >= 0
    assert sorted(one.sent + two.sent) == sorted(ids)
    assert len(set(one.sent + two.sent)) == 6
    client.close()
