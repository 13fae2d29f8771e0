"""``ops/bench/bench_e2e.py`` runs and prints a sane markdown row (slow: a full stack start)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.services import REPO_ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_bench_e2e_prints_a_row_with_positive_rates() -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("VBQ_") and not k.endswith("_EMULATOR_HOST")
    }
    argv = [sys.executable, "-m", "ops.bench.bench_e2e", "--jobs", "8"]
    argv += ["--seconds-per-job", "0.5", "--storm-s", "0", "--header"]
    done = subprocess.run(
        argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    header, _, row = done.stdout.strip().splitlines()
    assert header.startswith("| stage-1 jobs |")
    cells = [c.strip() for c in row.strip("|").split("|")]
    names = [c.strip() for c in header.strip("|").split("|")]
    values = dict(zip(names, cells, strict=True))
    assert values["stage-1 jobs"] == "8"
    assert int(values["finished jobs (1+2)"]) >= 8
    assert float(values["jobs/s"]) > 0 and float(values["CPU s/job"]) > 0
    assert values["checks"] == "pass"
