"""Global create rate: vbq's Redis GCRA limiter vs Celery's per-worker ``rate_limit``.

Starts a private redis-server, the Vertex emulator (in this process, no faults) and W worker
processes, queues a backlog of submissions, and reads the emulator's request log:

* **peak**: the most creates in any sliding 1-second window;
* **rate**: creates per second over the steady part (after the initial burst, before the
  backlog runs dry: from the (burst+1)-th create to the 90th percentile create).

Then the same backlog goes through a bare Celery task with ``rate_limit="L/s"`` that makes the
same create call without vbq's limiter. Celery's limit is per worker, so W workers reach W x L.

    python -m ops.bench.bench_ratelimit                 # 4 workers, L = 20/s, ~30 s each
    python -m ops.bench.bench_ratelimit --backlog 2000  # the long version
    python -m ops.bench.bench_ratelimit --smoke         # bounded, used by the tests
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

from celery import Celery

BARE_QUEUE = "bench.bare"
PROJECT = "vbq-bench-project"
LOCATION = "us-central1"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"


# -- the bare Celery task (imported by its worker processes with -A) ---------------------------

bare_app = Celery("vbq-bench", set_as_current=False)
bare_app.conf.update(
    broker_url=os.environ.get("VBQ_BROKER_URL") or os.environ.get("VBQ_REDIS_URL") or "",
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    task_default_queue=BARE_QUEUE,
    worker_hijack_root_logger=False,
)
_client: Any = None


@bare_app.task(name="bench.bare_create", rate_limit=os.environ.get("BENCH_CELERY_RATE", "20/s"))
def bare_create(i: int) -> None:
    """Create one job, exactly as the submit task would, but with no global limiter."""
    global _client
    if _client is None:
        from vbq.settings import Settings
        from vbq.vertex import VertexClient

        _client = VertexClient.from_settings(Settings.from_env())
    _client.create_batch_prediction_job(PARENT, _body(f"bare-{i}"))


def _body(name: str) -> dict[str, Any]:
    return {
        "displayName": name,
        "model": "publishers/google/models/gemini-2.0-flash-001",
        "inputConfig": {
            "instancesFormat": "jsonl",
            "gcsSource": {"uris": ["gs://vbq-bench/in.jsonl"]},
        },
        "outputConfig": {
            "predictionsFormat": "jsonl",
            "gcsDestination": {"outputUriPrefix": "gs://vbq-bench/out"},
        },
    }


# -- measuring ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    """One run: creates seen by the emulator, peak 1-s window, steady rate (per second)."""

    name: str
    creates: int
    peak_window: int
    steady_rate: float
    duration_s: float

    def row(self, limit_per_s: float, burst: int) -> str:
        """One markdown table row."""
        return (
            f"| {self.name} | {self.creates} | {limit_per_s:g}/s | {burst} | "
            f"{self.peak_window} | {self.steady_rate:.1f}/s | {self.duration_s:.1f} s |"
        )


HEADER = (
    "| limiter | creates | limit L | burst | peak creates in any 1 s | steady rate | run |\n"
    "|---|---|---|---|---|---|---|"
)


def peak_window(times: Sequence[float], window_s: float = 1.0) -> int:
    """The most events in any half-open window ``[t, t + window_s)``."""
    ts = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(ts):
        while ts[lo] <= t - window_s:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def steady_rate(times: Sequence[float], *, skip_first: int) -> float:
    """Events per second from the ``skip_first``-th event to the 90th percentile event."""
    ts = sorted(times)
    if len(ts) < skip_first + 3:
        return 0.0
    start = ts[skip_first]
    end_index = max(skip_first + 2, int(len(ts) * 0.9))
    end = ts[end_index - 1]
    if end <= start:
        return 0.0
    return (end_index - 1 - skip_first) / (end - start)


# -- running -----------------------------------------------------------------------------------


def _env(redis_url: str, vertex_url: str, rate_per_min: float, burst: int) -> dict[str, str]:
    return {
        "VBQ_REDIS_URL": redis_url,
        "VBQ_BROKER_URL": redis_url,
        "VBQ_VERTEX_ENDPOINT": vertex_url,
        "VBQ_PROJECT": PROJECT,
        "VBQ_LOCATION": LOCATION,
        "VBQ_CREATE_RATE_PER_MIN": f"{rate_per_min:g}",
        "VBQ_CREATE_BURST": str(burst),
        "VBQ_MAX_IN_FLIGHT": "1000000",
        "VBQ_LOG_FORMAT": "json",
        "VBQ_LOG_LEVEL": "WARNING",
        "BENCH_CELERY_RATE": f"{rate_per_min / 60:g}/s",
    }


def _wait(check: Any, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise RuntimeError(f"benchmark did not finish within {timeout_s:.0f} s")


def run_vbq(
    *, redis_url: str, emulator: Any, workers: int, backlog: int, env: dict[str, str], logs: Path
) -> Result:
    """Submit ``backlog`` jobs through ``vbq worker`` processes and the Redis limiter."""
    import redis

    from tests.support.services import ManagedProcess, vbq_argv
    from vbq.settings import Settings
    from vbq.spec import JobSpec
    from vbq.store import JobStore, NewSubmission

    settings = Settings.from_env(env)
    store = JobStore.from_settings(settings)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    procs = [
        ManagedProcess(
            f"vbq-worker-{i}",
            vbq_argv("worker", "--pool", "solo", "--queues", "vbq.submit,vbq.maintenance"),
            log_dir=logs,
            env=env,
        ).start()
        for i in range(workers)
    ]
    try:
        spec = JobSpec.from_sdk_kwargs(
            job_display_name="bench",
            model_name="publishers/google/models/gemini-2.0-flash-001",
            gcs_source="gs://vbq-bench/in.jsonl",
            gcs_destination_prefix="gs://vbq-bench/out",
        )
        time.sleep(3.0)  # let the workers finish starting, so start-up is not measured
        emulator.log.clear()
        t0 = time.time()
        # Stored ACCEPTED = queued: the workers' dispatcher sends them at the global rate
        # (docs/contracts.md § Scheduler), so the clock starts before the backlog is written.
        store.create_many([NewSubmission(spec=spec) for _ in range(backlog)])
        _wait(
            lambda: client.zcard("vbq:idx:state:SUBMITTED") >= backlog,
            timeout_s=backlog / (settings.create_rate_per_min / 60) * 3 + 60,
        )
        duration = time.time() - t0
    finally:
        for p in procs:
            p.kill()
        store.close()
        client.close()
    creates = [e["t"] for e in emulator.log.since(t0) if e["method"] == "create"]
    return Result(
        name="vbq (Redis GCRA, global)",
        creates=len(creates),
        peak_window=peak_window(creates),
        steady_rate=steady_rate(creates, skip_first=settings.create_burst + 1),
        duration_s=duration,
    )


def run_celery_builtin(
    *, redis_url: str, emulator: Any, workers: int, backlog: int, env: dict[str, str], logs: Path
) -> Result:
    """The same backlog through a bare task with Celery's per-worker ``rate_limit``."""
    from tests.support.services import ManagedProcess

    bare_app.conf.broker_url = redis_url
    procs = [
        ManagedProcess(
            f"bare-worker-{i}",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "ops.bench.bench_ratelimit:bare_app",
                "worker",
                "--pool",
                "solo",
                "-Q",
                BARE_QUEUE,
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel",
                "WARNING",
                "-n",
                f"bare{i}@%h",
            ],
            log_dir=logs,
            env=env,
        ).start()
        for i in range(workers)
    ]
    try:
        time.sleep(3.0)
        emulator.log.clear()
        t0 = time.time()
        with bare_app.producer_or_acquire() as producer:
            for i in range(backlog):
                bare_create.apply_async(args=[i], queue=BARE_QUEUE, producer=producer)
        _wait(lambda: emulator.log.counts()["create"] >= backlog, timeout_s=backlog / 5 + 60)
        duration = time.time() - t0
    finally:
        for p in procs:
            p.kill()
    creates = [e["t"] for e in emulator.log.since(t0) if e["method"] == "create"]
    return Result(
        name=f"Celery rate_limit (per worker, x{workers})",
        creates=len(creates),
        peak_window=peak_window(creates),
        steady_rate=steady_rate(creates, skip_first=workers),
        duration_s=duration,
    )


def run(
    *,
    backlog: int,
    workers: int,
    rate_per_min: float = 1200.0,
    burst: int | None = None,
    celery_builtin: bool = True,
    workdir: Path | None = None,
) -> tuple[list[Result], float, int]:
    """Run the benchmark; returns the results, L (per second) and the burst."""
    from vbq_emulators.vertex import EmulatorConfig, VertexEmulator

    from tests.support.services import RedisServer
    from vbq.settings import Settings

    burst = Settings().create_burst if burst is None else burst
    root = workdir or Path(tempfile.mkdtemp(prefix="vbq-bench-rl-"))
    server = RedisServer(root / "redis", appendonly=False).start()
    # Jobs stay PENDING for the whole run: only the create calls are under test.
    emulator = VertexEmulator(config=EmulatorConfig(queued_s=3600.0)).start()
    env = {**os.environ, **_env(server.url, emulator.url, rate_per_min, burst)}
    try:
        results = [
            run_vbq(
                redis_url=server.url,
                emulator=emulator,
                workers=workers,
                backlog=backlog,
                env=env,
                logs=root / "logs",
            )
        ]
        if celery_builtin:
            results.append(
                run_celery_builtin(
                    redis_url=server.url,
                    emulator=emulator,
                    workers=workers,
                    backlog=backlog,
                    env=env,
                    logs=root / "logs",
                )
            )
    finally:
        emulator.stop()
        server.stop()
    return results, rate_per_min / 60, burst


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--backlog", type=int, default=600, help="submissions (600 ≈ 30 s)")
    parser.add_argument("--rate-per-min", type=float, default=1200.0)
    parser.add_argument("--smoke", action="store_true", help="150 submissions, vbq only")
    args = parser.parse_args(argv)
    backlog = 150 if args.smoke else args.backlog
    results, limit, burst = run(
        backlog=backlog,
        workers=args.workers,
        rate_per_min=args.rate_per_min,
        celery_builtin=not args.smoke,
    )
    print(HEADER)
    for r in results:
        print(r.row(limit, burst))
    return 0


if __name__ == "__main__":
    sys.exit(main())
