"""A tiny bounded run of ops/bench/bench_events.py (the full run is 5,000 events)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.support.services import REPO_ROOT

pytestmark = pytest.mark.integration


def test_bench_events_smoke_prints_a_markdown_row() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ops.bench.bench_events", "--events", "200", "--timeout-s", "40"],
        check=False,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    row = proc.stdout.strip().splitlines()[-1]
    m = re.fullmatch(r"\| 200 \| (\d+) \| (\d+) \| (\d+\.\d\d) \|", row)
    assert m is not None, row
    vbq_rate, bare_rate, ratio = int(m[1]), int(m[2]), float(m[3])
    assert vbq_rate > 0 and bare_rate > 0
    assert ratio == pytest.approx(vbq_rate / bare_rate, abs=0.05)
