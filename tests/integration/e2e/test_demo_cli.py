"""``vbq demo`` as a user runs it: a subprocess, its summary, its exit code, its clean-up."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.services import REPO_ROOT, vbq_argv

pytestmark = pytest.mark.integration

CHECKS = (
    "every job finished",
    "events delivered = state changes",
    "handler runs = events",
    "each chained job submitted exactly once",
)


class DemoProcess:
    """``vbq demo`` in its own session; remembers every child pid it ever listed."""

    def __init__(self, workdir: Path, *args: str) -> None:
        self.workdir = workdir
        self.log = workdir.parent / f"{workdir.name}.out"
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("VBQ_") and not k.endswith("_EMULATOR_HOST")
        }
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                vbq_argv("demo", "--workdir", str(workdir), *args),
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=REPO_ROOT,
                start_new_session=True,
            )
        self.children: dict[int, str] = {}
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        pids = self.workdir / "pids"
        while not self._stop.is_set():
            if pids.exists():
                for line in pids.read_text().splitlines():
                    name, _, pid = line.partition(" ")
                    if pid.isdigit():
                        self.children[int(pid)] = name
            time.sleep(0.05)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_for(self, pattern: str, timeout_s: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = re.search(pattern, self.output())
            if found:
                return found
            assert self.proc.poll() is None, f"demo exited {self.proc.returncode}:\n{self.output()}"
            time.sleep(0.1)
        raise AssertionError(f"{pattern!r} not printed within {timeout_s}s:\n{self.output()}")

    def wait(self, timeout_s: float) -> int:
        try:
            return self.proc.wait(timeout=timeout_s)
        finally:
            self._stop.set()
            self._watcher.join(timeout=2)

    def kill(self) -> None:
        self._stop.set()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        for pid in self.children:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


@pytest.fixture
def demo_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "demo"


def running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def assert_all_stopped(demo: DemoProcess) -> None:
    assert demo.children, "the demo listed no child processes"
    deadline = time.monotonic() + 5
    while any(running(pid) for pid in demo.children) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = {pid: name for pid, name in demo.children.items() if running(pid)}
    assert not left, f"still running after the demo exited: {left}"


def test_demo_runs_20_jobs_passes_every_check_and_stops_everything(demo_dir: Path) -> None:
    demo = DemoProcess(
        demo_dir, "--jobs", "20", "--seconds-per-job", "1", "--workers", "1", "--storm-s", "1"
    )
    try:
        code = demo.wait(timeout_s=150)
        out = demo.output()
        assert code == 0, out
        for check in CHECKS:
            assert re.search(rf"^✓ {re.escape(check)}: ", out, re.M), out
        assert "✗" not in out and "all checks passed" in out
        finished = re.search(r"✓ every job finished: stage 1 (\d+)/(\d+), stage 2 (\d+)/(\d+)", out)
        assert finished and finished.group(1) == finished.group(2) == "20", out
        events = re.search(r"Events: (\d+) state changes recorded, (\d+) published", out)
        assert events and int(events.group(1)) == int(events.group(2)) >= 20 * 2, out
        assert re.search(r"Vertex API calls: \d+ \(create \d+", out), out
        summary = demo_dir / "summaries.jsonl"
        assert f"Summary file: {summary}" in out and summary.stat().st_size > 0
        assert "gs://vbq-demo/outputs/" in out
        assert_all_stopped(demo)
    finally:
        demo.kill()


def test_sigterm_while_starting_stops_every_process_it_started(demo_dir: Path) -> None:
    demo = DemoProcess(demo_dir, "--jobs", "20")
    try:
        deadline = time.monotonic() + 30
        while len(demo.children) < 3:
            assert time.monotonic() < deadline, demo.output()
            assert demo.proc.poll() is None, demo.output()
            time.sleep(0.05)
        demo.proc.send_signal(signal.SIGTERM)
        assert demo.wait(timeout_s=30) == 130, demo.output()
        assert "SIGTERM: stopping every process the demo started" in demo.output()
        assert_all_stopped(demo)
    finally:
        demo.kill()


@pytest.mark.slow  # a second full stack start; the default run covers the same clean-up above
def test_keep_running_prints_a_working_env_and_ctrl_c_stops_it(demo_dir: Path) -> None:
    demo = DemoProcess(demo_dir, "--jobs", "4", "--seconds-per-job", "0.5", "--keep-running")
    try:
        demo.wait_for(r"Press Ctrl-C", timeout_s=120)
        url = demo.wait_for(r"export VBQ_REDIS_URL=(\S+)", timeout_s=1).group(1)
        client = redis.Redis.from_url(url)
        assert client.ping()
        time.sleep(1.0)
        assert demo.proc.poll() is None  # still up
        demo.proc.send_signal(signal.SIGINT)
        assert demo.wait(timeout_s=30) == 0, demo.output()
        with pytest.raises(redis.ConnectionError):
            client.ping()
        assert_all_stopped(demo)
    finally:
        demo.kill()
