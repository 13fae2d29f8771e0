"""Helpers for the events integration tests: processes, outbox writes, waiting."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import redis

from tests.support.services import ManagedProcess, vbq_argv
from vbq.events import JobEvent
from vbq.workers.relay import OUTBOX_KEY

HANDLER = "tests.integration.events.handlers:record"
STATES: list[tuple[str, str]] = [
    ("job.submitted", "SUBMITTED"),
    ("job.pending", "PENDING"),
    ("job.running", "RUNNING"),
    ("job.succeeded", "SUCCEEDED"),
]


def sid(i: int) -> str:
    return f"{i:032x}"


def append(r: redis.Redis, submission_id: str, type_: str, state: str) -> JobEvent:
    """XADD one event to the outbox, exactly as the job store's transition script does."""
    ev = JobEvent.create(type=type_, submission_id=submission_id, state=state, previous_state=None)
    r.xadd(OUTBOX_KEY, {"event": ev.to_json()})
    return ev


def wait_until(
    pred: Callable[[], bool], *, timeout_s: float, what: str, poll_s: float = 0.1
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def start_roles(
    specs: Sequence[tuple[str, Sequence[str], str]], *, log_dir: Path, env: dict[str, str]
) -> list[ManagedProcess]:
    """Start ``vbq`` commands ``(name, args, ready)`` at once; wait for each ``ready`` log line.

    They have no port, so readiness is a log line (``subscriber.started``, ``relay.started``).

    Raises:
        RuntimeError: a process exited or was not ready within 30 s (with its log tail).
    """
    procs = [
        ManagedProcess(name, vbq_argv(*args), log_dir=log_dir, env=env).start()
        for name, args, _ in specs
    ]
    deadline = time.monotonic() + 30
    for proc, (name, _, ready) in zip(procs, specs, strict=True):
        while ready not in proc.log_text():
            if not proc.alive() or time.monotonic() > deadline:
                for p in procs:
                    p.kill()
                raise RuntimeError(f"{name} did not start:\n{proc.log_text()[-3000:]}")
            time.sleep(0.05)
    return procs


def start_role(
    name: str, args: Sequence[str], *, log_dir: Path, env: dict[str, str], ready: str
) -> ManagedProcess:
    """Start one ``vbq`` command; see :func:`start_roles`."""
    return start_roles([(name, args, ready)], log_dir=log_dir, env=env)[0]


SUBSCRIBE = ("subscribe", ["subscribe", "--handler", HANDLER], "subscriber.started")
RELAY = ("relay", ["relay"], "relay.started")


def runs(r: redis.Redis, event_ids: Sequence[str]) -> list[int]:
    """How many times the handler finished for each event id."""
    if not event_ids:
        return []
    values = r.mget([f"test:runs:{e}" for e in event_ids])
    return [int(v) if v is not None else 0 for v in values]


def order(r: redis.Redis, submission_id: str) -> list[str]:
    return [v.decode() for v in r.lrange(f"test:order:{submission_id}", 0, -1)]
