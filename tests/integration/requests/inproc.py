"""The request path in one process, step by step: client → packer → submitter → poller →
results task, each a real component on the session's Redis and the emulators, so a test can
fail any step once (a simulated crash) and run the rest again."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis

from tests.support.emulators import VertexEmulator
from vbq.producers import Client
from vbq.requests import RequestState
from vbq.settings import Settings
from vbq.store import JobStore
from vbq.workers.packer import Packer
from vbq.workers.poller import Poller
from vbq.workers.submit import Submitter

MODEL = "gemini-2.0-flash-001"


@dataclass
class Recorder:
    """Stands in for the broker: remembers what would have been sent."""

    submits: list[str] = field(default_factory=list)
    flushes: list[str] = field(default_factory=list)
    splits: list[str] = field(default_factory=list)
    cancels: list[str] = field(default_factory=list)

    def enqueue_submit_many(self, ids: Sequence[str]) -> None:
        self.submits += ids

    def enqueue_cancel(self, submission_id: str) -> None:
        pass

    def enqueue_pack_flush(self, pack_ids: Sequence[str]) -> None:
        self.flushes += pack_ids

    def submit(self, submission_id: str) -> None:
        self.submits.append(submission_id)


class Flow:
    """Every component of the request path on ``settings``."""

    def __init__(self, settings: Settings) -> None:
        from vbq.quota.ratelimit import RateLimiter
        from vbq.quota.slots import Slots
        from vbq.scheduler.dispatcher import Dispatcher
        from vbq.vertex import VertexClient
        from vbq.workers.results import Finisher
        from vbq.workers.split_hook import SplitHook
        from vbq.workers.split_parent import SplitParent
        from vbq.workers.splitter import Splitter

        self.settings = settings
        self.r = redis.Redis.from_url(settings.redis_url)
        text = redis.Redis.from_url(settings.redis_url, decode_responses=True)
        self.recorder = Recorder()
        self.store = JobStore(self.r, settings=settings)
        self.client = Client(settings=settings, store=self.store, enqueuer=self.recorder)  # type: ignore[arg-type]
        self.packer = Packer(redis=self.r, settings=settings, store=self.store)
        self.submitter = Submitter(
            store=JobStore(text, settings=settings),
            vertex=VertexClient.from_settings(settings),
            limiter=RateLimiter(text, settings=settings),
            slots=Slots(text, settings=settings),
            redis_client=text,
            settings=settings,
            split_hook=SplitHook(
                redis=text, settings=settings, send_split=self.recorder.splits.append
            ),
        )
        # Producers only queue: the scheduler's dispatcher publishes (here: records) the submits.
        self.dispatcher = Dispatcher(
            redis_client=text, settings=settings, publish=self.recorder.submits.extend
        )
        self.poller = Poller.from_settings(settings, text)
        self.splitter = Splitter(
            redis=self.r, settings=settings, store=self.store, enqueue_submit=self.recorder.submit
        )
        parents = SplitParent(
            redis=self.r, store=self.store, send_cancel=self.recorder.cancels.append
        )
        self.finisher = Finisher(
            redis=self.r, settings=settings, store=self.store, split_check=parents.check
        )

    def add(self, n: int, *, tenants: int = 1, prefix: str = "q") -> list[Any]:
        handles = []
        for t in range(tenants):
            items = [
                {
                    "model": MODEL,
                    "request": {
                        "contents": [{"role": "user", "parts": [{"text": f"{prefix} {t} {i}"}]}]
                    },
                    "idempotency_key": f"{prefix}-{i}",
                }
                for i in range(n)
            ]
            batch = self.client.add_requests(items, tenant=f"t{t}")
            assert batch.ok, batch.errors
            handles += [h for _, h in batch.handles]
        return handles

    def step(self) -> None:
        """One round of every component (the order beat and the workers would run them)."""
        for pid in list(dict.fromkeys(self.recorder.flushes)):
            self.packer.flush(pid)
        self.recorder.flushes.clear()
        self.packer.tick()
        for sid in list(dict.fromkeys(self.recorder.splits)):
            self.splitter.split(sid)
        self.recorder.splits.clear()
        self.dispatcher.step()
        for sid in list(dict.fromkeys(self.recorder.submits)):
            outcome = self.submitter.run(sid)
            if outcome.final:
                self.recorder.submits.remove(sid)
        self.poller.run_cycle()
        self.finisher.run_once()

    def drive(self, done: Callable[[], bool], *, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not done():
            assert time.monotonic() < deadline, self.counts()
            self.step()
            time.sleep(0.05)

    def counts(self) -> dict[str, int]:
        return self.client._requests()[0].counts()

    def answered(self, n: int) -> Callable[[], bool]:
        def check() -> bool:
            c = self.counts()
            return c.get("SUCCEEDED", 0) + c.get("FAILED", 0) >= n

        return check

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(f[b"event"]) for _, f in self.r.xrange("vbq:outbox")]

    def close(self) -> None:
        self.client.close()


def check_invariants(flow: Flow, vertex: VertexEmulator, handles: list[Any], n: int) -> None:
    """No request lost, none in two packs or jobs, none answered twice, one event per change."""
    counts = flow.counts()
    assert counts.get("PENDING", 0) == 0 and sum(counts.values()) == n, counts
    for h in handles:
        assert h.state.finished, h.to_dict()
    packs = Counter(h.pack_id for h in handles)
    jobs = vertex.jobs()
    by_label = Counter(j["labels"].get("vbq_pack") for j in jobs)
    assert set(by_label) == set(packs), (by_label, packs)
    assert max(by_label.values()) == 1, by_label
    ids = Counter(e["event_id"] for e in flow.events())
    assert max(ids.values()) == 1, [e for e, k in ids.items() if k > 1]
    finished = [
        e
        for e in flow.events()
        if e["type"].startswith("job.")
        and e["state"] in {"SUCCEEDED", "FAILED", "PARTIALLY_SUCCEEDED", "EXPIRED", "CANCELLED"}
    ]
    assert len(finished) == len(packs)
    assert sum(e["results"]["requests"] for e in finished) == n
    assert all(h.record.state in (RequestState.SUCCEEDED, RequestState.FAILED) for h in handles)
