"""The request benchmarks run and print their row (bounded sizes; the figures are in
BENCHMARKS.md, from ``make bench``)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.services import REPO_ROOT

pytestmark = pytest.mark.integration


def run(*argv: str) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-m", *argv],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [line for line in proc.stdout.splitlines() if line.startswith("|")]


def test_bench_requests_smoke() -> None:
    header, _, row = run("ops.bench.bench_requests", "--count", "600", "--batch", "200", "--header")
    assert "add_requests /s" in header
    assert row.startswith("| 600 |")


def test_bench_unpack_smoke() -> None:
    header, _, row = run("ops.bench.bench_unpack", "--size-mb", "4", "--rows", "2000", "--header")
    assert "rows/s" in header and "peak RSS growth MB" in header
    assert "| 2000 | 10 |" in row
