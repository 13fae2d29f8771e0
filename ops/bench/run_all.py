"""Run every ``ops/bench/bench_*.py`` with bounded sizes and rewrite ``BENCHMARKS.md``.

``make bench`` runs this. Each script runs as its own process (``python -m ops.bench.<name>``)
with the arguments in :data:`BOUNDED_ARGS` (a script not listed there runs with its defaults),
and prints markdown table lines; they are collected verbatim under the script's section. The
summary table lists every benchmark, what it compares, its headline ratio and its status
(``ok``, ``failed`` with the exit code, or ``pending`` when the script does not exist yet).

Every run's results are also kept in ``ops/bench/results.json`` (one entry per benchmark, with
the time it ran), and BENCHMARKS.md is rendered from all of them: ``--only`` re-runs some
benchmarks and keeps the others' latest figures, each row saying when it was measured.

Usage (from the repository root)::

    .venv/bin/python -m ops.bench.run_all [--only bench_poll,bench_latency] [--out BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH_DIR = Path(__file__).resolve().parent
RESULTS_PATH = BENCH_DIR / "results.json"

# What each benchmark compares, in the order of the summary table. Scripts found on disk but not
# listed here are appended with their module docstring's first line.
KNOWN: dict[str, str] = {
    "bench_enqueue": "enqueue rate: `Client.submit_many` vs bare Celery `apply_async`",
    "bench_ratelimit": "global create-rate accuracy: vbq GCRA vs Celery's per-worker rate_limit",
    "bench_poll": "Vertex API calls per poll cycle: bulk list vs one get per job",
    "bench_events": "event throughput: outbox relay + subscriber vs bare Pub/Sub client",
    "bench_latency": "event latency (job endTime → handler start) vs poll interval",
    "bench_e2e": (
        "end-to-end jobs/s and CPU s per job (demo pipeline; its 3 s storm of 429s on every"
        " create slows the adaptive rate by design: about half the jobs/s of `--storm-s 0`)"
    ),
    "bench_outputs": "peak memory of streaming outputs vs reading them whole",
    "bench_surface": "creates/s through Google's surface vs `POST /v1/submissions`, p99 answer",
    "bench_console": "web console page times on 1,000,000 submissions vs the JSON list endpoint",
    "bench_requests": "request ingest: `add_requests` vs `submit_many` (and raw Redis writes)",
    "bench_unpack": "unpacking a 1 GB packed Gemini output: rows/s and peak RSS growth",
    "bench_adaptive": "429 storm (over 5/s for 60 s, L = 20/s): adaptive create rate vs fixed",
    "bench_soak": "retention soak: Redis memory flat after the window, archive exactly once",
    "bench_fairness": "late tenant's p95 wait behind a flood: fair scheduler vs FIFO, same run",
}

# Bounded sizes for `make bench` (minutes, not hours, on a 2-core machine).
BOUNDED_ARGS: dict[str, list[str]] = {
    "bench_enqueue": ["--count", "5000", "--budget-s", "30"],
    "bench_ratelimit": ["--workers", "4", "--backlog", "300", "--rate-per-min", "1200"],
    "bench_poll": ["--jobs", "10000", "--header"],
    "bench_events": ["--events", "5000", "--header"],
    "bench_latency": ["--intervals", "0.5,2,5", "--jobs", "40", "--header"],
    "bench_e2e": ["--jobs", "100", "--header"],
    "bench_outputs": ["--size-mb", "256", "--baseline-mb", "32"],
    "bench_surface": ["--creates", "1600", "--rounds", "8", "--threads", "8"],
    "bench_console": ["--records", "1000000", "--header"],
    "bench_requests": ["--count", "20000", "--header"],
    "bench_unpack": ["--size-mb", "1024", "--rows", "200000", "--header"],
    "bench_adaptive": ["--storm-s", "60", "--header"],
    # 1,000,000 takes ~30 min here (writing them dominates; per-submission figures do not
    # depend on the size), so make bench runs 200,000.
    "bench_soak": ["--submissions", "1000000", "--days", "10", "--header"],  # ~14 min quiet
    "bench_fairness": [],  # the sizes (~3 min): 3,000 + 30 at 10/s, 100,000 queued
}
TIMEOUT_S = 900.0

# Benchmarks without a ratio column: the columns that make their headline (every data row).
HEADLINE_COLUMNS: dict[str, tuple[str, ...]] = {
    "bench_ratelimit": ("limiter", "limit L", "burst", "peak creates in any 1 s"),
    "bench_e2e": ("jobs/s", "CPU s/job", "checks"),
    "bench_surface": ("ratio", "surface p99 ms"),
    "bench_console": ("records", "page", "p50 ms"),
    "bench_unpack": ("rows/s", "rows per CPU s", "peak RSS growth MB"),
    "bench_adaptive": ("mode", "429 share", "back to >= 19/s after storm"),
    "bench_soak": ("submissions", "B per live submission", "checks"),
}
# Benchmarks whose headline is their first rows only (the rest is detail).
HEADLINE_ROWS: dict[str, int] = {"bench_console": 1, "bench_adaptive": 2, "bench_soak": 1}


@dataclass
class Result:
    """One benchmark's run."""

    name: str
    status: str
    seconds: float = 0.0
    table: list[str] = field(default_factory=list)
    note: str = ""
    ran_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%d %H:%M", time.gmtime()))

    def headline(self) -> str:
        """The ratio column(s) of the first data row, when the table has one."""
        if len(self.table) < 3:
            return ""
        header = [c.strip() for c in self.table[0].strip("|").split("|")]
        rows = [[c.strip() for c in line.strip("|").split("|")] for line in self.table[2:]]
        wanted = HEADLINE_COLUMNS.get(self.name)
        rows = rows[: HEADLINE_ROWS.get(self.name, len(rows))]
        if wanted:
            return "; ".join(
                ", ".join(f"{h}: {v}" for h, v in zip(header, row, strict=False) if h in wanted)
                for row in rows
            )
        picked = [
            f"{h}: {v}"
            for h, v in zip(header, rows[0], strict=False)
            if "ratio" in h.lower() or "/ interval" in h.lower()
        ]
        return "; ".join(picked)


def discover() -> list[str]:
    """Benchmark module names: the known ones first (present or not), then any others."""
    found = sorted(p.stem for p in BENCH_DIR.glob("bench_*.py"))
    return list(KNOWN) + [n for n in found if n not in KNOWN]


def run_one(name: str, timeout_s: float) -> Result:
    """Run ``ops.bench.<name>``; keep the markdown lines of its output."""
    if not (BENCH_DIR / f"{name}.py").exists():
        return Result(name, "pending", note="script not written yet")
    argv = [sys.executable, "-m", f"ops.bench.{name}", *BOUNDED_ARGS.get(name, [])]
    started = time.monotonic()
    try:
        proc = subprocess.run(
            argv,
            check=False,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env={**os.environ, "VBQ_LOG_LEVEL": "WARNING"},
        )
    except subprocess.TimeoutExpired:
        return Result(name, "failed", time.monotonic() - started, note=f"timeout {timeout_s:g}s")
    seconds = time.monotonic() - started
    table = [line.rstrip() for line in proc.stdout.splitlines() if line.startswith("|")]
    if proc.returncode != 0 or not table:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
        return Result(name, f"failed (exit {proc.returncode})", seconds, table, tail[0][:200])
    return Result(name, "ok", seconds, table)


def machine() -> list[str]:
    """Lines describing the machine the figures come from."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return [
        f"- CPU: {cpu}, `nproc` = {os.cpu_count()}",
        f"- memory: {mem or 'unknown'}",
        f"- Python {platform.python_version()} on {platform.system()} {platform.release()}",
        f"- page written: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
    ]


def render(results: list[Result]) -> str:
    """The whole BENCHMARKS.md."""
    lines = [
        "# Benchmarks",
        "",
        "Every figure below comes from `make bench` (`python -m ops.bench.run_all`), which runs",
        "each `ops/bench/bench_*.py` with bounded sizes and rewrites this file from",
        "`ops/bench/results.json` (`--only NAME,...` re-runs some and keeps the others).",
        "Where a baseline exists it is measured in the same run, on the same machine, and the",
        "ratio is vbq / baseline (or how many times fewer calls / faster).",
        "On a shared 2-core machine absolute rates move by up to ~30 % between runs; the",
        "ratios, measured back to back, move much less.",
        "",
        "The last column of the summary says when each row was measured.",
        "",
        "Machine:",
        "",
        *machine(),
        "",
        "| benchmark | compares | headline | status | run s | measured (UTC) |",
        "|:--|:--|:--|:--|---:|:--|",
    ]
    for r in results:
        what = KNOWN.get(r.name, "")
        status = r.status + (f": {r.note}" if r.note else "")
        lines.append(
            f"| `{r.name}` | {what} | {r.headline()} | {status} | {r.seconds:.0f} | {r.ran_at} |"
        )
    for r in results:
        lines += ["", f"## {r.name}", "", KNOWN.get(r.name, ""), ""]
        args = " ".join(BOUNDED_ARGS.get(r.name, []))
        lines.append(f"`python -m ops.bench.{r.name} {args}`".replace(" `", "`"))
        lines.append("")
        lines += r.table or [f"_{r.status}{': ' + r.note if r.note else ''}_"]
    lines += ["", "Reproduce: `make bench`.", ""]
    return "\n".join(lines)


def load_results(path: Path = RESULTS_PATH) -> dict[str, Result]:
    """The latest stored result of every benchmark (empty when none was stored)."""
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {name: Result(**entry) for name, entry in raw.items()}


def save_results(results: dict[str, Result], path: Path = RESULTS_PATH) -> None:
    """Store the latest result of every benchmark (``results.json``, sorted, indented)."""
    payload = {name: asdict(r) for name, r in sorted(results.items())}
    path.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    parser.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    parser.add_argument("--timeout-s", type=float, default=TIMEOUT_S, help="per benchmark")
    args = parser.parse_args(argv)
    names = discover()
    if args.only:
        chosen = {n.strip() for n in args.only.split(",") if n.strip()}
        names = [n for n in names if n in chosen]
    stored = load_results()
    results: list[Result] = []
    for name in names:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        result = run_one(name, args.timeout_s)
        print(f"  {result.status} in {result.seconds:.0f}s", file=sys.stderr, flush=True)
        results.append(result)
        stored[name] = result
        save_results(stored)  # after each one: a long run interrupted keeps what it measured
    everything = [stored[n] for n in discover() if n in stored]
    Path(args.out).write_text(render(everything))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0 if all(r.status in {"ok", "pending"} for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
