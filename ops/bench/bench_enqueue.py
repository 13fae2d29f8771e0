"""Enqueue throughput: ``Client.submit_many`` against a bare Celery ``apply_async`` loop.

Both send to the same private ``redis-server`` (started here on a free port, stopped at the
end). vbq's number includes everything a submission costs: SDK-rule validation, resolving its
project, location and model, the atomic Lua create with idempotency and indexes, and its entry in
the scheduler's per-tenant queue (the workers' dispatcher sends the Celery message when the job
can run; the REST body is built by the worker, just before create).
The baseline sends the same SDK kwargs dicts as Celery messages with no validation and no
record, one producer connection, as a naive producer would.

Run from the repository root::

    .venv/bin/python -m ops.bench.bench_enqueue --count 10000

Prints a markdown table row: count, vbq submissions/s, baseline messages/s, ratio.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

from tests.support.services import RedisServer
from vbq.producers import Client
from vbq.scheduler.stats import scheduler_stats
from vbq.settings import Settings
from vbq.spec import JobSpec
from vbq.store import JobStore
from vbq.workers.celery_app import create_app


def make_items(count: int) -> list[dict[str, Any]]:
    """``count`` distinct, valid SDK kwargs dicts."""
    return [
        {
            "job_display_name": f"bench-{i}",
            "model_name": "publishers/google/models/gemini-2.0-flash-001",
            "gcs_source": f"gs://vbq-bench-in/part-{i:06d}.jsonl",
            "gcs_destination_prefix": "gs://vbq-bench-out/results",
            "labels": {"bench": "enqueue", "shard": str(i % 16)},
            "model_parameters": {"temperature": 0.2},
        }
        for i in range(count)
    ]


def bench_vbq(
    settings: Settings, items: list[dict[str, Any]], batch_size: int, budget_s: float
) -> tuple[int, float]:
    """Submit ``items`` through ``Client.submit_many`` in ``batch_size`` slices until done or
    the time budget is spent. Returns (submitted, seconds)."""
    client = Client(settings=settings, store=JobStore.from_settings(settings))
    done = 0
    started = time.perf_counter()
    for start in range(0, len(items), batch_size):
        result = client.submit_many(items[start : start + batch_size], batch_size=batch_size)
        if result.errors:
            raise SystemExit(f"bench items were refused: {result.errors[0].message}")
        done += len(result.accepted)
        if time.perf_counter() - started > budget_s:
            break
    return done, time.perf_counter() - started


def bench_celery(
    settings: Settings, items: list[dict[str, Any]], budget_s: float
) -> tuple[int, float]:
    """Send each kwargs dict as one Celery message over one producer connection."""
    app = create_app(settings)
    done = 0
    started = time.perf_counter()
    with app.producer_or_acquire() as producer:
        for item in items:
            app.send_task("bench.noop", args=[item], queue="bench.noop", producer=producer)
            done += 1
            if done % 500 == 0 and time.perf_counter() - started > budget_s:
                break
    return done, time.perf_counter() - started


def bench_validate(items: list[dict[str, Any]], budget_s: float) -> tuple[int, float]:
    """Validation alone (``JobSpec.from_sdk_kwargs`` + ``target``): the CPU share of vbq."""
    done = 0
    started = time.perf_counter()
    for item in items:
        JobSpec.from_sdk_kwargs(**item).target(
            default_project="bench-project", default_location="us-central1"
        )
        done += 1
        if done % 500 == 0 and time.perf_counter() - started > budget_s:
            break
    return done, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000, help="submissions (default 10000)")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--budget-s", type=float, default=60.0, help="time cap per phase")
    parser.add_argument("--aof", action="store_true", help="Redis with AOF fsync always")
    args = parser.parse_args(argv)

    items = make_items(args.count)
    with tempfile.TemporaryDirectory(prefix="vbq-bench-") as tmp:
        server = RedisServer(Path(tmp), appendonly=args.aof).start()
        try:
            settings = Settings.from_env(
                {
                    "VBQ_REDIS_URL": server.url,
                    "VBQ_BROKER_URL": server.url,
                    "VBQ_PROJECT": "bench-project",
                }
            )
            n_val, t_val = bench_validate(items, args.budget_s)
            n_vbq, t_vbq = bench_vbq(settings, items, args.batch_size, args.budget_s)
            queued = sum(
                sum(row.queued.values())
                for row in scheduler_stats(redis.Redis.from_url(server.url))
            )
            if queued != n_vbq:
                raise SystemExit(f"expected {n_vbq} queued submissions, found {queued}")
            redis.Redis.from_url(server.url).flushall()
            n_cel, t_cel = bench_celery(settings, items, args.budget_s)
        finally:
            server.stop()
    vbq_rate = n_vbq / t_vbq
    cel_rate = n_cel / t_cel
    print("| submissions | vbq submit_many /s | bare apply_async /s | ratio | validate-only /s |")
    print("|---:|---:|---:|---:|---:|")
    print(
        f"| {n_vbq} | {vbq_rate:,.0f} | {cel_rate:,.0f} | {vbq_rate / cel_rate:.2f} "
        f"| {n_val / t_val:,.0f} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
