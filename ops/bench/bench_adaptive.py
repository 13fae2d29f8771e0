"""Adaptive create rate through a 429 storm: vbq's AIMD rate vs the fixed configured rate.

One private redis-server, the Vertex emulator in this process, and two sides that run at the
same time against the same emulator, each with its own Redis database (broker and store), its
own location and its own ``vbq worker`` processes, configured at ``L`` = 20/s (burst 5):

* **adaptive**: ``VBQ_ADAPTIVE_RATE=on`` (defaults: x0.5 per 429, quiet 5 s, +2.5 % of L/s);
* **fixed**: ``VBQ_ADAPTIVE_RATE=off``, the baseline.

Each side queues a backlog with ``Client.submit_many``; at the same moment both locations get
the emulator throttle "429 ``RESOURCE_EXHAUSTED`` to creates over 5 per second for 60 s, then
admit 25 per sliding second". 25 = L + burst: vbq's limiter lets at most floor(L + burst) creates
into any second at Google (contracts § Rate limits), so a pool that takes 20/s with burst 5 never
429s a fixed limiter at its configured rate; an exactly-20 window would 429 it on arrival jitter.

Figures, from the emulator's request log of each location:

* **429 share in the storm**: 429 answers / create calls from 10 s after the storm began to its
  end (target < 10 % for adaptive);
* **back to >= 19/s**: seconds from the storm's end until a 2-s window of admitted creates
  averages >= 19/s (target <= 60 s); and until the effective rate (``read_rates``) reaches 19/s.

Run from the repository root (about 2.5 minutes)::

    .venv/bin/python -m ops.bench.bench_adaptive [--storm-s 60] [--header]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT = "vbq-bench-project"
RATE_PER_S = 20.0
BURST = 5
STORM_LIMIT_PER_S = 5
THEN_PER_S = 25
SKIP_S = 10.0
TARGET_PER_S = 19.0
SIDES = {"adaptive": ("us-central1", 0, "on"), "fixed": ("europe-west4", 1, "off")}

HEADER = (
    "| mode | create calls (storm, after 10 s) | 429s | 429 share | admitted/s in storm "
    "| back to >= 19/s after storm | effective rate >= 19/s after | rejected (8 attempts) "
    "| 429 share ratio (fixed / adaptive) |\n|---|---|---|---|---|---|---|---|---|"
)


@dataclass(frozen=True)
class Side:
    """One side's figures."""

    mode: str
    calls: int
    throttled: int
    admitted_per_s: float
    back_after_s: float | None
    effective_after_s: float | None
    rejected: int

    @property
    def share(self) -> float:
        return self.throttled / self.calls if self.calls else 0.0

    def row(self, ratio: str) -> str:
        def secs(value: float | None) -> str:
            return "not within the run" if value is None else f"{value:.1f} s"

        effective = "fixed at L" if self.mode == "fixed" else secs(self.effective_after_s)

        return (
            f"| {self.mode} | {self.calls} | {self.throttled} | {self.share:.1%} | "
            f"{self.admitted_per_s:.1f} | {secs(self.back_after_s)} | "
            f"{effective} | {self.rejected} | {ratio} |"
        )


def back_to_rate(admitted: Sequence[float], start: float, *, per_s: float) -> float | None:
    """Seconds from ``start`` to the end of the first 2-s window (stepping 0.1 s) whose
    admitted creates average ``>= per_s``, or None."""
    ts = sorted(t for t in admitted if t >= start)
    if not ts:
        return None
    need, lo, step = 2.0 * per_s, 0, 0
    while (end := start + 2.0 + step / 10) <= ts[-1] + 1e-9:
        while ts[lo] < end - 2.0:
            lo += 1
        hi = lo
        while hi < len(ts) and ts[hi] < end:
            hi += 1
        if hi - lo >= need:
            return round(end - start, 1)
        step += 1
    return None


def measure(
    log: list[dict[str, Any]], location: str, storm_start: float, storm_end: float
) -> tuple[int, int, float, float | None]:
    """(calls, 429s) in the measured storm span, admitted/s in it, and the recovery time."""
    creates = [e for e in log if e["method"] == "create" and e.get("location") == location]
    span = [e for e in creates if storm_start + SKIP_S <= e["t"] < storm_end]
    throttled = sum(1 for e in span if e["status"] == 429)
    admitted = sum(1 for e in span if e["status"] == 200)
    after = [e["t"] for e in creates if e["status"] == 200]
    back = back_to_rate(after, storm_end, per_s=TARGET_PER_S)
    return len(span), throttled, admitted / (storm_end - storm_start - SKIP_S), back


def _env(redis_url: str, vertex_url: str, location: str, adaptive: str) -> dict[str, str]:
    return {
        **os.environ,
        "VBQ_REDIS_URL": redis_url,
        "VBQ_BROKER_URL": redis_url,
        "VBQ_VERTEX_ENDPOINT": vertex_url,
        "VBQ_PROJECT": PROJECT,
        "VBQ_LOCATION": location,
        "VBQ_CREATE_RATE_PER_MIN": f"{RATE_PER_S * 60:g}",
        "VBQ_CREATE_BURST": str(BURST),
        "VBQ_ADAPTIVE_RATE": adaptive,
        "VBQ_MAX_IN_FLIGHT": "1000000",
        "VBQ_MAX_ATTEMPTS": "8",
        "VBQ_LOG_FORMAT": "json",
        "VBQ_LOG_LEVEL": "WARNING",
    }


def _items(n: int, mode: str) -> list[dict[str, Any]]:
    return [
        {
            "job_display_name": f"{mode}-{i}",
            "model_name": "publishers/google/models/gemini-2.0-flash-001",
            "gcs_source": "gs://vbq-bench/in.jsonl",
            "gcs_destination_prefix": "gs://vbq-bench/out",
        }
        for i in range(n)
    ]


def run(*, storm_s: float, backlog: int, workers: int, workdir: Path) -> list[Side]:
    """Run both sides at once; returns [adaptive, fixed]."""
    import redis
    from vbq_emulators.vertex import EmulatorConfig, VertexEmulator

    from tests.support.services import ManagedProcess, RedisServer, vbq_argv
    from vbq import Client
    from vbq.quota.adaptive import read_rates
    from vbq.settings import Settings
    from vbq.states import SubmissionState

    server = RedisServer(workdir / "redis", appendonly=False).start()
    emulator = VertexEmulator(config=EmulatorConfig(queued_s=3600.0)).start()
    envs = {
        mode: _env(f"{server.url.rsplit('/', 1)[0]}/{db}", emulator.url, location, flag)
        for mode, (location, db, flag) in SIDES.items()
    }
    procs: list[Any] = []
    try:
        for mode, env in envs.items():
            procs += [
                ManagedProcess(
                    f"{mode}-worker-{i}",
                    vbq_argv("worker", "--pool", "solo", "--queues", "vbq.submit"),
                    log_dir=workdir / "logs",
                    env=env,
                ).start()
                for i in range(workers)
            ]
        time.sleep(4.0)  # let the workers finish starting
        settings = {mode: Settings.from_env(env) for mode, env in envs.items()}
        clients = {mode: Client.from_settings(s) for mode, s in settings.items()}
        items = {mode: _items(backlog, mode) for mode in SIDES}
        for location, _, _ in SIDES.values():
            emulator.throttles.set(
                {
                    "location": location,
                    "limit_per_s": STORM_LIMIT_PER_S,
                    "for_s": storm_s,
                    "then_per_s": THEN_PER_S,
                },
                time_scale=1.0,
            )
        storm_start = time.time()
        storm_end = storm_start + storm_s
        for mode, client in clients.items():
            client.submit_many(items[mode])
        watcher = redis.Redis.from_url(envs["adaptive"]["VBQ_REDIS_URL"])
        effective_at: float | None = None
        deadline = storm_end + 65.0
        while time.time() < deadline:
            time.sleep(0.5)
            now = time.time()
            rate = read_rates(watcher, settings["adaptive"])[0].effective_per_s
            if now > storm_end and effective_at is None and rate >= TARGET_PER_S:
                effective_at = now
            if effective_at is not None and now > storm_end + 10:
                admitted = [
                    e["t"]
                    for e in emulator.log.since(storm_end)
                    if e["method"] == "create"
                    and e["status"] == 200
                    and e.get("location") == SIDES["adaptive"][0]
                ]
                if back_to_rate(admitted, storm_end, per_s=TARGET_PER_S) is not None:
                    time.sleep(3.0)  # a few seconds of the recovered rate in the log
                    break
        watcher.close()
        rejected = {}
        for mode, client in clients.items():
            rejected[mode] = client.counts_by_state().get(SubmissionState.REJECTED, 0)
            client.close()
    finally:
        for p in procs:
            p.kill()
        log = emulator.log.since(0.0)
        emulator.stop()
        server.stop()
    sides = []
    for mode, (location, _, _) in SIDES.items():
        calls, throttled, per_s, back = measure(log, location, storm_start, storm_end)
        effective = effective_at - storm_end if effective_at and mode == "adaptive" else None
        sides.append(Side(mode, calls, throttled, per_s, back, effective, rejected[mode]))
    return sides


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--storm-s", type=float, default=60.0)
    parser.add_argument("--backlog", type=int, default=2000, help="submissions per side")
    parser.add_argument("--workers", type=int, default=3, help="vbq worker processes per side")
    parser.add_argument("--header", action="store_true")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="vbq-bench-adaptive-"))
    adaptive, fixed = run(
        storm_s=args.storm_s, backlog=args.backlog, workers=args.workers, workdir=workdir
    )
    ratio = f"{fixed.share / adaptive.share:.1f}x" if adaptive.share else "no 429s"
    if args.header:
        print(HEADER)
    print(adaptive.row(ratio))
    print(fixed.row("1.0x"))
    ok = (
        adaptive.share < 0.10
        and adaptive.back_after_s is not None
        and (adaptive.back_after_s <= 60.0)
    )
    print(f"targets (429 share < 10 %, back to >= 19/s within 60 s): {'met' if ok else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
