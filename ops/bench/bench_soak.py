"""Retention soak: N submissions over a simulated D days with R days retention; Redis memory
flat after the window, every expired submission archived exactly once.

Time is scaled by progress, not by the clock: day ``d`` is the stretch of the run in which the
``N / D`` submissions of that day are written (through ``JobStore.create_many``) and driven to a
finished state (``update.lua``, pipelined: SUBMITTED → RUNNING → SUCCEEDED 90 %, FAILED 5 %,
REJECTED from ACCEPTED 5 %; a Vertex job resource, the finished event, a subscriber group's
inbox mark and ``handled`` timeline entry, as the workers and subscribers leave them). At the
end of day ``d`` the outbox is emptied (what the relay does after publishing) and the archiver
(:class:`vbq.archive.Archiver`, the ``vbq.retention`` task's code) runs with its clock set so
that its cutoff is the start of day ``d - R + 1``: everything finished on day ``d - R`` or
before leaves Redis after being written to the archive (the GCS emulator, on disk). Then it
samples ``INFO used_memory`` and the archive index's share (``MEMORY USAGE`` of
``vbq:archived:*``).

The issue names 30 days retention over a simulated 10 days; a window longer than the run
never passes, so the soak keeps the ratio of a 100-day run (30-day retention) scaled by 10:
R = 3 days of D = 10 (``--retention-days``). The archive index lives
``VBQ_ARCHIVE_INDEX_TTL_S`` (30 days) after expiry, so within the run it only grows: its bytes
per expired id are reported apart; the rest (records and every index they own) must be flat.

Run from the repository root::

    .venv/bin/python -m ops.bench.bench_soak --submissions 1000000 --days 10

Prints a summary table (``--header`` adds its header), then a table with one row per simulated
day. Exits 1 when a check fails: memory without the archive index after the window
within 10 % of its mean, every expired id in the archive exactly once and out of Redis.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from tests.support.emulators import GcsEmulator
from tests.support.services import RedisServer
from vbq.archive import Archiver
from vbq.events import JobEvent
from vbq.logs import configure_logging
from vbq.settings import Settings
from vbq.spec import JobSpec
from vbq.states import FINISHED_SUBMISSION_STATES, SubmissionState
from vbq.stats import record_handled
from vbq.storage import storage_client
from vbq.store import IN_FLIGHT_STATES, JobStore, NewSubmission
from vbq.store.keys import OUTBOX_KEY, PREFIX, sub_key
from vbq.store.scripts import load_script

PROJECT, LOCATION, BUCKET = "soak-project", "us-central1", "soak-archive"
CHUNK = 1000
MIB = 1024 * 1024


def _new(day: int, i: int, tenants: int) -> NewSubmission:
    tenant = f"tenant-{i % tenants}"
    spec = JobSpec.from_sdk_kwargs(
        job_display_name=f"soak-{day}-{i}",
        model_name="publishers/google/models/gemini-2.0-flash-001",
        gcs_source=f"gs://soak-in/day-{day}/in-{i}.jsonl",
        gcs_destination_prefix=f"gs://soak-out/day-{day}",
        labels={"team": f"team-{i % 7}", "day": str(day)},
    )
    return NewSubmission(
        spec=spec, tenant=tenant, idempotency_key=f"d{day}-{i}", metadata={"day": day, "i": i}
    )


def _update_args(sid: str, new: SubmissionState, fields: dict[str, str], event: str) -> list[str]:
    """``update.lua``'s arguments (as ``JobStore.transition`` builds them), any expected state."""
    pairs = [x for kv in fields.items() for x in kv]
    return [
        sid,
        PREFIX,
        new.value,
        "1" if new in IN_FLIGHT_STATES else "0",
        "1" if new in FINISHED_SUBMISSION_STATES else "0",
        event,
        "0",
        "0",
        *pairs,
    ]


class Day:
    """Writes and finishes one simulated day of submissions."""

    def __init__(self, r: redis.Redis, store: JobStore, tenants: int) -> None:
        self.r = r
        self.store = store
        self.tenants = tenants
        self.update = r.register_script(load_script("update.lua"))

    def run(self, day: int, count: int) -> list[str]:
        ids: list[str] = []
        for start in range(0, count, CHUNK):
            items = [_new(day, i, self.tenants) for i in range(start, min(count, start + CHUNK))]
            chunk = [rec.id for rec, _ in self.store.create_many(items)]  # type: ignore[misc]
            self._finish(chunk, [it.tenant for it in items], start)
            ids += chunk
        return ids

    def _finish(self, ids: list[str], tenants: list[str], offset: int) -> None:
        pipe = self.r.pipeline(transaction=False)
        for n, (sid, tenant) in enumerate(zip(ids, tenants, strict=True)):
            k = (offset + n) % 20
            keys = [sub_key(sid), OUTBOX_KEY]
            if k == 0:
                final, previous, job = SubmissionState.REJECTED, SubmissionState.ACCEPTED, None
            else:
                final = SubmissionState.FAILED if k == 1 else SubmissionState.SUCCEEDED
                previous = SubmissionState.RUNNING
                job = _job(sid, final)
                name = {"job_name": job["name"], "job": json.dumps(job)}
                for state in (SubmissionState.SUBMITTED, SubmissionState.RUNNING):
                    self.update(keys=keys, args=_update_args(sid, state, name, ""), client=pipe)
            event = JobEvent.create(
                type=f"job.{final.value.lower()}",
                submission_id=sid,
                state=final.value,
                previous_state=previous.value,
                job=job,
                tenant=tenant,
            )
            fields = {"job": json.dumps(job)} if job else {}
            args = _update_args(sid, final, fields, event.to_json())
            self.update(keys=keys, args=args, client=pipe)
            pipe.set(f"vbq:inbox:soak:{sid}:{final.value}", "done", ex=7 * 86400)
            record_handled(pipe, group="soak", event_id=f"{sid}:{final.value}")
        pipe.execute()


def _job(sid: str, state: SubmissionState) -> dict[str, Any]:
    name = f"projects/{PROJECT}/locations/{LOCATION}/batchPredictionJobs/{int(sid[:15], 16)}"
    return {
        "name": name,
        "displayName": f"soak-{sid[:8]}",
        "model": "publishers/google/models/gemini-2.0-flash-001",
        "state": f"JOB_STATE_{state.value}",
        "createTime": "2026-12-04T10:00:00.000000Z",
        "startTime": "2026-12-04T10:01:00.000000Z",
        "endTime": "2026-12-04T11:00:00.000000Z",
        "completionStats": {"successfulCount": "1000", "failedCount": "0"},
        "outputInfo": {"gcsOutputDirectory": f"gs://soak-out/prediction-{sid[:12]}"},
    }


def _fixed(now_s: float) -> Callable[[], float]:
    return lambda: now_s


def _index_bytes(r: redis.Redis) -> int:
    total = 0
    keys = list(r.scan_iter(f"{PREFIX}archived:*", count=5000))
    pipe = r.pipeline(transaction=False)
    for key in keys:
        pipe.memory_usage(key, samples=0)
    for used in pipe.execute():
        total += int(used or 0)
    return total


def _redis_time(r: redis.Redis) -> float:
    sec, usec = r.time()
    return float(sec) + usec / 1e6


def _archive_ids() -> Counter[str]:
    seen: Counter[str] = Counter()
    for blob in storage_client().list_blobs(BUCKET, prefix="archive/"):
        for line in blob.download_as_bytes().splitlines():
            seen[json.loads(line)["submission_id"]] += 1
    return seen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--retention-days", type=int, default=3)
    parser.add_argument("--tenants", type=int, default=5)
    parser.add_argument("--batch", type=int, default=2000, help="VBQ_RETENTION_BATCH")
    parser.add_argument("--header", action="store_true", help="print the table header")
    args = parser.parse_args(argv)
    configure_logging(level="WARNING")
    per_day = args.submissions // args.days
    with tempfile.TemporaryDirectory(prefix="vbq-soak-") as tmp:
        server = RedisServer(Path(tmp) / "redis", appendonly=False).start()
        (Path(tmp) / "gcs-log").mkdir()
        gcs = GcsEmulator(Path(tmp) / "gcs-log", data_dir=Path(tmp) / "gcs").start()
        try:
            return _soak(args, per_day, server.url, gcs.host)
        finally:
            gcs.stop()
            server.stop()


def _soak(args: argparse.Namespace, per_day: int, redis_url: str, gcs_host: str) -> int:
    import os

    os.environ["STORAGE_EMULATOR_HOST"] = gcs_host
    storage_client().create_bucket(BUCKET)
    settings = Settings(
        redis_url=redis_url,
        project=PROJECT,
        location=LOCATION,
        retention_s=1,  # the archiver's clock below puts the cutoff at a day's start
        archive_prefix=f"gs://{BUCKET}/archive",
        retention_batch=args.batch,
    )
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    store = JobStore(r, settings=settings)
    writer = Day(r, store, args.tenants)
    baseline = int(r.info("memory")["used_memory"])
    starts: list[float] = []
    created: list[list[str]] = []
    rows: list[dict[str, float]] = []
    began = time.monotonic()
    for day in range(args.days):
        starts.append(_redis_time(r))
        t0 = time.monotonic()
        created.append(writer.run(day, per_day))
        r.delete(OUTBOX_KEY)  # the relay publishes and deletes every event
        write_s = time.monotonic() - t0
        expired, t1 = 0, time.monotonic()
        first_kept = day - args.retention_days + 1
        if first_kept > 0:
            cutoff = starts[first_kept]
            archiver = Archiver(redis=r, settings=settings, clock=_fixed(cutoff + 1))
            while True:
                report = archiver.run_once(max_batches=50, budget_s=600)
                expired += report.expired
                if report.batches < 50:
                    break
        archive_s = time.monotonic() - t1
        used = int(r.info("memory")["used_memory"]) - baseline
        index = _index_bytes(r)
        live = int(r.zcard(f"{PREFIX}idx:all"))
        rows.append(
            {
                "day": day,
                "live": live,
                "expired": expired,
                "used": used,
                "index": index,
                "write_s": write_s,
                "archive_s": archive_s,
            }
        )
    total_s = time.monotonic() - began

    gone = [sid for day in created[: args.days - args.retention_days] for sid in day]
    seen = _archive_ids()
    once = all(seen[sid] == 1 for sid in gone) and len(seen) == len(gone)
    pipe = r.pipeline(transaction=False)
    for sid in gone:
        pipe.exists(sub_key(sid))
    left = sum(int(x) for x in pipe.execute())
    steady = [row["used"] - row["index"] for row in rows[args.retention_days :]]
    mean = statistics.mean(steady) if steady else 0.0
    flat = bool(steady) and all(abs(x - mean) <= 0.10 * mean for x in steady)
    final = rows[-1]
    per_live = (final["used"] - final["index"]) / max(1, final["live"])
    per_index = final["index"] / max(1, len(gone))

    checks = f"flat {'ok' if flat else 'FAILED'}; archive exactly once {'ok' if once else 'FAILED'}"
    checks += f"; expired left in Redis: {left}"
    if args.header:
        print(
            "| submissions | days | retention days | B per live submission | archived"
            " | archive index B per archived id | checks | total s |"
        )
        print("|---:|---:|---:|---:|---:|---:|---|---:|")
    print(
        f"| {args.submissions:,} | {args.days} | {args.retention_days} | {per_live:,.0f}"
        f" | {len(gone):,} | {per_index:,.0f} | {checks} | {total_s:.0f} |"
    )
    print()
    print(
        "| day | live submissions | expired that day | Redis used MiB | archive index MiB"
        " | used minus index MiB | write s | archive+expire s |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['day'] + 1} | {row['live']:,} | {row['expired']:,} | {row['used'] / MIB:,.1f}"
            f" | {row['index'] / MIB:,.1f} | {(row['used'] - row['index']) / MIB:,.1f}"
            f" | {row['write_s']:.1f} | {row['archive_s']:.1f} |"
        )
    return 0 if flat and once and left == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
