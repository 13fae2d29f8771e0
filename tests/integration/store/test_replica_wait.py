"""Acknowledged means replicated: ``JobStore.create`` with ``VBQ_REDIS_WAIT_REPLICAS``.

Real ``redis-server`` processes: a primary, and a replica attached with ``REPLICAOF`` when the
test wants one. The trade-off under test: when no replica confirms in time, the caller gets
:class:`ReplicationTimeoutError` (the record sits on the primary, unacknowledged) instead of an
id that a failover could silently lose; a retry with the same idempotency key returns the same
submission once a replica has it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.services import RedisServer
from tests.unit.store.specs import make_spec
from vbq.errors import ReplicationTimeoutError
from vbq.settings import Settings
from vbq.store import JobStore, NewSubmission
from vbq.store.keys import sub_key

pytestmark = [pytest.mark.integration]


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[RedisServer, RedisServer]]:
    primary = RedisServer(tmp_path / "primary", appendonly=False).start()
    replica = RedisServer(tmp_path / "replica", appendonly=False).start()
    yield primary, replica
    replica.stop()
    primary.stop()


def _store(primary: RedisServer, *, timeout_s: float) -> JobStore:
    settings = Settings(
        redis_url=primary.url,
        project="proj-a",
        location="us-central1",
        redis_wait_replicas=1,
        redis_wait_timeout_s=timeout_s,
    )
    return JobStore.from_settings(settings)


def _attach(replica: RedisServer, primary: RedisServer) -> redis.Redis:
    client = redis.Redis.from_url(replica.url, decode_responses=True)
    client.replicaof("127.0.0.1", primary.port)
    deadline = time.monotonic() + 20
    while client.info("replication").get("master_link_status") != "up":
        assert time.monotonic() < deadline, "replica never linked"
        time.sleep(0.05)
    return client


def test_no_replica_means_an_error_not_an_id(servers: tuple[RedisServer, RedisServer]) -> None:
    primary, _ = servers
    store = _store(primary, timeout_s=0.1)
    t0 = time.monotonic()
    with pytest.raises(ReplicationTimeoutError) as info:
        store.create(NewSubmission(spec=make_spec("a"), tenant="t", idempotency_key="k1"))
    assert 0.1 <= time.monotonic() - t0 < 2.0
    assert (info.value.wanted, info.value.confirmed) == (1, 0)
    # The write reached the primary (unacknowledged): a retry with the key finds it.
    raw = redis.Redis.from_url(primary.url, decode_responses=True)
    assert raw.exists(sub_key(_sid(store, "k1"))) == 1
    with pytest.raises(ReplicationTimeoutError):
        store.create_many([NewSubmission(spec=make_spec("b"), tenant="t")])
    store.close()


def test_with_a_replica_the_record_is_on_it_when_create_returns(
    servers: tuple[RedisServer, RedisServer],
) -> None:
    primary, replica = servers
    on_replica = _attach(replica, primary)
    store = _store(primary, timeout_s=2.0)
    rec, created = store.create(NewSubmission(spec=make_spec("a"), tenant="t"))
    assert created
    # Read straight after the call returned, from the replica: already there.
    assert on_replica.hget(sub_key(rec.id), "state") == "ACCEPTED"
    made = store.create_many(
        [NewSubmission(spec=make_spec(f"m{i}"), tenant="t") for i in range(700)]
    )
    ids = [r[0].id for r in made if not isinstance(r, Exception)]
    assert len(ids) == 700
    pipe = on_replica.pipeline(transaction=False)
    for sid in ids:
        pipe.exists(sub_key(sid))
    assert sum(pipe.execute()) == 700
    store.close()


def test_retry_after_a_timeout_returns_the_same_submission_once_replicated(
    servers: tuple[RedisServer, RedisServer],
) -> None:
    primary, replica = servers
    store = _store(primary, timeout_s=0.1)
    new = NewSubmission(spec=make_spec("a"), tenant="t", idempotency_key="again")
    with pytest.raises(ReplicationTimeoutError):
        store.create(new)
    on_replica = _attach(replica, primary)
    # The replay writes nothing itself; the barrier makes WAIT cover the earlier write.
    rec, created = store.create(new)
    assert not created
    assert rec.id == _sid(store, "again")
    assert on_replica.hget(sub_key(rec.id), "state") == "ACCEPTED"
    store.close()


def _sid(store: JobStore, key: str) -> str:
    from vbq.store.records import submission_id_for

    return submission_id_for("t", key)
