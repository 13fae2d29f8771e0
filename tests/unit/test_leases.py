"""vbq.leases: take/renew/release compare the holder's value; fenced tokens only grow; a fenced
delete refuses once the lease changed hands. Real Redis."""

from __future__ import annotations

import time

import pytest
import redis

from vbq.leases import HeldLease, Leases, fence_of


@pytest.fixture
def r(redis_url: str) -> redis.Redis:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.flushdb()
    return client


def test_take_is_exclusive_and_the_holder_may_ask_again(r: redis.Redis) -> None:
    leases = Leases(r)
    assert leases.take("k", "a", 10) == (True, "a")
    assert leases.take("k", "b", 10) == (False, "a")  # refused, and told who holds it
    r.pexpire("k", 500)
    assert leases.take("k", "a", 10) == (True, "a")  # same value: renewed
    assert r.pttl("k") > 5000


def test_renew_and_release_only_act_for_the_holder(r: redis.Redis) -> None:
    leases = Leases(r)
    leases.take("k", "a", 1)
    assert not leases.renew("k", "b", 10)
    assert r.pttl("k") <= 1000
    assert leases.renew("k", "a", 10)
    assert r.pttl("k") > 5000
    assert not leases.release("k", "b")
    assert r.get("k") == "a"
    assert leases.release("k", "a")
    assert r.get("k") is None
    assert not leases.renew("k", "a", 10)  # gone: a renew never recreates it
    assert r.get("k") is None


def test_an_expired_lease_is_taken_by_the_next_caller(r: redis.Redis) -> None:
    leases = Leases(r)
    leases.take("k", "a", 0.05)
    time.sleep(0.1)
    assert leases.take("k", "b", 10) == (True, "b")
    assert not leases.release("k", "a")  # the old holder cannot drop its successor's lease
    assert r.get("k") == "b"


def test_renew_many_counts_only_leases_still_held(r: redis.Redis) -> None:
    leases = Leases(r)
    leases.take("k1", "a", 1)
    leases.take("k2", "a", 1)
    r.set("k3", "other")
    assert leases.renew_many([("k1", "a"), ("k2", "a"), ("k3", "a"), ("k4", "a")], 10) == 2
    assert leases.renew_many([], 10) == 0
    assert r.pttl("k1") > 5000 and r.pttl("k3") == -1


def test_fenced_tokens_grow_with_every_new_lease(r: redis.Redis) -> None:
    leases = Leases(r)
    first = leases.take_fenced("lock", "fence", 10)
    assert first.held and first.value == "1"  # no owner: the bare token
    assert leases.take_fenced("lock", "fence", 10) == (False, "1")
    assert leases.take_fenced("lock", "fence", 10, held="1") == (True, "1")  # renewal
    assert leases.release("lock", "1")
    second = leases.take_fenced("lock", "fence", 10, owner="host:7")
    assert second == (True, "2:host:7")
    assert fence_of(second.value) == 2 > fence_of(first.value)


def test_fenced_xdel_deletes_only_while_the_lease_holds(r: redis.Redis) -> None:
    leases = Leases(r)
    ids = [r.xadd("s", {"n": str(i)}) for i in range(2500)]  # more than one Lua chunk
    value = leases.take_fenced("lock", "fence", 10, owner="me").value
    assert leases.fenced_xdel("lock", value, "s", ids[:2100]) == 2100
    r.set("lock", "99:other")
    assert leases.fenced_xdel("lock", value, "s", ids[2100:]) is None
    assert r.xlen("s") == 400


def test_held_lease_tracks_acquire_loss_and_release(r: redis.Redis) -> None:
    a = HeldLease(redis=r, key="lock", fence_key="fence", owner="a", ttl_s=5)
    b = HeldLease(redis=r, key="lock", fence_key="fence", owner="b", ttl_s=5)
    assert a.acquire_or_renew() == (True, True)
    assert a.acquire_or_renew() == (True, False)
    assert b.acquire_or_renew() == (False, False) and not b.held and b.fence == 0
    r.xadd("s", {"n": "1"})
    r.delete("lock")  # a's lease ran out
    assert b.acquire_or_renew() == (True, True) and b.fence > a.fence
    assert a.fenced_xdel("s", ["0-1"]) is None and not a.held
    a.release()  # holds nothing: must not touch b's lease
    assert r.get("lock") == b.value
    b.release()
    assert r.get("lock") is None and not b.held
