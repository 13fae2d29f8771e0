"""Console page times on a big store: the overview of 1,000,000 submissions in < 500 ms.

Starts a private ``redis-server`` and fills it quickly with pipelined writes of realistic
records (the hash fields ``create.lua`` and ``update.lua`` write, a spec, a Vertex job for the
submitted ones) and every index entry the scripts maintain (state, tenant, label, model and
name indexes, per-tenant-and-state counters, timelines, the in-flight list, recent create
windows, the scheduler's per-tenant queues of the waiting ones): 20 tenants of Zipf-like sizes,
5 models, 30 days of history, 8 % waiting, 5 % at Vertex, the rest finished. Then it times
each console page in-process (FastAPI app, Starlette ``TestClient``, admin session) against
the baseline measured in the same run: the JSON list endpoint (``GET
/v1/submissions?page_size=50``), the cheapest page the API serves.

Run from the repository root::

    .venv/bin/python -m ops.bench.bench_console --records 1000000

Prints a markdown table (``--header`` adds the header): records, Redis MiB, page, p50 ms,
p95 ms, ratio to the JSON list's p50. Exits 1 when the overview's p50 is over ``--budget-ms``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import socket
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import redis

from tests.support.services import RedisServer
from vbq.logs import configure_logging
from vbq.producers import Client
from vbq.producers.api import ApiKeyRing, create_app, generate_api_key, hash_api_key
from vbq.scheduler.keys import PLACES_KEY, PRIORITIES, SEQ_KEY, active_key, place_name, queue_key
from vbq.settings import Settings
from vbq.spec import JobSpec
from vbq.store.keys import (
    index_key,
    inflight_key,
    label_index_key,
    model_index_key,
    models_key,
    name_index_key,
    state_index_key,
    sub_key,
    tenant_index_key,
    tenant_state_counts_key,
    tenant_state_index_key,
    timeline_key,
)
from vbq.store.paging import encode_token
from vbq.store.reindex import name_member

PROJECT = "bench-project"
LOCATION = "us-central1"
DAY_S = 86_400.0
TENANTS = [f"team-{i:02d}" for i in range(20)]
MODELS = [
    "publishers/google/models/gemini-2.0-flash-001",
    "publishers/google/models/gemini-2.5-pro",
    f"projects/{PROJECT}/locations/{LOCATION}/models/1843091234567890123",
    f"projects/{PROJECT}/locations/{LOCATION}/models/7310000000000000042",
    f"projects/{PROJECT}/locations/{LOCATION}/models/5550000000000000777",
]
# (state, share): a month of traffic with a backlog and jobs at Vertex.
STATES = [
    ("SUCCEEDED", 0.70), ("PARTIALLY_SUCCEEDED", 0.06), ("FAILED", 0.05), ("EXPIRED", 0.02),
    ("CANCELLED", 0.01), ("REJECTED", 0.01), ("ACCEPTED", 0.08), ("SUBMITTING", 0.002),
    ("QUEUED", 0.018), ("RUNNING", 0.03),
]  # fmt: skip
FINISHED = {"SUCCEEDED", "PARTIALLY_SUCCEEDED", "FAILED", "EXPIRED", "CANCELLED", "REJECTED"}
AT_VERTEX = {"QUEUED", "RUNNING"}


def _spec_json(tenant: str, model: str, name: str) -> str:
    spec = JobSpec.from_sdk_kwargs(
        job_display_name=name,
        model_name=model,
        gcs_source=f"gs://{tenant}-inputs/batches/{name}.jsonl",
        gcs_destination_prefix=f"gs://{tenant}-outputs/results/",
        instances_format="jsonl",
        predictions_format="jsonl",
        labels={"team": tenant, "pipeline": "nightly"},
    )
    return spec.to_json()


class RawWriter:
    """Commands written straight to Redis in RESP with ``CLIENT REPLY OFF``: about 4x faster
    than redis-py pipelines for bulk loading (no argument encoding layers, no replies to
    parse). :meth:`close` turns replies back on and waits for Redis to have run everything.
    """

    def __init__(self, host: str, port: int) -> None:
        self._sock = socket.create_connection((host, port))
        self._buf: list[bytes] = []
        self._size = 0
        self.command("CLIENT", "REPLY", "OFF")

    def command(self, *args: str | float | int) -> None:
        parts = [b"*%d\r\n" % len(args)]
        for arg in args:
            data = arg.encode() if isinstance(arg, str) else repr(arg).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
        chunk = b"".join(parts)
        self._buf.append(chunk)
        self._size += len(chunk)
        if self._size > 1 << 20:
            self.flush()

    def flush(self) -> None:
        self._sock.sendall(b"".join(self._buf))
        self._buf, self._size = [], 0

    def close(self) -> None:
        self.command("CLIENT", "REPLY", "ON")
        self.command("PING")
        self.flush()
        got = b""
        while b"+PONG\r\n" not in got:
            data = self._sock.recv(4096)
            if not data:
                raise SystemExit("redis closed the connection while loading")
            got += data
        self._sock.close()


def build_store(r: redis.Redis, records: int, *, now_s: float, seed: int = 3) -> list[str]:
    """Write ``records`` submissions and their index entries; returns a sample of ids."""
    kwargs = r.connection_pool.connection_kwargs
    out = RawWriter(kwargs.get("host", "127.0.0.1"), int(kwargs.get("port", 6379)))
    rng = random.Random(seed)
    weights = [1.0 / (i + 1) for i in range(len(TENANTS))]
    states = [s for s, _ in STATES]
    shares = [w for _, w in STATES]
    # One validated spec per (tenant, model); records vary the name (as JSON text, cheaply).
    templates = {
        (t, m): _spec_json(t, m, "NAME") for t in TENANTS for m in MODELS
    }  # fmt: skip
    counts: Counter[str] = Counter()
    sample: list[str] = []
    queued = 0
    for i in range(records):
        tenant = rng.choices(TENANTS, weights)[0]
        model = MODELS[rng.randrange(len(MODELS))]
        state = rng.choices(states, shares)[0]
        sid = hashlib.sha256(f"bench-{seed}-{i}".encode()).hexdigest()[:32]
        name = f"nightly-{tenant}-{i:07d}"
        # Waiting and running work is recent; finished work spreads over 30 days.
        age = rng.random() * (3600.0 if state not in FINISHED else 30 * DAY_S)
        created = now_s - age
        spec = templates[(tenant, model)].replace("NAME", name)
        fields: dict[str, str] = {
            "id": sid, "state": state, "fingerprint": hashlib.sha256(spec.encode()).hexdigest(),
            "tenant": tenant, "created_at": f"{created:.6f}", "updated_at": f"{created:.6f}",
            "version": "1", "attempts": "0", "spec": spec,
            "labels": json.dumps({"pipeline": "nightly", "team": tenant}, separators=(",", ":")),
            "metadata": json.dumps({"batch": i % 1000}), "idempotency_key": f"nightly-{i}",
            "project": PROJECT, "location": LOCATION, "model": model, "display_name": name,
        }  # fmt: skip
        timeline = [f"{created:.6f}|state||ACCEPTED|"]
        if state not in {"ACCEPTED", "SUBMITTING", "CANCELLED", "REJECTED"}:
            submitted = created + rng.random() * 60
            job_id = str(10**18 + i)
            job_name = f"projects/{PROJECT}/locations/{LOCATION}/batchPredictionJobs/{job_id}"
            fields.update(
                attempts="1", version="5", job_name=job_name, submitted_at=f"{submitted:.6f}",
                job=json.dumps({
                    "name": job_name, "displayName": name, "model": model,
                    "state": f"JOB_STATE_{state}", "createTime": "2026-11-26T21:20:12.992Z",
                    "updateTime": "2026-11-26T21:24:12.992Z",
                    "labels": {"vbq-submission": sid, "team": tenant, "pipeline": "nightly"},
                    "outputInfo": {"gcsOutputDirectory": f"gs://{tenant}-outputs/results/p-{job_id}"},
                    "completionStats": {"successfulCount": "100", "failedCount": "0"},
                }, separators=(",", ":")),
            )  # fmt: skip
            timeline += [
                f"{created + 0.1:.6f}|state|ACCEPTED|SUBMITTING|",
                f"{submitted:.6f}|state|SUBMITTING|SUBMITTED|job.submitted",
                f"{submitted + 0.2:.6f}|handled|vbq-job-events-sub|SUBMITTED|",
            ]
            if state in AT_VERTEX:
                out.command("ZADD", inflight_key(PROJECT, LOCATION), submitted, sid)
            else:
                end = submitted + 300
                fields["finished_at"] = f"{end:.6f}"
                kind = f"job.{state.lower()}"
                timeline += [
                    f"{end:.6f}|state|RUNNING|{state}|{kind}",
                    f"{end + 0.3:.6f}|handled|vbq-job-events-sub|{state}|",
                ]
        elif state != "ACCEPTED":
            timeline.append(f"{created + 1:.6f}|state|ACCEPTED|{state}|job.{state.lower()}")
        else:  # waiting: in the scheduler's queue of its tenant and priority, as create.lua does
            priority = PRIORITIES[i % 10 // 4]  # interactive 40 %, default 40 %, bulk 20 %
            fields["priority"] = priority
            queued += 1
            out.command("ZADD", queue_key(PROJECT, LOCATION, tenant, priority), queued, sid)
            out.command("ZADD", active_key(PROJECT, LOCATION), "NX", 0, tenant)
        out.command("HSET", sub_key(sid), *(x for kv in fields.items() for x in kv))
        for key in (index_key(), state_index_key(state), tenant_index_key(tenant),
                    label_index_key("team", tenant), label_index_key("pipeline", "nightly"),
                    model_index_key(model), tenant_state_index_key(tenant, state)):  # fmt: skip
            out.command("ZADD", key, created, sid)
        out.command("ZADD", name_index_key(tenant), 0, name_member(name, sid))
        out.command("RPUSH", timeline_key(sid), *timeline)
        counts[f"{tenant}:{state}"] += 1
        if i % 997 == 0:
            sample.append(sid)
    out.close()
    pipe = r.pipeline(transaction=False)
    pipe.sadd(models_key(), *MODELS)
    pipe.sadd(PLACES_KEY, place_name(PROJECT, LOCATION))
    pipe.set(SEQ_KEY, queued)
    pipe.hset(tenant_state_counts_key(), mapping=dict(counts))
    # The last ten minutes of creates and a few 429s, as the stats windows hold them.
    window = int(now_s) // 10
    for w in range(window - 66, window + 1):
        pipe.hset(f"vbq:stats:w:creates:{w}", mapping={t: rng.randrange(0, 4) for t in TENANTS[:6]})
        pipe.hset(f"vbq:stats:w:create_429:{w}", mapping={TENANTS[0]: rng.randrange(0, 2)})
    pipe.hset("vbq:stats:counters", mapping={"creates": records, "events_published": 4 * records})
    pipe.execute()
    if r.zcard(index_key()) != records:
        raise SystemExit(f"loaded {r.zcard(index_key())} records, not {records}")
    return sample


def time_page(
    http: Any, url: str, *, runs: int, headers: dict[str, str] | None = None
) -> list[float]:
    """Milliseconds of ``runs`` GETs of ``url`` (after two warm-up requests)."""
    for _ in range(2):
        resp = http.get(url, headers=headers)
        if resp.status_code != 200:
            raise SystemExit(f"{url}: {resp.status_code} {resp.text[:200]}")
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        resp = http.get(url, headers=headers)
        times.append((time.perf_counter() - started) * 1000)
        if resp.status_code != 200:
            raise SystemExit(f"{url}: {resp.status_code}")
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=15, help="timed requests per page")
    parser.add_argument("--budget-ms", type=float, default=500.0, help="overview p50 limit")
    parser.add_argument("--header", action="store_true", help="print the table header too")
    args = parser.parse_args(argv)
    configure_logging(log_format="json", level="WARNING", stream=sys.stderr, force=True)
    from starlette.testclient import TestClient

    with tempfile.TemporaryDirectory(prefix="vbq-bench-console-") as tmp:
        server = RedisServer(Path(tmp) / "redis", appendonly=False).start()
        try:
            settings = Settings.from_env(
                {"VBQ_REDIS_URL": server.url, "VBQ_PROJECT": PROJECT, "VBQ_LOCATION": LOCATION}
            )
            r = redis.Redis.from_url(server.url, decode_responses=True)
            started = time.perf_counter()
            sample = build_store(r, args.records, now_s=float(r.time()[0]))
            build_s = time.perf_counter() - started
            used_mib = int(r.info("memory")["used_memory"]) / 2**20
            print(
                f"built {args.records:,} records in {build_s:.0f}s, {used_mib:,.0f} MiB",
                file=sys.stderr,
            )
            key = generate_api_key()
            client = Client.from_settings(settings)
            app = create_app(
                client=client,
                keyring=ApiKeyRing.from_mapping({hash_api_key(key): "*"}),
                max_body_bytes=1 << 20,
            )
            http = TestClient(app)
            resp = http.post("/console/login", data={"api_key": key}, follow_redirects=False)
            if resp.status_code != 303:
                raise SystemExit(f"login failed: {resp.status_code}")
            deep = r.zrevrange(index_key(), args.records // 2, args.records // 2, withscores=True)
            deep_token = encode_token((float(deep[0][1]), deep[0][0]))
            week_ago = float(r.time()[0]) - 7 * DAY_S
            since = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(week_ago))
            lists = "/console/submissions"
            pages = [
                ("overview", "/console"),
                ("overview, live part", "/console/overview/live"),
                ("submissions, first page", lists),
                ("submissions, the page at record 500,000", f"{lists}?page={deep_token}&n=10000"),
                ("tenant + state (team-07, FAILED)", f"{lists}?tenant=team-07&state=FAILED"),
                (
                    "model + state + last 7 days",
                    f"{lists}?model={MODELS[2]}&state=RUNNING&created_from={since}",
                ),
                ("search by display-name prefix", f"{lists}?q=nightly-team-03-00"),
                ("one submission", f"{lists}/{sample[len(sample) // 2]}"),
            ]
            auth = {"Authorization": f"Bearer {key}"}
            baseline = time_page(http, "/v1/submissions?page_size=50", runs=args.runs, headers=auth)
            results = [(name, time_page(http, url, runs=args.runs)) for name, url in pages]
            client.close()
        finally:
            server.stop()
    base_p50 = statistics.median(baseline)
    if args.header:
        print("| records | Redis MiB | page | p50 ms | p95 ms | ratio to JSON list p50 |")
        print("|---:|---:|:--|---:|---:|---:|")
    # The overview first (the headline of make bench), then the baseline, then the rest.
    baseline_row = ("JSON list `GET /v1/submissions?page_size=50` (baseline)", baseline)
    rows = [results[0], baseline_row, *results[1:]]
    for name, times in rows:
        p50, p95 = statistics.median(times), _p95(times)
        ratio = p50 / base_p50
        print(
            f"| {args.records:,} | {used_mib:,.0f} | {name} | {p50:.1f} | {p95:.1f} | {ratio:.2f} |"
        )
    overview_p50 = statistics.median(results[0][1])
    verdict = "within" if overview_p50 < args.budget_ms else "OVER"
    print(
        f"overview p50 {overview_p50:.1f} ms: {verdict} the {args.budget_ms:.0f} ms budget",
        file=sys.stderr,
    )
    return 0 if overview_p50 < args.budget_ms else 1


def _p95(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


if __name__ == "__main__":
    raise SystemExit(main())
