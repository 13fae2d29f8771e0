"""``ops/bench/bench_console.py`` on 20,000 submissions: it runs, and the overview stays far
below its 500 ms budget (generous bound here: shared machine)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.services import REPO_ROOT

pytestmark = pytest.mark.integration


def test_bench_console_smoke() -> None:
    argv = [sys.executable, "-m", "ops.bench.bench_console", "--records", "20000"]
    argv += ["--runs", "5", "--budget-ms", "1500", "--header"]
    done = subprocess.run(
        argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = [dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=True))
            for line in lines[2:]]  # fmt: skip
    pages = {row["page"]: float(row["p50 ms"]) for row in rows}
    assert rows[0]["page"] == "overview" and rows[0]["records"] == "20,000"
    assert len(pages) == 9 and all(ms > 0 for ms in pages.values())
    assert pages["overview"] < 1500
