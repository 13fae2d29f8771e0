"""A small cluster for worker integration tests: Vertex emulator + real `vbq worker` processes."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import redis

from tests.support.services import ManagedProcess, free_port, vbq_argv
from vbq.broker.enqueue import Enqueuer
from vbq.settings import Settings
from vbq.spec import JobSpec
from vbq.states import SubmissionState
from vbq.store import JobStore, NewSubmission
from vbq.workers.celery_app import create_app

PROJECT = "vbq-test-project"
LOCATION = "us-central1"


class EmulatorProc:
    """`vbq emulator vertex` as a child process, with its admin API."""

    def __init__(self, log_dir: Path, *, time_scale: float = 100.0) -> None:
        # time_scale 100: jobs stay PENDING for minutes, so no job reads its (absent) inputs.
        self.port = free_port()
        self.proc = ManagedProcess(
            f"vertex-{self.port}",
            vbq_argv(
                "emulator", "vertex", "--port", str(self.port), "--time-scale", str(time_scale)
            ),
            log_dir=log_dir,
            port=self.port,
            env={"VBQ_LOG_FORMAT": "json", "VBQ_LOG_LEVEL": "WARNING"},
        )
        self.http = httpx.Client(base_url=self.url, timeout=30.0)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> EmulatorProc:
        self.proc.start()
        return self

    def stop(self) -> None:
        self.http.close()
        self.proc.kill()  # its graceful shutdown waits on keep-alive connections

    def configure(self, **changes: Any) -> dict[str, Any]:
        r = self.http.post("/_emulator/config", json=changes)
        r.raise_for_status()
        out: dict[str, Any] = r.json()
        return out

    def reset(self) -> None:
        self.http.post("/_emulator/reset").raise_for_status()

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = self.http.get("/_emulator/stats").raise_for_status().json()
        return out

    def jobs(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = self.http.get("/_emulator/jobs").raise_for_status().json()
        return out

    def requests(self, since: float = 0.0) -> list[dict[str, Any]]:
        r = self.http.get("/_emulator/requests", params={"since": since}).raise_for_status()
        out: list[dict[str, Any]] = r.json()
        return out


def worker_env(redis_url: str, vertex_url: str, **overrides: str) -> dict[str, str]:
    """Environment of a `vbq worker` process for tests (fast retries, high limits)."""
    env = {
        "VBQ_REDIS_URL": redis_url,
        "VBQ_BROKER_URL": redis_url,
        "VBQ_VERTEX_ENDPOINT": vertex_url,
        "VBQ_PROJECT": PROJECT,
        "VBQ_LOCATION": LOCATION,
        "VBQ_CREATE_RATE_PER_MIN": "600000",
        "VBQ_CREATE_BURST": "100",
        "VBQ_READ_RATE_PER_MIN": "600000",
        "VBQ_READ_BURST": "100",
        "VBQ_MAX_IN_FLIGHT": "100000",
        "VBQ_MAX_ATTEMPTS": "40",
        "VBQ_RETRY_BASE_S": "0.05",
        "VBQ_RETRY_MAX_S": "0.5",
        "VBQ_HTTP_TIMEOUT_S": "5",
        "VBQ_VISIBILITY_TIMEOUT_S": "30",
        "VBQ_LOG_FORMAT": "json",
        "VBQ_LOG_LEVEL": "WARNING",
    }
    env.update(overrides)
    return env


def settings_from(env: Mapping[str, str]) -> Settings:
    return Settings.from_env(dict(env))


def start_workers(
    n: int,
    env: Mapping[str, str],
    log_dir: Path,
    *,
    pool: str = "solo",
    concurrency: int = 1,
    queues: str = "vbq.submit,vbq.cancel,vbq.maintenance",
    tag: str = "w",
    wait: bool = True,
) -> list[ManagedProcess]:
    """Start `vbq worker` processes; with ``wait``, return once each answers a ping."""
    procs, names = [], []
    for i in range(n):
        name = f"{tag}{i}-{time.monotonic_ns()}@test"
        argv = vbq_argv(
            "worker", "--pool", pool, "--concurrency", str(concurrency), "--queues", queues,
            "--hostname", name,
        )  # fmt: skip
        procs.append(ManagedProcess(f"{tag}{i}", argv, log_dir=log_dir, env=dict(env)).start())
        names.append(name)
    if wait:
        wait_ready(settings_from(env), names, procs)
    return procs


def wait_ready(
    settings: Settings, names: list[str], procs: list[ManagedProcess], timeout_s: float = 60.0
) -> None:
    """Block until every named worker answers a broadcast ping (fails if one dies first)."""
    app = create_app(settings)
    pending = set(names)
    deadline = time.monotonic() + timeout_s
    try:
        while pending:
            dead = [p.name for p in procs if not p.alive()]
            if dead or time.monotonic() > deadline:
                raise RuntimeError(
                    f"workers not ready: {pending}, dead: {dead}\n" + logs_tail(procs)
                )
            for reply in app.control.ping(destination=list(pending), timeout=0.5) or []:
                pending -= set(reply)
    finally:
        app.close()


def spec(i: int = 0) -> JobSpec:
    return JobSpec.from_sdk_kwargs(
        job_display_name=f"job-{i}",
        model_name="publishers/google/models/gemini-2.0-flash-001",
        gcs_source="gs://bucket/in.jsonl",
        gcs_destination_prefix="gs://bucket/out",
    )


def create_submissions(store: JobStore, n: int) -> list[str]:
    results = store.create_many([NewSubmission(spec=spec(i), tenant="t1") for i in range(n)])
    return [rec.id for rec, _ in results]


def enqueuer(settings: Settings) -> Enqueuer:
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    return Enqueuer(celery_app=create_app(settings), redis_client=client, settings=settings)


def wait_until(
    check: Callable[[], bool],
    *,
    timeout_s: float,
    interval_s: float = 0.2,
    what: str = "condition",
    on_timeout: Callable[[], str] | None = None,
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval_s)
    detail = on_timeout() if on_timeout else ""
    raise AssertionError(f"{what} not reached within {timeout_s}s {detail}")


def states(store: JobStore, ids: list[str]) -> dict[str, SubmissionState]:
    return {rec.id: rec.state for rec in store.get_many(ids)}


def jobs_per_submission(jobs: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for job in jobs:
        sid = (job.get("labels") or {}).get("vbq-submission", "")
        out[sid] = out.get(sid, 0) + 1
    return out


def logs_tail(procs: list[ManagedProcess], lines: int = 15) -> str:
    return "\n".join(
        f"--- {p.name}\n" + "\n".join(p.log_text().splitlines()[-lines:]) for p in procs
    )
