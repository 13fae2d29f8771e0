"""Create throughput of ``vbq api``: Google's surface vs vbq's own ``POST /v1/submissions``.

One ``vbq api`` process (uvicorn, as deployed) on a private ``redis-server`` (job store and
broker, started here on a free port). The same jobs are created through both doors by
``--threads`` keep-alive HTTP clients, in alternating rounds so that a change in machine load
hits both alike:

* surface: ``POST /v1/projects/P/locations/L/batchPredictionJobs?$alt=json;enum-encoding=int``
  with the REST body Google's SDK sends (checked against Google's message type, mapped to the
  spec, answered as a ``BatchPredictionJob``);
* baseline: ``POST /v1/submissions`` with the SDK's keyword arguments.

Both validate the spec, write the record (one Lua call) and send the ``vbq.submit`` message.
Run from the repository root::

    .venv/bin/python -m ops.bench.bench_surface --creates 2000

Prints a markdown table: creates per door, creates/s, the ratio, p50 and p99 answer times.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import redis

from tests.support.services import ManagedProcess, RedisServer, free_port, vbq_argv
from vbq.producers.api import generate_api_key
from vbq.producers.api.auth import key_file_line

PROJECT = "bench-project"
LOCATION = "us-central1"
SURFACE = f"/v1/projects/{PROJECT}/locations/{LOCATION}/batchPredictionJobs"
MODEL = "publishers/google/models/gemini-2.0-flash-001"


def rest_body(i: int) -> dict[str, Any]:
    """What ``BatchPredictionJob.submit`` sends for job ``i`` (REST JSON)."""
    return {
        "displayName": f"bench-{i}",
        "model": MODEL,
        "inputConfig": {
            "instancesFormat": "jsonl",
            "gcsSource": {"uris": [f"gs://vbq-bench-in/part-{i:06d}.jsonl"]},
        },
        "outputConfig": {
            "predictionsFormat": "jsonl",
            "gcsDestination": {"outputUriPrefix": "gs://vbq-bench-out/results"},
        },
        "labels": {"bench": "surface", "shard": str(i % 16)},
    }


def sdk_kwargs(i: int) -> dict[str, Any]:
    """The same job as ``BatchPredictionJob.submit()`` keyword arguments."""
    return {
        "job_display_name": f"bench-{i}",
        "model_name": MODEL,
        "gcs_source": [f"gs://vbq-bench-in/part-{i:06d}.jsonl"],
        "gcs_destination_prefix": "gs://vbq-bench-out/results",
        "labels": {"bench": "surface", "shard": str(i % 16)},
        "project": PROJECT,
        "location": LOCATION,
    }


def run_round(
    url: str, key: str, *, surface: bool, first: int, count: int, threads: int
) -> tuple[float, list[float]]:
    """Create ``count`` jobs through one door; returns (seconds, answer times in s)."""
    path = f"{SURFACE}?$alt=json;enum-encoding=int" if surface else "/v1/submissions"
    headers = {"Authorization": f"Bearer {key}"}
    per_thread = [list(range(first + t, first + count, threads)) for t in range(threads)]

    def work(indexes: list[int]) -> list[float]:
        times: list[float] = []
        with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
            for i in indexes:
                body = rest_body(i) if surface else sdk_kwargs(i)
                t0 = time.perf_counter()
                resp = http.post(path, json=body)
                times.append(time.perf_counter() - t0)
                if resp.status_code not in (200, 201):
                    raise SystemExit(f"create refused: {resp.status_code} {resp.text[:300]}")
        return times

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = list(pool.map(work, per_thread))
    return time.perf_counter() - started, [t for part in results for t in part]


def p(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` in milliseconds."""
    ordered = sorted(values)
    return 1000.0 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--creates", type=int, default=2000, help="creates per door")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds per door")
    parser.add_argument("--threads", type=int, default=8, help="concurrent HTTP clients")
    args = parser.parse_args(argv)
    per_round = max(1, args.creates // args.rounds)

    with tempfile.TemporaryDirectory(prefix="vbq-bench-surface-") as tmp:
        server = RedisServer(Path(tmp) / "redis", appendonly=False).start()
        key = generate_api_key()
        keys = Path(tmp) / "keys.yaml"
        keys.write_text(key_file_line(key, "bench") + "\n")
        port = free_port()
        api = ManagedProcess(
            "vbq-api",
            vbq_argv("api", "--host", "127.0.0.1", "--port", str(port)),
            log_dir=Path(tmp),
            port=port,
            env={
                "VBQ_REDIS_URL": server.url,
                "VBQ_PROJECT": PROJECT,
                "VBQ_API_KEYS_FILE": str(keys),
                "VBQ_LOG_FORMAT": "json",
                "VBQ_LOG_LEVEL": "WARNING",
            },
        )
        try:
            api.start(wait_timeout_s=60)
            url = f"http://127.0.0.1:{port}"
            # Warm both doors (imports, caches, connection pools) before measuring.
            run_round(url, key, surface=True, first=10**7, count=50, threads=args.threads)
            run_round(url, key, surface=False, first=2 * 10**7, count=50, threads=args.threads)
            seconds = {True: 0.0, False: 0.0}
            times: dict[bool, list[float]] = {True: [], False: []}
            for r in range(args.rounds):
                for surface in (r % 2 == 0, r % 2 == 1):
                    first = (0 if surface else 10**6) + r * per_round
                    took, answers = run_round(
                        url,
                        key,
                        surface=surface,
                        first=first,
                        count=per_round,
                        threads=args.threads,
                    )
                    seconds[surface] += took
                    times[surface] += answers
            stored = sum(1 for _ in redis.Redis.from_url(server.url).scan_iter("vbq:sub:*"))
            expected = 100 + 2 * per_round * args.rounds
            if stored != expected:
                raise SystemExit(f"expected {expected} submissions, found {stored}")
        finally:
            api.stop()
            server.stop()
    rate = {door: len(times[door]) / seconds[door] for door in (True, False)}
    print(
        "| creates per door | threads | surface creates/s | /v1/submissions creates/s | ratio "
        "| surface p50 ms | surface p99 ms | /v1/submissions p99 ms |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {len(times[True])} | {args.threads} | {rate[True]:,.0f} | {rate[False]:,.0f} "
        f"| {rate[True] / rate[False]:.2f} | {statistics.median(times[True]) * 1000:.1f} "
        f"| {p(times[True], 0.99):.1f} | {p(times[False], 0.99):.1f} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
