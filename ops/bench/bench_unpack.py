"""Unpacking a packed Gemini output: rows/s and peak memory of answering every request.

Starts a private ``redis-server`` and the storage emulator, adds ``--rows`` requests to one
pack (``RequestStore.add_many``), writes the pack's output as Google's Gemini batch rows
(``{status, processed_time, request, response}``, routing labels echoed in ``request``) in a
shuffled order, padded to ``--size-mb`` in total, and uploads it as ``predictions.jsonl``.
Then, in a **child process** (so ``VmHWM`` is its own), the unpacker answers every request:
rows streamed from Cloud Storage in 8 MB ranged reads, routed by label, answered by batched
Lua compare-and-set, token sums per tenant. Reports rows/s and peak RSS growth, measured from
a peak reset after imports and client set-up (``/proc/self/clear_refs``), like
``bench_outputs``.

Run from the repository root::

    .venv/bin/python -m ops.bench.bench_unpack --size-mb 1024 --rows 200000 --header
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ops.bench.bench_outputs import _current_rss_mb, _peak_rss_mb
from tests.support.emulators import GcsEmulator
from tests.support.services import RedisServer

BUCKET = "bench-unpack"
_MB = 1024 * 1024


def _settings(redis_url: str, rows: int) -> Any:
    from vbq.settings import Settings

    return Settings.from_env(
        {
            "VBQ_REDIS_URL": redis_url,
            "VBQ_PROJECT": "bench-project",
            "VBQ_PACK_PREFIX": f"gs://{BUCKET}/vbq",
            "VBQ_PACK_MAX_ROWS": str(rows),
            "VBQ_PACK_SHARE_TENANTS": "true",
        }
    )


def add_requests(redis_url: str, rows: int) -> str:
    """``rows`` small requests from 10 tenants in one pack; returns the pack id."""
    from vbq.producers.requests.builder import RequestBuilder
    from vbq.requests import RequestStore

    settings = _settings(redis_url, rows)
    builder = RequestBuilder(settings)
    store = RequestStore.from_settings(settings)
    pack_id = ""
    for start in range(0, rows, 10_000):
        batch = [
            builder.build(
                model="gemini-2.0-flash-001",
                request={"contents": [{"role": "user", "parts": [{"text": f"question {i}"}]}]},
                tenant=f"tenant-{i % 10}",
                idempotency_key=f"q-{i}",
            )
            for i in range(start, min(rows, start + 10_000))
        ]
        for result in store.add_many(batch):
            pack_id = result.record.pack_id  # type: ignore[union-attr]
    store.close()
    return pack_id


def write_output(redis_url: str, pack_id: str, path: Path, size_mb: float, seed: int) -> int:
    """Gemini output rows for every request of the pack, shuffled, ``size_mb`` in total."""
    import redis

    client = redis.Redis.from_url(redis_url)
    ids = [i.decode() for i in client.lrange(f"vbq:pack:{pack_id}:ids", 0, -1)]
    client.close()
    random.Random(seed).shuffle(ids)
    pad = max(0, int(size_mb * _MB / max(1, len(ids))) - 560)
    answer = ("The answer, at some length. " * (pad // 28 + 1))[:pad]
    written = 0
    with path.open("wb") as fh:
        for n, rid in enumerate(ids):
            row = {
                "status": "",
                "processed_time": "2026-11-27T10:00:00.000+00:00",
                "request": {
                    "contents": [{"role": "user", "parts": [{"text": f"question {n}"}]}],
                    "labels": {"vbq-request": rid, "vbq-tenant": f"tenant-{n % 10}"},
                },
                "response": {
                    "candidates": [
                        {
                            "content": {"role": "model", "parts": [{"text": answer}]},
                            "finishReason": "STOP",
                        }
                    ],
                    "usageMetadata": {
                        "promptTokenCount": 3,
                        "candidatesTokenCount": pad // 5,
                        "totalTokenCount": 3 + pad // 5,
                    },
                    "modelVersion": "gemini-2.0-flash-001",
                },
            }
            data = (json.dumps(row, separators=(",", ":")) + "\n").encode()
            fh.write(data)
            written += len(data)
    return written


def child(redis_url: str, pack_id: str, directory: str, rows: int) -> dict[str, float]:
    """Unpack the pack; runs in its own process."""
    import redis

    from vbq.requests import PackBook, RequestStore
    from vbq.storage import storage_client
    from vbq.workers.unpack import Unpacker

    settings = _settings(redis_url, rows)
    client = redis.Redis.from_url(redis_url)
    book = PackBook(client, settings=settings)
    pack = RequestStore(client, settings=settings).get_pack(pack_id)
    assert pack is not None
    gcs = storage_client()
    list(gcs.list_blobs(BUCKET, prefix="out/"))  # warm the connection pool and imports
    unpacker = Unpacker(book=book, settings=settings, client=gcs)
    start_mb = _current_rss_mb()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    result = unpacker.unpack(
        pack,
        job={"outputInfo": {"gcsOutputDirectory": directory}},
        state="SUCCEEDED",
        submission_id="x",
    )
    seconds = time.perf_counter() - t0
    cpu_s = time.process_time() - cpu0
    return {
        "cpu_s": cpu_s,
        "rows": result.rows_read,
        "answered": result.counts.new,
        "tenants": len(result.by_tenant),
        "seconds": seconds,
        "growth_mb": _peak_rss_mb() - start_mb,
    }


def run(size_mb: float, rows: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-unpack-") as tmp:
        tmp_path = Path(tmp)
        server = RedisServer(tmp_path / "redis", appendonly=False).start()
        emulator = GcsEmulator(tmp_path / "logs").start()
        env = {**os.environ, "STORAGE_EMULATOR_HOST": emulator.host}
        os.environ["STORAGE_EMULATOR_HOST"] = emulator.host
        try:
            from vbq.storage import storage_client

            storage_client().create_bucket(BUCKET)
            pack_id = add_requests(server.url, rows)
            out = tmp_path / "predictions.jsonl"
            size = write_output(server.url, pack_id, out, size_mb, seed=7)
            directory = f"gs://{BUCKET}/out/prediction-model-bench"
            blob = (
                storage_client()
                .bucket(BUCKET)
                .blob("out/prediction-model-bench/predictions.jsonl", chunk_size=32 * _MB)
            )
            blob.upload_from_filename(str(out), content_type="application/jsonl")
            out.unlink()
            argv = [
                sys.executable,
                "-m",
                "ops.bench.bench_unpack",
                "--child",
                "--redis-url",
                server.url,
            ]
            argv += ["--pack-id", pack_id, "--dir", directory, "--rows", str(rows)]
            proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
            if proc.returncode != 0:
                raise SystemExit(f"child failed:\n{proc.stderr[-3000:]}")
            result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
        finally:
            emulator.stop()
            server.stop()
    result["size_mb"] = size / _MB
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=1024.0)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--header", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--redis-url", help=argparse.SUPPRESS)
    parser.add_argument("--pack-id", help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.redis_url, args.pack_id, args.dir, args.rows)))
        return
    r = run(args.size_mb, args.rows)
    if r["rows"] != args.rows or r["answered"] != args.rows:
        raise SystemExit(f"unpacked {r['rows']} rows, answered {r['answered']} of {args.rows}")
    if args.header:
        print(
            "| output MB | rows | tenants | unpack s | rows/s | MB/s | unpacker CPU s "
            "| rows per CPU s | peak RSS growth MB |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {r['size_mb']:.0f} | {r['rows']} | {r['tenants']} | {r['seconds']:.1f} "
        f"| {r['rows'] / r['seconds']:,.0f} | {r['size_mb'] / r['seconds']:.0f} "
        f"| {r['cpu_s']:.1f} | {r['rows'] / r['cpu_s']:,.0f} | {r['growth_mb']:.1f} |"
    )


if __name__ == "__main__":
    main()
