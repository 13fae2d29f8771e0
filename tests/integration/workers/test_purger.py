"""``vbq.purge``: Vertex jobs of deleted submissions are deleted at Google, under the read
limit, until Google confirms (404 counts as done); transient errors leave them for later."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis

from vbq.errors import VertexPermanentError, VertexRetryableError
from vbq.store.keys import VERTEX_DELETES_KEY
from vbq.workers.purger import Purger

pytestmark = pytest.mark.integration

NAMES = [f"projects/p-roject/locations/us-central1/batchPredictionJobs/{i}" for i in range(5)]


@dataclass
class FakeVertex:
    answers: dict[str, Exception] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def delete_batch_prediction_job(self, name: str) -> dict[str, Any]:
        self.calls.append(name)
        if name in self.answers:
            raise self.answers[name]
        return {"name": "op", "done": False}


@dataclass
class FakeLimiter:
    tokens: int = 100
    asked: list[tuple[str, str, str]] = field(default_factory=list)

    def acquire_blocking(self, kind: str, project: str, location: str, timeout_s: float) -> Any:
        self.asked.append((kind, project, location))
        self.tokens -= 1
        return self.tokens >= 0


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


def queue(r: redis.Redis, names: list[str]) -> None:
    r.zadd(VERTEX_DELETES_KEY, {n: float(i) for i, n in enumerate(names)})


def test_deletes_each_job_once_and_counts_404_as_done(r: redis.Redis) -> None:
    queue(r, [*NAMES, "not/a/name"])
    vertex = FakeVertex(
        answers={
            NAMES[1]: VertexPermanentError("gone", status_code=404, status="NOT_FOUND"),
            NAMES[2]: VertexPermanentError("no", status_code=403, status="PERMISSION_DENIED"),
        }
    )
    limiter = FakeLimiter()
    report = Purger(redis=r, vertex=vertex, limiter=limiter).run()
    assert (report.deleted, report.gone, report.dropped, report.left) == (3, 1, 2, 0)
    assert vertex.calls == NAMES
    assert limiter.asked == [("read", "p-roject", "us-central1")] * 5
    assert r.zcard(VERTEX_DELETES_KEY) == 0


def test_transient_errors_and_an_empty_bucket_leave_the_rest(r: redis.Redis) -> None:
    queue(r, NAMES)
    vertex = FakeVertex(answers={NAMES[2]: VertexRetryableError("busy", status_code=429)})
    report = Purger(redis=r, vertex=vertex, limiter=FakeLimiter()).run()
    assert (report.deleted, report.left) == (2, 3)
    assert r.zrange(VERTEX_DELETES_KEY, 0, -1) == NAMES[2:]
    report = Purger(redis=r, vertex=FakeVertex(), limiter=FakeLimiter(tokens=1)).run()
    assert (report.deleted, report.left) == (1, 2)
    assert r.zrange(VERTEX_DELETES_KEY, 0, -1) == NAMES[3:]
