"""Tenant fairness of the scheduler: a late small tenant behind a flood, vs FIFO in the same run.

Starts a private redis-server, the Vertex emulator (in this process; jobs stay PENDING) and
``vbq worker`` processes (their dispatcher thread does the scheduling), at a create limit of
L per second. Rows, each measured from the records' ``created_at`` (accepted) and
``submitted_at`` (created) and the emulator's request log:

* **fair**: tenant A queues ``--flood`` jobs, then tenant B ``--small``; B's p95 wait from
  accept to create, and the steady create rate over the run (>= 0.95 L expected).
* **FIFO baseline**: the same two workloads in one queue (one tenant: strict arrival order);
  B's waits when B is not done within ``--baseline-s`` are lower bounds (``>=``).
* **weights 3:1**: tenants with weights 3 and 1, both backlogged: their shares of creates.
* **priority**: one ``interactive`` job queued behind ``--bulk`` ``bulk`` jobs of the same
  tenant: its wait from accept to create (<= 2 s expected at 10/s).
* **scale**: broker messages (``LPUSH`` on the Redis broker) and Redis commands (``INFO
  commandstats``) per created job with 1,000 and with ``--scale`` submissions queued.

    python -m ops.bench.bench_fairness                 # the issue's sizes, ~4 min
    python -m ops.bench.bench_fairness --quick         # CI-sized
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import redis

PROJECT = "vbq-bench-project"
LOCATION = "us-central1"
WEIGHTED = {"heavy": {"weight": 3}, "light": {"weight": 1}}

HEADER = (
    "| scenario | measure | vbq scheduler | FIFO baseline | ratio | detail |\n"
    "|---|---|---|---|---|---|"
)


def _kwargs(i: int) -> dict[str, Any]:
    return {
        "job_display_name": f"bench-{i}",
        "model_name": "publishers/google/models/gemini-2.0-flash-001",
        "gcs_source": "gs://vbq-bench/in.jsonl",
        "gcs_destination_prefix": "gs://vbq-bench/out",
    }


def p95(values: Sequence[float]) -> float:
    """The 95th percentile (nearest rank) of ``values`` (0 when empty)."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]


def steady_rate(times: Sequence[float], *, skip_first: int) -> float:
    """Creates per second from the ``skip_first``-th to the last."""
    ts = sorted(times)
    if len(ts) < skip_first + 3 or ts[-1] <= ts[skip_first]:
        return 0.0
    return (len(ts) - 1 - skip_first) / (ts[-1] - ts[skip_first])


class Bench:
    """One redis-server, one emulator, ``workers`` worker processes."""

    def __init__(self, *, rate_per_s: float, workers: int, root: Path) -> None:
        from vbq_emulators.vertex import EmulatorConfig, VertexEmulator

        from tests.support.services import ManagedProcess, RedisServer, vbq_argv
        from vbq.producers import Client
        from vbq.settings import Settings

        self.rate_per_s = rate_per_s
        self.server = RedisServer(root / "redis", appendonly=False).start()
        self.emulator = VertexEmulator(config=EmulatorConfig(queued_s=3600.0)).start()
        self.env = {
            **os.environ,
            "VBQ_REDIS_URL": self.server.url,
            "VBQ_BROKER_URL": self.server.url,
            "VBQ_VERTEX_ENDPOINT": self.emulator.url,
            "VBQ_PROJECT": PROJECT,
            "VBQ_LOCATION": LOCATION,
            "VBQ_CREATE_RATE_PER_MIN": f"{rate_per_s * 60:g}",
            "VBQ_MAX_IN_FLIGHT": "1000000",
            "VBQ_TENANT_OVERRIDES": json.dumps(WEIGHTED),
            "VBQ_LOG_FORMAT": "json",
            "VBQ_LOG_LEVEL": "WARNING",
        }
        self.settings = Settings.from_env(self.env)
        self.client = Client.from_settings(self.settings)
        self.redis = redis.Redis.from_url(self.server.url, decode_responses=True)
        argv = vbq_argv("worker", "--pool", "solo", "--queues", "vbq.submit,vbq.maintenance")
        self.procs = [
            ManagedProcess(f"w{i}", argv, log_dir=root / "logs", env=self.env).start()
            for i in range(workers)
        ]
        time.sleep(3.0)  # the workers start (and their dispatcher threads)

    def close(self) -> None:
        for p in self.procs:
            p.kill()
        self.client.close()
        self.redis.close()
        self.emulator.stop()
        self.server.stop()

    def reset(self) -> None:
        self.redis.flushall()
        self.emulator.log.clear()

    def queue(self, tenant: str, n: int, priority: str = "default") -> list[str]:
        result = self.client.submit_many(
            [_kwargs(i) for i in range(n)], tenant=tenant, priority=priority, batch_size=1000
        )
        assert not result.errors, result.errors[:3]
        return [a.submission_id for a in result.accepted]

    def times(self, ids: Sequence[str]) -> list[tuple[float, float | None]]:
        """(accepted, created or None) per id, epoch seconds of the Redis clock."""
        pipe = self.redis.pipeline(transaction=False)
        for sid in ids:
            pipe.hmget(f"vbq:sub:{sid}", "created_at", "submitted_at")
        out = []
        for accepted, created in pipe.execute():
            out.append((float(accepted), float(created) if created else None))
        return out

    def waits(self, ids: Sequence[str], now_s: float) -> tuple[list[float], int]:
        """Accept-to-create waits (now - accepted for those not created yet: lower bounds)."""
        rows = self.times(ids)
        done = sum(1 for _, c in rows if c is not None)
        return [(c if c is not None else now_s) - a for a, c in rows], done

    def wait_created(self, ids: Sequence[str], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(c is not None for _, c in self.times(ids)):
                return True
            time.sleep(0.25)
        return False

    def now_s(self) -> float:
        sec, usec = self.redis.time()
        return float(sec) + float(usec) / 1e6

    def creates_since(self, t0: float) -> list[float]:
        return [e["t"] for e in self.emulator.log.since(t0) if e["method"] == "create"]

    def commandstats(self) -> dict[str, int]:
        info = self.redis.info("commandstats")
        return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in info.items()}


def late_tenant(
    bench: Bench, *, flood: int, small: int, fifo: bool, limit_s: float
) -> dict[str, Any]:
    """A queues ``flood``, then B ``small`` (one tenant when ``fifo``): B's waits and the rate."""
    bench.reset()
    t0 = time.time()
    bench.queue("a", flood)
    time.sleep(2.0)  # A is being served when B arrives
    late = bench.queue("a" if fifo else "b", small)
    finished = bench.wait_created(late, timeout_s=limit_s)
    waits, done = bench.waits(late, bench.now_s())
    creates = bench.creates_since(t0)
    return {
        "p95": p95(waits),
        "done": done,
        "finished": finished,
        "rate": steady_rate(creates, skip_first=bench.settings.create_burst + 1),
        "creates": len(creates),
    }


def weighted_shares(bench: Bench, *, each: int, creates: int) -> dict[str, float]:
    """Both weighted tenants backlogged: shares of the first ``creates`` creates."""
    bench.reset()
    heavy = bench.queue("heavy", each)
    light = bench.queue("light", each)
    deadline = time.monotonic() + creates / bench.rate_per_s * 2 + 30
    while bench.redis.zcard("vbq:idx:state:SUBMITTED") < creates:
        if time.monotonic() > deadline:
            raise RuntimeError("weighted run did not reach its creates")
        time.sleep(0.25)
    rows = {sid: c for sid, (_, c) in zip(heavy + light, bench.times(heavy + light), strict=True)}
    first = sorted((c, sid) for sid, c in rows.items() if c is not None)[:creates]
    heavy_set = set(heavy)
    n_heavy = sum(1 for _, sid in first if sid in heavy_set)
    return {"heavy": n_heavy / len(first), "light": 1 - n_heavy / len(first)}


def interactive_wait(bench: Bench, *, bulk: int) -> float:
    """Seconds from accept to create of one interactive job behind ``bulk`` bulk jobs."""
    bench.reset()
    bench.queue("a", bulk, priority="bulk")
    time.sleep(1.0)
    (urgent,) = bench.queue("a", 1, priority="interactive")
    if not bench.wait_created([urgent], timeout_s=60):
        raise RuntimeError("the interactive job was not created within 60 s")
    ((accepted, created),) = bench.times([urgent])
    assert created is not None
    return created - accepted


def cost_per_create(bench: Bench, *, queued: int, measure: int) -> tuple[float, float]:
    """(broker messages, Redis commands) per created job while ``queued`` wait."""
    bench.reset()
    for start in range(0, queued, 10_000):
        bench.queue("a", min(10_000, queued - start), priority="bulk")
    time.sleep(2.0)
    before_cmds = bench.commandstats()
    before_created = bench.redis.zcard("vbq:idx:state:SUBMITTED")
    deadline = time.monotonic() + measure / bench.rate_per_s * 2 + 30
    while bench.redis.zcard("vbq:idx:state:SUBMITTED") - before_created < measure:
        if time.monotonic() > deadline:
            raise RuntimeError("scale run did not reach its creates")
        time.sleep(0.25)
    after = bench.commandstats()
    created = bench.redis.zcard("vbq:idx:state:SUBMITTED") - before_created
    delta = {k: after.get(k, 0) - before_cmds.get(k, 0) for k in after}
    delta.pop("info", None)
    return delta.get("lpush", 0) / created, sum(delta.values()) / created


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate-per-s", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--flood", type=int, default=3000)
    parser.add_argument("--small", type=int, default=30)
    parser.add_argument("--baseline-s", type=float, default=30.0)
    parser.add_argument("--bulk", type=int, default=1000)
    parser.add_argument("--weighted-creates", type=int, default=200)
    parser.add_argument("--scale", type=int, default=100_000)
    parser.add_argument("--measure", type=int, default=100, help="creates per cost row")
    parser.add_argument("--quick", action="store_true", help="CI-sized (smaller and shorter)")
    args = parser.parse_args(argv)
    if args.quick:
        args.flood, args.baseline_s, args.weighted_creates = 600, 10.0, 80
        args.scale, args.measure, args.bulk = 10_000, 40, 300
    root = Path(tempfile.mkdtemp(prefix="vbq-bench-fair-"))
    bench = Bench(rate_per_s=args.rate_per_s, workers=args.workers, root=root)
    limit = args.rate_per_s
    try:
        fair = late_tenant(bench, flood=args.flood, small=args.small, fifo=False, limit_s=120)
        fifo = late_tenant(
            bench, flood=args.flood, small=args.small, fifo=True, limit_s=args.baseline_s
        )
        shares = weighted_shares(bench, each=args.weighted_creates, creates=args.weighted_creates)
        urgent_s = interactive_wait(bench, bulk=args.bulk)
        small_cost = cost_per_create(bench, queued=1000, measure=args.measure)
        large_cost = cost_per_create(bench, queued=args.scale, measure=args.measure)
    finally:
        bench.close()
    bound = "" if fifo["finished"] else ">= "
    print(HEADER)
    print(
        f"| A {args.flood} then B {args.small} at {limit:g}/s | B p95 accept→create | "
        f"{fair['p95']:.1f} s | {bound}{fifo['p95']:.1f} s | "
        f"{bound}{fifo['p95'] / max(fair['p95'], 1e-9):.1f}x shorter | "
        f"B created: {fair['done']}/{args.small} vs {fifo['done']}/{args.small} "
        f"in {args.baseline_s:g} s |"
    )
    print(
        f"| same run | steady create rate | "
        f"{fair['rate']:.2f}/s ({fair['rate'] / limit:.0%} of L) | "
        f"{fifo['rate']:.2f}/s | {fair['rate'] / max(fifo['rate'], 1e-9):.2f}x | "
        f"{fair['creates']} creates |"
    )
    print(
        f"| weights 3:1, both backlogged | share of first {args.weighted_creates} creates | "
        f"{shares['heavy']:.1%} / {shares['light']:.1%} | 75% / 25% | - | ±5 points expected |"
    )
    print(
        f"| 1 interactive behind {args.bulk} bulk (same tenant) | accept→create | "
        f"{urgent_s:.2f} s | {args.bulk / limit:.0f} s (FIFO: behind all) | "
        f"{args.bulk / limit / max(urgent_s, 1e-9):.0f}x | <= 2 s expected |"
    )
    print(
        f"| {args.scale:,} vs 1,000 queued | broker messages per created job | "
        f"{large_cost[0]:.2f} | {small_cost[0]:.2f} | - | <= 2 expected |"
    )
    print(
        f"| {args.scale:,} vs 1,000 queued | Redis commands per created job | "
        f"{large_cost[1]:.1f} | {small_cost[1]:.1f} | {large_cost[1] / small_cost[1]:.2f}x | "
        "<= 1.5x expected |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
