"""``ops/bench/bench_surface.py`` runs end to end on a tiny size and prints a sane row."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.services import REPO_ROOT

pytestmark = pytest.mark.integration


def test_bench_surface_prints_rates_ratio_and_p99() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VBQ_")}
    argv = [sys.executable, "-m", "ops.bench.bench_surface", "--creates", "40", "--rounds", "2"]
    done = subprocess.run(
        [*argv, "--threads", "2"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    header, _, row = done.stdout.strip().splitlines()[-3:]
    values = dict(
        zip(
            [c.strip() for c in header.strip("|").split("|")],
            [c.strip() for c in row.strip("|").split("|")],
            strict=True,
        )
    )
    assert values["creates per door"] == "40"
    assert float(values["surface creates/s"].replace(",", "")) > 0
    assert float(values["ratio"]) > 0 and float(values["surface p99 ms"]) > 0
