"""The whole vbq pipeline as real processes on loopback ports, for the chaos suite.

``ChaosCluster.start()`` brings up: a private ``redis-server`` with AOF (job store *and* Celery
broker), the GCS emulator (job inputs and outputs), the Vertex emulator, a journaled Pub/Sub
emulator, submit workers (one of them optionally under a skewed clock, see
``clockskew/sitecustomize.py``), a poll worker, one or two ``vbq beat`` processes (each also
runs the outbox relay) and ``vbq subscribe`` processes running the recording handler.

Roles are :class:`~tests.support.services.ManagedProcess` objects in ``roles``; a fault kills
one and :meth:`ChaosCluster.respawn` starts it again with the same argv and environment.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from tests.support.emulators import GcsEmulator, VertexEmulator
from tests.support.pubsub import PubSubEmulator
from tests.support.sentinel import SentinelRedis
from tests.support.services import ManagedProcess, RedisServer, vbq_argv
from vbq.settings import Settings

__all__ = ["ChaosCluster", "ClusterShape"]

PROJECT = "vbq-chaos"
LOCATION = "us-central1"
HANDLER = "tests.chaos.handlers:record"
AUDIT_SUBSCRIPTION = "vbq-chaos-audit"
INPUT_BUCKET = "chaos-in"
OUTPUT_PREFIX = "gs://chaos-out/results"
CLOCKSKEW_DIR = Path(__file__).resolve().parent / "clockskew"
DIAG_DIR = Path(__file__).resolve().parent / "diag"
SUBMIT_QUEUES = "vbq.submit,vbq.cancel,vbq.maintenance"
POLL_QUEUES = "vbq.poll,vbq.maintenance"


class ClusterShape:
    """How many of each role (keyword-only)."""

    def __init__(
        self,
        *,
        submit_workers: int = 2,
        subscribers: int = 2,
        beats: int = 1,
        skewed_worker: bool = False,
        vertex_time_scale: float = 0.05,
        env_overrides: dict[str, str] | None = None,
        sentinel: bool = False,
    ) -> None:
        self.submit_workers = submit_workers
        self.subscribers = subscribers
        self.beats = beats
        self.skewed_worker = skewed_worker
        self.vertex_time_scale = vertex_time_scale
        self.env_overrides = dict(env_overrides or {})
        self.sentinel = sentinel
        """Redis as primary + replica + 3 sentinels (``redis+sentinel://``), not one server."""


class ChaosCluster:
    """Start, kill and respawn the processes of one chaos run (see the module docstring)."""

    def __init__(self, root: Path, shape: ClusterShape) -> None:
        self.root = root
        self.shape = shape
        self.logs = root / "logs"
        self.record_dir = root / "records"
        self.diag_dir = root / "diag"
        self.clock_file = root / "clock-offset"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.record_dir.mkdir(parents=True, exist_ok=True)
        self.clock_file.write_text("0")
        self.redis: RedisServer | SentinelRedis = (
            SentinelRedis(root / "redis") if shape.sentinel else RedisServer(root / "redis")
        )
        self.gcs = GcsEmulator(self.logs)
        self.vertex: VertexEmulator | None = None
        self.pubsub = PubSubEmulator(self.logs, data_file=root / "pubsub.journal")
        self.roles: dict[str, ManagedProcess] = {}
        self.restarts: dict[str, int] = {}
        self._lock = threading.Lock()

    # -- settings -----------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """Environment of every vbq role (fast retries, no quota in the way, short leases)."""
        assert self.vertex is not None
        return {
            "VBQ_REDIS_URL": self.redis.url,
            "VBQ_BROKER_URL": self.redis.url,
            "VBQ_VERTEX_ENDPOINT": self.vertex.url,
            "VBQ_PROJECT": PROJECT,
            "VBQ_LOCATION": LOCATION,
            "PUBSUB_EMULATOR_HOST": self.pubsub.host,
            "STORAGE_EMULATOR_HOST": self.gcs.host,
            "VBQ_CREATE_RATE_PER_MIN": "600000",
            "VBQ_CREATE_BURST": "200",
            "VBQ_READ_RATE_PER_MIN": "600000",
            "VBQ_READ_BURST": "200",
            "VBQ_MAX_IN_FLIGHT": "100000",
            # The scheduler under faults: a flooding tenant, weights, a priority mix (run.py).
            "VBQ_TENANT_OVERRIDES": '{"t1": {"weight": 2}, "flood": {"weight": 1}}',
            # Retries are effectively unlimited: a valid request must never end REJECTED.
            "VBQ_MAX_ATTEMPTS": "10000",
            "VBQ_RETRY_BASE_S": "0.1",
            "VBQ_RETRY_MAX_S": "2",
            "VBQ_HTTP_TIMEOUT_S": "3",
            "VBQ_VISIBILITY_TIMEOUT_S": "20",
            "VBQ_POLL_INTERVAL_S": "0.5",
            "VBQ_POLL_MAX_INTERVAL_S": "1.5",
            "VBQ_POLL_PAGE_SIZE": "1000",
            "VBQ_SHUTDOWN_GRACE_S": "5",
            "VBQ_INBOX_TTL_S": "86400",
            "VBQ_LOG_FORMAT": "json",
            "VBQ_LOG_LEVEL": "WARNING",
            # Requests (issue 16): small packs, flushed fast, one event per request.
            "VBQ_PACK_PREFIX": f"{OUTPUT_PREFIX.rsplit('/', 1)[0]}/vbq-packs",
            "VBQ_PACK_MAX_ROWS": "40",
            "VBQ_PACK_MAX_WAIT_S": "2",
            "VBQ_REQUEST_EVENTS": "true",
            "CHAOS_RECORD_DIR": str(self.record_dir),
            **self.shape.env_overrides,
        }

    def settings(self) -> Settings:
        return Settings.from_env(self.env())

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> ChaosCluster:
        """Start everything; fail loudly (RuntimeError with a log tail) if anything cannot."""
        self.redis.start()
        self.gcs.start()
        self.vertex = VertexEmulator(
            self.logs,
            time_scale=self.shape.vertex_time_scale,
            config={"seed": 7, "fail_share": 0.05, "expire_share": 0.02, "partial_share": 0.03},
            env={"STORAGE_EMULATOR_HOST": self.gcs.host, "VBQ_LOG_LEVEL": "WARNING"},
        ).start()
        self.pubsub.start()
        self._resources()
        env = self.env()
        for i in range(self.shape.submit_workers):
            extra: dict[str, str] = {}
            if self.shape.skewed_worker and i == 0:
                extra = {
                    "PYTHONPATH": str(CLOCKSKEW_DIR),
                    "VBQ_CHAOS_CLOCK_FILE": str(self.clock_file),
                }
            self._add(f"worker-{i}", self._worker_argv(f"w{i}", SUBMIT_QUEUES), {**env, **extra})
        self._add("worker-poll", self._worker_argv("poll", POLL_QUEUES), env)
        # INFO for beat and subscribers: their readiness is an INFO log line.
        info = {**env, "VBQ_LOG_LEVEL": "INFO"}
        for i in range(self.shape.beats):
            self._add(f"beat-{i}", vbq_argv("beat", "--tick-s", "0.25"), info)
        # Streaming-pull state of every subscriber, for the report of a failed run.
        self.diag_dir.mkdir(parents=True, exist_ok=True)
        diag = {**info, "PYTHONPATH": str(DIAG_DIR), "VBQ_CHAOS_DIAG_DIR": str(self.diag_dir)}
        for i in range(self.shape.subscribers):
            argv = vbq_argv(
                "subscribe", "--handler", HANDLER, "--threads", "8", "--claim-lease-s", "5"
            )
            self._add(f"subscriber-{i}", argv, diag)
        self._wait_started()
        return self

    def _worker_argv(self, tag: str, queues: str) -> list[str]:
        return vbq_argv(
            "worker", "--pool", "solo", "--queues", queues, "--hostname", f"chaos-{tag}@test"
        )

    def _resources(self) -> None:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        from vbq.pubsub.admin import ensure_event_resources, subscriber_client

        settings = self.settings()
        ensure_event_resources(settings)
        client = subscriber_client(settings)
        try:
            client.create_subscription(
                name=self.audit_subscription_path(),
                topic=settings.events_topic_path(),
                ack_deadline_seconds=60,
            )
        finally:
            client.close()
        gcs = storage.Client(
            project=PROJECT,
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": self.gcs.host},
        )
        bucket = gcs.create_bucket(INPUT_BUCKET)
        gcs.create_bucket(OUTPUT_PREFIX.removeprefix("gs://").split("/", 1)[0])
        rows = [
            {"request": {"contents": [{"role": "user", "parts": [{"text": f"q{i}"}]}]}}
            for i in range(2)
        ]
        bucket.blob("in.jsonl").upload_from_string("".join(json.dumps(r) + "\n" for r in rows))

    def audit_subscription_path(self) -> str:
        return f"projects/{PROJECT}/subscriptions/{AUDIT_SUBSCRIPTION}"

    def _add(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        self.roles[name] = ManagedProcess(name, argv, log_dir=self.logs, env=env).start()
        self.restarts.setdefault(name, 0)

    def _wait_started(self, timeout_s: float = 90.0) -> None:
        ready = {"beat": "beat starting", "subscriber": "subscriber.started"}
        deadline = time.monotonic() + timeout_s
        for name, proc in self.roles.items():
            marker = next((m for prefix, m in ready.items() if name.startswith(prefix)), None)
            while True:
                if not proc.alive():
                    raise RuntimeError(f"{name} died at start:\n{proc.log_text()[-3000:]}")
                if marker is None or marker in proc.log_text():
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} not ready:\n{proc.log_text()[-3000:]}")
                time.sleep(0.1)
        self._wait_workers(deadline)

    def _wait_workers(self, deadline: float) -> None:
        from vbq.workers.celery_app import create_app

        app = create_app(self.settings())
        names = {f"chaos-w{i}@test" for i in range(self.shape.submit_workers)} | {"chaos-poll@test"}
        try:
            while names:
                for reply in app.control.ping(destination=list(names), timeout=0.5) or []:
                    names -= set(reply)
                if names and time.monotonic() > deadline:
                    raise RuntimeError(f"workers did not answer a ping: {names}")
        finally:
            app.close()

    def names(self, prefix: str) -> list[str]:
        return sorted(n for n in self.roles if n.startswith(prefix))

    def kill(self, name: str) -> None:
        """SIGKILL the role's whole process group (Celery forks)."""
        with self._lock:
            self.roles[name].kill()

    def respawn(self, name: str) -> None:
        """Start a killed role again with the same argv and environment."""
        with self._lock:
            old = self.roles[name]
            self.roles[name] = ManagedProcess(
                name, old.argv, log_dir=self.logs, env=old.env
            ).start()
            self.restarts[name] += 1

    def ensure_all_alive(self) -> list[str]:
        """Respawn every role that died (a fault left it down, or it crashed); returns names."""
        dead = [n for n, p in self.roles.items() if not p.alive()]
        for name in dead:
            self.respawn(name)
        if not (self.pubsub.process and self.pubsub.process.alive()):
            self.pubsub.start()
            dead.append("pubsub-emulator")
        return dead

    def set_clock_offset(self, offset_s: float) -> None:
        """Move the skewed worker's wall clock to real time + ``offset_s``."""
        self.clock_file.write_text(str(offset_s))

    def stop(self) -> None:
        for proc in self.roles.values():
            proc.stop(timeout_s=5)
        for stop in (self.pubsub.stop, self.gcs.stop, self.redis.stop):
            try:
                stop()
            except Exception:
                pass
        if self.vertex is not None:
            self.vertex.stop()

    def crashed_logs(self) -> dict[str, str]:
        """Log tails of roles whose log shows a Python traceback (for the report)."""
        out: dict[str, str] = {}
        for name, proc in self.roles.items():
            text = proc.log_text()
            if "Traceback (most recent call last)" in text:
                out[name] = text[-1500:]
        return out

    def vertex_jobs(self) -> list[dict[str, Any]]:
        assert self.vertex is not None
        return self.vertex.jobs()
