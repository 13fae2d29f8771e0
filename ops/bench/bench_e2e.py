"""End-to-end throughput and CPU cost per job: the whole ``vbq demo`` pipeline on this machine.

Runs :func:`vbq_demo.run.execute` (private Redis, Vertex/Pub/Sub/storage emulators, workers,
beat with the relay, a subscriber with the built-in summary and chain actions) for N stage-1
jobs, then reports:

* **jobs/s**: finished jobs (stage 1 + chained stage 2) / seconds from the first submit until
  every job finished and every event was handled. Bounded by the emulated job duration
  (``--seconds-per-job``) and vbq's create rate, not only by CPU.
* **CPU s/job**: CPU seconds (user + system) of every child process (``getrusage
  (RUSAGE_CHILDREN)``, counted once the demo reaped them) plus this process, divided by the
  finished jobs. It includes starting the stack (about 10-15 CPU seconds of imports).

Run from the repository root::

    .venv/bin/python -m ops.bench.bench_e2e --jobs 200

Prints a markdown table row (``--header`` adds the header).
"""

from __future__ import annotations

import argparse
import io
import resource
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from vbq_demo.run import DemoOptions, execute


def _cpu_s(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the demo's exit code (0 = every check passed)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--jobs", type=int, default=200, help="stage-1 jobs")
    parser.add_argument("--seconds-per-job", type=float, default=3.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--storm-s", type=float, default=3.0, help="429 storm window (0: none)")
    parser.add_argument("--header", action="store_true", help="print the table header too")
    parser.add_argument("--show", action="store_true", help="show the demo's progress output")
    args = parser.parse_args(argv)

    children0, self0 = _cpu_s(resource.RUSAGE_CHILDREN), _cpu_s(resource.RUSAGE_SELF)
    buffer = io.StringIO()
    console = Console() if args.show else Console(file=buffer, width=160)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="vbq-bench-e2e-") as tmp:
        outcome = execute(
            DemoOptions(
                jobs=args.jobs,
                seconds_per_job=args.seconds_per_job,
                workers=args.workers,
                workdir=Path(tmp),
                storm_s=args.storm_s,
            ),
            console=console,
        )
    wall_s = time.monotonic() - t0
    children_s = _cpu_s(resource.RUSAGE_CHILDREN) - children0
    self_s = _cpu_s(resource.RUSAGE_SELF) - self0
    report = outcome.report
    if report is None:
        print(buffer.getvalue(), file=sys.stderr)
        print(f"demo did not finish (exit {outcome.code})", file=sys.stderr)
        return outcome.code or 2
    snap = report.snapshot
    jobs = snap.stage1_finished + snap.stage2_finished
    run_s = snap.elapsed_s
    if args.header:
        print(
            "| stage-1 jobs | finished jobs (1+2) | events | stack start (s) | submit→done (s) "
            "| jobs/s | wall (s) | CPU children (s) | CPU demo (s) | CPU s/job | checks |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:--|")
    print(
        f"| {args.jobs} | {jobs} | {snap.events_recorded} | {outcome.startup_s:.1f} "
        f"| {run_s:.1f} | {jobs / run_s:.1f} | {wall_s:.1f} | {children_s:.1f} | {self_s:.1f} "
        f"| {(children_s + self_s) / max(jobs, 1):.3f} | {'pass' if report.ok else 'FAIL'} |"
    )
    return outcome.code


if __name__ == "__main__":
    sys.exit(main())
