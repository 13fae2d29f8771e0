"""Reading outputs: ``iter_predictions`` streaming vs ``download_as_bytes`` + ``splitlines``.

Starts the storage emulator (``vbq emulator gcs``, in memory) on a free port, writes a
predictions file of ``--size-mb`` (default 1 GB) shaped like Vertex's custom-model output into
a job output directory, then measures in **child processes** (so that ``ru_maxrss`` is theirs
alone):

* **stream**: ``vbq.subscribers.actions.iter_predictions(job)``: ranged reads of ``--chunk-mb``,
  rows parsed one by one. Reports rows/s and peak RSS growth (peak ``ru_maxrss`` minus the
  RSS after imports and client set-up).
* **baseline**: ``blob.download_as_bytes()`` then ``splitlines()`` and ``json.loads`` per line,
  on a smaller file of ``--baseline-mb`` (holding 1 GB in memory would only prove the point
  expensively); its RSS growth is also shown scaled linearly to ``--size-mb``.

Run from the repository root::

    .venv/bin/python -m ops.bench.bench_outputs --size-mb 1024

Prints a markdown table (header + one row): size, rows, stream rows/s, stream peak RSS growth,
baseline rows/s, baseline RSS growth (measured, and scaled to the full size), and the memory
ratio (scaled baseline / stream growth, the stream's floored at 1 MB).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.support.emulators import GcsEmulator

BUCKET = "bench-outputs"
_MB = 1024 * 1024


def _status_mb(field: str) -> float | None:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return None


def _peak_rss_mb() -> float:
    """Peak RSS since the last :func:`_reset_peak` (``VmHWM``), else since the process began."""
    hwm = _status_mb("VmHWM")
    # Linux reports ru_maxrss in KiB.
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_rss_mb() -> float:
    """RSS now; the peak starts again from here (:func:`_reset_peak`).

    Imports and client set-up leave a high-water mark far above what the process holds once
    they are done (seen: 140 MB peak, 90 MB resident), so growth is measured from a reset peak.
    """
    _reset_peak()
    current = _status_mb("VmRSS")
    return current if current is not None else _peak_rss_mb()


def _reset_peak() -> None:
    # Writing 5 to clear_refs resets VmHWM to the current RSS (Linux >= 4.0).
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def write_predictions(path: Path, size_mb: float) -> int:
    """Write custom-model prediction rows to ``path`` until it holds ``size_mb``; row count."""
    target = int(size_mb * _MB)
    rows = 0
    written = 0
    with path.open("wb") as fh:
        while written < target:
            block = []
            for i in range(rows, rows + 2000):
                instance = {"id": i, "text": f"instance number {i} " + "lorem ipsum " * 6}
                line = json.dumps(
                    {"instance": instance, "prediction": {"echo": instance, "digest": f"{i:016x}"}},
                    separators=(",", ":"),
                )
                block.append(line)
            data = ("\n".join(block) + "\n").encode()
            fh.write(data)
            written += len(data)
            rows += len(block)
    return rows


def _job(directory: str) -> dict[str, Any]:
    return {
        "name": "projects/bench/locations/us-central1/batchPredictionJobs/1",
        "state": "JOB_STATE_SUCCEEDED",
        "outputInfo": {"gcsOutputDirectory": directory},
    }


def _client() -> Any:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(project="bench", credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]


# -- children ---------------------------------------------------------------------------------


def _warm_up(client: Any, directory: str) -> None:
    """One tiny ranged download, so lazy imports and the connection pool are not counted."""
    bucket, _, prefix = directory.removeprefix("gs://").partition("/")
    for blob in client.list_blobs(bucket, prefix=prefix + "/"):
        blob.download_as_bytes(start=0, end=0)
        json.loads(b'{"warm": [1, 2.5, "x"]}')
        break


def child_stream(directory: str, chunk_mb: float) -> dict[str, float]:
    """Stream every row with iter_predictions; runs in its own process."""
    from vbq.subscribers.actions import iter_output_files, iter_predictions

    client = _client()
    _warm_up(client, directory)
    list(iter_output_files(_job(directory), client=client))
    t0 = time.perf_counter()
    rows_iter = iter_predictions(
        _job(directory), client=client, chunk_size_bytes=int(chunk_mb * _MB)
    )
    # The first row sets up the reader (one chunk in flight): that is the steady state whose
    # growth over the rest of the file is measured.
    rows = 1 if next(rows_iter, None) is not None else 0
    start_mb = _current_rss_mb()
    for _row in rows_iter:
        rows += 1
    seconds = time.perf_counter() - t0
    return {"rows": rows, "seconds": seconds, "growth_mb": _peak_rss_mb() - start_mb}


def child_baseline(directory: str) -> dict[str, float]:
    """Download whole files, split lines, parse each; runs in its own process."""
    client = _client()
    bucket, _, prefix = directory.removeprefix("gs://").partition("/")
    blobs = list(client.list_blobs(bucket, prefix=prefix + "/"))
    _warm_up(client, directory)
    start_mb = _current_rss_mb()
    t0 = time.perf_counter()
    rows = 0
    for blob in blobs:
        for line in blob.download_as_bytes().splitlines():
            if line.strip():
                json.loads(line)
                rows += 1
    seconds = time.perf_counter() - t0
    return {"rows": rows, "seconds": seconds, "growth_mb": _peak_rss_mb() - start_mb}


def _run_child(kind: str, directory: str, chunk_mb: float, env: dict[str, str]) -> dict[str, Any]:
    argv = [sys.executable, "-m", "ops.bench.bench_outputs", "--child", kind, "--dir", directory]
    argv += ["--chunk-mb", str(chunk_mb)]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{kind} child failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# -- parent -----------------------------------------------------------------------------------


def _upload(client: Any, directory: str, path: Path) -> None:
    name = directory.removeprefix(f"gs://{BUCKET}/") + "/predictions_00001.jsonl"
    blob = client.bucket(BUCKET).blob(name, chunk_size=32 * _MB)
    blob.upload_from_filename(str(path), content_type="application/jsonl")


def run(size_mb: float, baseline_mb: float, chunk_mb: float) -> str:
    """Run the whole benchmark; returns the markdown table."""
    with tempfile.TemporaryDirectory(prefix="bench-outputs-") as tmp:
        tmp_path = Path(tmp)
        emulator = GcsEmulator(tmp_path / "logs").start()
        env = {**os.environ, "STORAGE_EMULATOR_HOST": emulator.host}
        os.environ["STORAGE_EMULATOR_HOST"] = emulator.host
        try:
            client = _client()
            client.create_bucket(BUCKET)
            big_dir = f"gs://{BUCKET}/out/prediction-bench-big"
            small_dir = f"gs://{BUCKET}/out/prediction-bench-small"
            big_file, small_file = tmp_path / "big.jsonl", tmp_path / "small.jsonl"
            rows = write_predictions(big_file, size_mb)
            write_predictions(small_file, min(baseline_mb, size_mb))
            real_mb = big_file.stat().st_size / _MB
            small_mb = small_file.stat().st_size / _MB
            _upload(client, big_dir, big_file)
            _upload(client, small_dir, small_file)
            big_file.unlink()
            small_file.unlink()
            stream = _run_child("stream", big_dir, chunk_mb, env)
            base = _run_child("baseline", small_dir, chunk_mb, env)
        finally:
            emulator.stop()
    if stream["rows"] != rows:
        raise SystemExit(f"streamed {stream['rows']} rows, wrote {rows}")
    scaled = base["growth_mb"] * real_mb / small_mb
    header = (
        "| size MB | rows | stream rows/s | stream peak RSS growth MB | baseline rows/s "
        "| baseline RSS growth MB (at MB) | baseline scaled to size MB "
        "| memory ratio (scaled baseline / stream) |\n"
        "|---|---|---|---|---|---|---|---|"
    )
    row = (
        f"| {real_mb:.0f} | {rows} | {stream['rows'] / stream['seconds']:.0f} "
        f"| {stream['growth_mb']:.1f} | {base['rows'] / base['seconds']:.0f} "
        f"| {base['growth_mb']:.1f} ({small_mb:.0f}) | {scaled:.0f} "
        f"| {scaled / max(stream['growth_mb'], 1.0):.1f} |"
    )
    return f"{header}\n{row}"


def main() -> None:
    parser = argparse.ArgumentParser(description="iter_predictions vs download_as_bytes")
    parser.add_argument("--size-mb", type=float, default=1024.0)
    parser.add_argument("--baseline-mb", type=float, default=64.0)
    parser.add_argument("--chunk-mb", type=float, default=4.0)
    parser.add_argument("--child", choices=["stream", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "stream":
        print(json.dumps(child_stream(args.dir, args.chunk_mb)))
        return
    if args.child == "baseline":
        print(json.dumps(child_baseline(args.dir)))
        return
    print(run(args.size_mb, args.baseline_mb, args.chunk_mb), flush=True)


if __name__ == "__main__":
    main()
