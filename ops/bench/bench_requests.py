"""Request ingest: ``Client.add_requests`` against ``Client.submit_many`` and raw Redis writes.

All three write to the same private ``redis-server`` (started here, stopped at the end).
``add_requests`` pays for everything a request costs: the ``GenerateContentRequest`` check
against Google's descriptors, the model name, the routing labels and JSONL line, and one
atomic Lua call per request (idempotency, pack assignment, the line and id appended to the
pack, the record, counters), pipelined; no broker message per request (a full pack sends one).
The baselines, measured in the same run: ``submit_many`` of as many job specs (validation,
Lua create and one Celery message each), and a bare pipelined ``HSET`` + ``RPUSH`` per request
(no validation, no atomicity, no idempotency): the Redis floor.

Run from the repository root::

    .venv/bin/python -m ops.bench.bench_requests --count 20000

Prints a markdown table row: count, add_requests/s, submit_many/s, raw Redis writes/s, and
add_requests / submit_many.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import redis

from ops.bench.bench_enqueue import make_items
from tests.support.services import RedisServer
from vbq.producers import Client
from vbq.settings import Settings
from vbq.store import JobStore


def make_requests(count: int) -> list[dict[str, Any]]:
    """``count`` distinct requests of a typical size (a ~200-character prompt, a config)."""
    return [
        {
            "model": "gemini-2.0-flash-001",
            "request": {
                "contents": [
                    {
                        "role": "user",
                        "parts": [
                            {"text": f"Summarise support ticket {i}: " + "lorem ipsum " * 15}
                        ],
                    }
                ],
                "generationConfig": {"temperature": 0.2, "maxOutputTokens": 256},
            },
            "idempotency_key": f"ticket-{i}",
            "metadata": {"ticket": i},
        }
        for i in range(count)
    ]


def bench_add(settings: Settings, items: list[dict[str, Any]], batch: int) -> float:
    client = Client(settings=settings, store=JobStore.from_settings(settings))
    started = time.perf_counter()
    for start in range(0, len(items), batch):
        result = client.add_requests(items[start : start + batch], tenant="bench")
        if result.errors:
            raise SystemExit(f"bench requests were refused: {result.errors[0].message}")
    return time.perf_counter() - started


def bench_submit(settings: Settings, count: int, batch: int) -> float:
    client = Client(settings=settings, store=JobStore.from_settings(settings))
    items = make_items(count)
    started = time.perf_counter()
    for start in range(0, count, batch):
        result = client.submit_many(items[start : start + batch], batch_size=batch)
        if result.errors:
            raise SystemExit(f"bench items were refused: {result.errors[0].message}")
    return time.perf_counter() - started


def bench_raw(url: str, items: list[dict[str, Any]], batch: int) -> float:
    client = redis.Redis.from_url(url)
    started = time.perf_counter()
    for start in range(0, len(items), batch):
        pipe = client.pipeline(transaction=False)
        for item in items[start : start + batch]:
            rid = uuid.uuid4().hex
            line = json.dumps({"request": item["request"]}, separators=(",", ":"))
            pipe.hset(f"raw:req:{rid}", mapping={"state": "PENDING", "tenant": "bench"})
            pipe.rpush("raw:lines", line)
        pipe.execute()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=5_000, help="items per add_requests call")
    parser.add_argument("--aof", action="store_true", help="Redis with AOF fsync always")
    parser.add_argument("--header", action="store_true", help="print the table header")
    args = parser.parse_args(argv)
    items = make_requests(args.count)
    with tempfile.TemporaryDirectory(prefix="vbq-bench-") as tmp:
        server = RedisServer(Path(tmp), appendonly=args.aof).start()
        try:
            settings = Settings.from_env(
                {
                    "VBQ_REDIS_URL": server.url,
                    "VBQ_BROKER_URL": server.url,
                    "VBQ_PROJECT": "bench-project",
                    "VBQ_PACK_PREFIX": "gs://bench-bucket/vbq",
                }
            )
            t_add = bench_add(settings, items, args.batch)
            stored = redis.Redis.from_url(server.url).hget("vbq:requests:counts", "PENDING")
            if int(stored or 0) != args.count:
                raise SystemExit(f"expected {args.count} pending requests, found {stored}")
            t_sub = bench_submit(settings, args.count, min(args.batch, 500))
            t_raw = bench_raw(server.url, items, args.batch)
        finally:
            server.stop()
    add, sub, raw = args.count / t_add, args.count / t_sub, args.count / t_raw
    if args.header:
        print(
            "| requests | add_requests /s | submit_many /s | raw Redis writes /s "
            "| ratio (add_requests / submit_many) |"
        )
        print("|---:|---:|---:|---:|---:|")
    print(f"| {args.count} | {add:,.0f} | {sub:,.0f} | {raw:,.0f} | {add / sub:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
