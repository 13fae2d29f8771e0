"""A bounded run of ops/bench/bench_outputs.py (the full run streams 1 GB)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.support.services import REPO_ROOT

pytestmark = pytest.mark.integration

SIZE_MB = 24


def test_streaming_memory_stays_far_below_the_file_size() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ops.bench.bench_outputs", "--size-mb", str(SIZE_MB),
         "--baseline-mb", "6", "--chunk-mb", "0.25"],
        check=False, cwd=REPO_ROOT, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    print(proc.stdout)
    row = proc.stdout.strip().splitlines()[-1]
    m = re.fullmatch(
        r"\| (\d+) \| (\d+) \| (\d+) \| (-?[\d.]+) \| (\d+) \| ([\d.]+) \((\d+)\) \| (\d+) "
        r"\| ([\d.]+) \|",
        row,
    )
    assert m is not None, row
    size_mb, rows, stream_rate, stream_mb = int(m[1]), int(m[2]), int(m[3]), float(m[4])
    base_rate, base_mb, scaled_mb = int(m[5]), float(m[6]), int(m[8])
    assert size_mb == SIZE_MB and rows > 60_000
    assert stream_rate > 0 and base_rate > 0
    # The whole-file baseline grows with the file; streaming holds a few chunks plus allocator
    # slack (glibc's moving mmap threshold makes that a few MB, not a function of the size).
    assert base_mb > 6 * 0.8
    assert stream_mb < SIZE_MB / 2, row
    assert stream_mb < scaled_mb / 3, row
    assert float(m[9]) == pytest.approx(scaled_mb / max(stream_mb, 1.0), rel=0.1, abs=0.2)
