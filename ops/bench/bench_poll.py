"""Vertex API calls and our own time per poll cycle: vbq's bulk poller against one ``get`` per job.

Starts a private ``redis-server`` and the Vertex emulator (jobs stay unfinished: time scale
1000), creates ``--jobs`` jobs in the emulator labelled ``vbq-submission=<id>`` and the matching
SUBMITTED records in the job store, then:

- vbq: one :class:`vbq.workers.poller.Poller` cycle as the ``vbq.poll`` task runs it (the
  place's poll schedule read, then the cycle with the schedule, :mod:`vbq.store.poll_schedule`;
  list calls filtered by the label, page size 1000), counted by the emulator's own request
  counter;
- baseline: what Google's SDK does per job, one ``get`` per job, over one pooled client.

"Our time" of a cycle is its wall time minus the wall time spent inside the Vertex client's
calls (the emulator runs in another process; the client's HTTP and JSON decoding of the pages
count as Vertex time). The CPU time of this process during the cycle (everything: our code, the
HTTP client, JSON decoding; not Redis, not the emulator) is reported beside it. The steady
state is measured: the cycle after the first one (which writes one transition per job).

Run from the repository root (each size gets fresh servers; 100,000 takes several minutes,
mostly creating the jobs)::

    .venv/bin/python -m ops.bench.bench_poll --jobs 10000 100000 --header

Prints a markdown table (``--header`` adds the header): jobs, vbq calls/cycle, the bound
ceil(N / page size) + 2, cycle wall s, of which in Vertex calls, our time s, our CPU s, first
cycle s (+transitions), per-job get calls, per-job get s, call ratio, time ratio.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import redis

from tests.support.emulators import VertexEmulator
from tests.support.services import RedisServer
from vbq.logs import configure_logging
from vbq.settings import Settings
from vbq.spec import JobSpec, with_submission_label
from vbq.states import SubmissionState
from vbq.store import JobStore, NewSubmission
from vbq.store.poll_schedule import PlaceSchedule
from vbq.vertex import VertexClient
from vbq.workers.poller import CycleReport, Poller, VertexReader

PAGE_SIZE = 1000

PROJECT = "bench-project"
LOCATION = "us-central1"


def _spec(i: int) -> JobSpec:
    return JobSpec.from_sdk_kwargs(
        job_display_name=f"poll-{i}",
        model_name="publishers/google/models/gemini-2.0-flash-001",
        gcs_source="gs://bench-in/in.jsonl",
        gcs_destination_prefix="gs://bench-out/out",
    )


class TimedVertex:
    """The poller's Vertex reads, with the wall time spent inside them added up."""

    def __init__(self, inner: VertexReader) -> None:
        self.inner = inner
        self.seconds = 0.0

    def list_batch_prediction_jobs(
        self, parent: str, *, filter: str = "", page_size: int = 100, page_token: str = ""
    ) -> Any:
        started = time.perf_counter()
        try:
            return self.inner.list_batch_prediction_jobs(
                parent, filter=filter, page_size=page_size, page_token=page_token
            )
        finally:
            self.seconds += time.perf_counter() - started

    def get_batch_prediction_job(self, name: str) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            return self.inner.get_batch_prediction_job(name)
        finally:
            self.seconds += time.perf_counter() - started


def seed(settings: Settings, store: JobStore, jobs: int, threads: int = 8) -> list[str]:
    """Create ``jobs`` emulator jobs and their SUBMITTED records; returns the job names."""
    results = store.create_many(NewSubmission(spec=_spec(i), tenant="bench") for i in range(jobs))
    records = [r for r, _ in results]  # type: ignore[misc]
    local = threading.local()  # one HTTP client per thread: a shared pool broke at 100,000

    def create(rec_index: int) -> str:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = VertexClient.from_settings(settings)
        rec = records[rec_index]
        req = rec.spec.resolve(default_project=PROJECT, default_location=LOCATION)
        body = with_submission_label(req.body, rec.id)
        job = client.create_batch_prediction_job(req.parent, body)
        store.record_attempt(rec.id)
        store.transition(
            rec.id,
            expected={SubmissionState.SUBMITTING},
            new_state=SubmissionState.SUBMITTED,
            updates={"job_name": job["name"], "job": job},
        )
        return str(job["name"])

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(create, range(len(records))))


def _scheduled_cycle(poller: Poller, schedule: PlaceSchedule) -> CycleReport:
    """What the ``vbq.poll`` task does on a tick, with the place due now (``force``)."""
    schedule.due()
    return poller.run_cycle(schedule=schedule, force=True)


def run_one(jobs: int) -> str:
    """Seed ``jobs`` jobs on fresh servers, measure, and return the table row."""
    with tempfile.TemporaryDirectory(prefix="vbq-bench-poll-") as tmp:
        server = RedisServer(Path(tmp) / "redis", appendonly=False).start()
        emulator = VertexEmulator(Path(tmp) / "logs", time_scale=1000.0).start()
        try:
            settings = Settings.from_env(
                {
                    "VBQ_REDIS_URL": server.url,
                    "VBQ_PROJECT": PROJECT,
                    "VBQ_LOCATION": LOCATION,
                    "VBQ_VERTEX_ENDPOINT": emulator.url,
                    "VBQ_READ_RATE_PER_MIN": "6000000",
                    "VBQ_READ_BURST": "100000",
                    "VBQ_POLL_PAGE_SIZE": str(PAGE_SIZE),
                    "VBQ_LOG_LEVEL": "WARNING",
                }
            )
            r = redis.Redis.from_url(settings.redis_url, decode_responses=True)
            store = JobStore(r, settings=settings)
            names = seed(settings, store, jobs)
            if emulator.stats()["unfinished"] < len(names):
                raise SystemExit("emulator jobs finished during the benchmark; raise time_scale")
            poller = Poller.from_settings(settings, r)
            vertex = poller.vertex
            timed = TimedVertex(vertex)
            poller.vertex = timed
            # The first cycle also writes one transition per job (SUBMITTED -> QUEUED);
            # the second is the steady state of a fleet of unfinished jobs.
            schedule = PlaceSchedule(r, settings=settings)
            started = time.perf_counter()
            first = _scheduled_cycle(poller, schedule)
            first_s = time.perf_counter() - started
            before = emulator.stats()["requests"]
            timed.seconds = 0.0
            cpu_started = time.process_time()
            started = time.perf_counter()
            report = _scheduled_cycle(poller, schedule)
            cycle_s = time.perf_counter() - started
            cpu_s = time.process_time() - cpu_started
            vertex_s = timed.seconds
            after = emulator.stats()["requests"]
            vbq_calls = sum(after.get(k, 0) - before.get(k, 0) for k in ("list", "get"))
            if not report.ran or report.jobs_polled != len(names) or vbq_calls != report.api_calls:
                raise SystemExit(f"poll cycle did not cover every job: {report.as_log()}")

            before = emulator.stats()["requests"]
            started = time.perf_counter()
            for name in names:
                vertex.get_batch_prediction_job(name)
            per_job_s = time.perf_counter() - started
            after = emulator.stats()["requests"]
            per_job_calls = after.get("get", 0) - before.get("get", 0)
        finally:
            emulator.stop()
            server.stop()
    bound = math.ceil(len(names) / PAGE_SIZE) + 2
    own_s = cycle_s - vertex_s
    return (
        f"| {len(names)} | {vbq_calls} | {bound} | {cycle_s:.2f} | {vertex_s:.2f} | {own_s:.2f} "
        f"| {cpu_s:.2f} | {first_s:.2f} ({first.jobs_changed}) | {per_job_calls} "
        f"| {per_job_s:.2f} | {per_job_calls / max(vbq_calls, 1):,.0f}x fewer "
        f"| {per_job_s / cycle_s:.1f}x faster |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[10_000], help="one row per size")
    parser.add_argument("--header", action="store_true", help="print the table header too")
    args = parser.parse_args(argv)
    configure_logging(log_format="json", level="WARNING", stream=sys.stderr, force=True)
    if args.header:
        print(
            "| jobs | vbq calls/cycle | bound ceil(N/page)+2 | vbq cycle s | in Vertex calls s "
            "| our time s | our CPU s | first cycle s (+transitions) | per-job get calls "
            "| per-job get s | call ratio | time ratio |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for jobs in args.jobs:
        print(run_one(jobs), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
