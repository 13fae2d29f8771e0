"""Event latency: from Vertex finishing a job to the subscriber's handler starting, per poll
interval.

For each ``--intervals`` value it starts the whole pipeline as real processes (the chaos
suite's cluster: Redis, GCS, Vertex and Pub/Sub emulators, a submit worker, a poll worker,
``vbq beat`` with the outbox relay, ``vbq subscribe`` with a recording handler), submits
``--jobs`` jobs spread over one poll interval (each runs ~3 intervals), and measures, for
each job's finished event, ``handler start - job endTime`` (the emulator's ``endTime``; one
host, one clock). The poll interval is the baseline: a poller sees a change up to one
interval late, so the expected median is about half an interval plus the pipeline's cost.

Run from the repository root::

    .venv/bin/python -m ops.bench.bench_latency --intervals 0.5,2,5 --jobs 40

Prints a markdown table (``--header`` adds the header): poll interval, jobs, p50, p99, max,
p50 / interval.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from tests.chaos.cluster import ChaosCluster, ClusterShape
from tests.chaos.recorder import read_handler_runs
from tests.chaos.run import sdk_kwargs
from vbq.producers import Client

_FINISHED = {"SUCCEEDED", "PARTIALLY_SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED"}


def _epoch(rfc3339: str) -> float:
    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def measure(interval_s: float, jobs: int, root: Path, timeout_s: float) -> list[float]:
    """Latencies in seconds of the finished events of ``jobs`` jobs at one poll interval."""
    # Jobs run ~3 intervals (queued 2 s + run 5 s, scaled), so they finish long after the
    # submissions, whose arrival alone triggers a poll (a fresh in-flight job is polled on the
    # next tick); the finishes are then seen only by the interval's own cycles.
    shape = ClusterShape(
        submit_workers=1,
        subscribers=1,
        beats=1,
        vertex_time_scale=max(0.05, 3 * interval_s / 7),
        env_overrides={
            "VBQ_POLL_INTERVAL_S": str(interval_s),
            "VBQ_POLL_MAX_INTERVAL_S": str(interval_s),
        },
    )
    cluster = ChaosCluster(root, shape)
    try:
        cluster.start()
        client = Client.from_settings(cluster.settings())
        spread_s = interval_s  # finishing moments fall all over one poll period
        for i in range(jobs):
            client.submit(**sdk_kwargs(i))
            time.sleep(spread_s / jobs)
        client.close()
        deadline = time.monotonic() + timeout_s
        while True:
            starts: dict[str, dict[str, object]] = {}
            for run in read_handler_runs(cluster.record_dir):
                if run.get("phase") == "start" and run.get("state") in _FINISHED:
                    starts.setdefault(str(run["event_id"]), run)
            if len(starts) >= jobs:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"only {len(starts)} of {jobs} finished events were handled")
            time.sleep(0.5)
        return [
            float(str(run["t"])) - _epoch(str(run["job_end"]))
            for run in starts.values()
            if run.get("job_end")
        ]
    finally:
        cluster.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intervals", default="0.5,2,5", help="poll intervals in seconds")
    parser.add_argument("--jobs", type=int, default=40, help="jobs per interval")
    parser.add_argument("--timeout-s", type=float, default=180.0)
    parser.add_argument("--header", action="store_true", help="print the table header too")
    args = parser.parse_args(argv)
    rows: list[str] = []
    for raw in args.intervals.split(","):
        interval_s = float(raw)
        with tempfile.TemporaryDirectory(prefix="vbq-bench-latency-") as tmp:
            lat = measure(interval_s, args.jobs, Path(tmp), args.timeout_s)
        if not lat:
            raise SystemExit("no latency samples")
        p50 = statistics.median(lat)
        rows.append(
            f"| {interval_s:g} | {len(lat)} | {p50:.2f} | {_percentile(lat, 0.99):.2f} "
            f"| {max(lat):.2f} | {p50 / interval_s:.2f} |"
        )
    if args.header:
        print("| poll interval s | events | p50 s | p99 s | max s | p50 / interval |")
        print("|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
