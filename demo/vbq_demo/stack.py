"""The demo's stack: Redis, three emulators and every vbq role, as child processes.

:class:`DemoStack` starts, on free loopback ports: a private ``redis-server`` (unless a Redis
URL is given), ``vbq emulator vertex|pubsub|gcs``, ``vbq worker`` processes, ``vbq beat``
(poll ticks, sweeper and the outbox relay thread), ``vbq subscribe`` with the demo's
handlers (:mod:`vbq_demo.handlers`) and ``vbq api`` (the HTTP API and the web console, with a
keys file of fresh keys: :attr:`DemoStack.admin_key` and one per demo tenant).
:meth:`DemoStack.env` is the environment that talks to it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vbq.producers.api.auth import generate_api_key, key_file_line
from vbq.producers.tenancy import ADMIN_TENANT
from vbq.settings import Settings
from vbq_demo.probes import (
    check_redis,
    http_ok,
    redis_key_exists,
    subscription_streaming,
    wait_celery_workers,
)
from vbq_demo.redis_binary import find_redis_server
from vbq_demo.samples import DEMO_TENANTS
from vbq_demo.supervisor import Child, Supervisor, free_port, vbq_command

__all__ = ["DEMO_BUCKET", "DEMO_PROJECT", "DemoStack", "StackOptions", "emulator_config"]

DEMO_PROJECT = "vbq-demo"
DEMO_LOCATION = "us-central1"
DEMO_BUCKET = "vbq-demo"
_EMULATOR_JOB_S = 7.0  # queued_s + run_s of the Vertex emulator at time_scale 1


def emulator_config(*, seconds_per_job: float, seed: int = 7) -> dict[str, Any]:
    """The Vertex emulator's startup config for the demo.

    Args:
        seconds_per_job: how long one job stays unfinished (queued + running), in seconds.
        seed: seeds which jobs fail, partially succeed or expire.

    Realistic trouble: 8 % of jobs fail, 10 % partially succeed, 4 % expire, 1 % of creates
    answer 503 (retried), and a create quota well above vbq's own rate limit (vbq stays
    under it, so 429s come only from the storm window the orchestrator opens).
    """
    return {
        "seed": seed,
        "time_scale": seconds_per_job / _EMULATOR_JOB_S,
        "fail_share": 0.08,
        "partial_share": 0.10,
        "expire_share": 0.04,
        "error_503_rate": 0.01,
        "fault_methods": ["create"],
        "create_per_min": 6000,
        "retry_after_s": 1.0,
    }


@dataclass(frozen=True, kw_only=True)
class StackOptions:
    """How to run the stack.

    Attributes:
        workdir: logs, the Redis data dir and the summary file go here.
        workers: ``vbq worker`` processes (threads pool).
        worker_threads: threads per worker process.
        seconds_per_job: emulated job duration (queued + running), in seconds.
        redis_url: use this running Redis instead of starting one ("" = start one).
        create_rate_per_min: vbq's global create rate (``VBQ_CREATE_RATE_PER_MIN``).
        poll_interval_s: seconds between poll cycles (``VBQ_POLL_INTERVAL_S``).
        extra_env: more variables for every role.
        api: also start ``vbq api`` (HTTP API and web console) with fresh keys.
    """

    workdir: Path
    workers: int = 2
    worker_threads: int = 4
    seconds_per_job: float = 3.0
    redis_url: str = ""
    create_rate_per_min: float = 1200.0
    poll_interval_s: float = 1.0
    extra_env: Mapping[str, str] = field(default_factory=dict)
    api: bool = True


class DemoStack:
    """Every process of the pipeline, started in dependency order and stopped in reverse.

    Args:
        options: see :class:`StackOptions`.
        base_env: the environment the children inherit (default: ``os.environ``).
    """

    def __init__(self, *, options: StackOptions, base_env: Mapping[str, str] | None = None) -> None:
        self.options = options
        self.workdir = options.workdir
        self.log_dir = self.workdir / "logs"
        self.summary_path = self.workdir / "summaries.jsonl"
        inherited = dict(os.environ if base_env is None else base_env)
        # A VBQ_* or emulator variable of the calling shell must not leak into the demo's roles.
        for key in list(inherited):
            if key.startswith("VBQ_") or key.endswith("_EMULATOR_HOST"):
                inherited.pop(key)
        inherited["PYTHONUNBUFFERED"] = "1"
        self.pids_file = self.workdir / "pids"
        self.supervisor = Supervisor(
            log_dir=self.log_dir, env=inherited, cwd=self.workdir, pids_file=self.pids_file
        )
        self.redis_url = options.redis_url
        self.vertex_port = free_port()
        self.gcs_port = free_port()
        self.pubsub_port = free_port()
        self.pubsub_admin_port = free_port()
        self.api_port = free_port()
        self.keys_file = self.workdir / "api-keys.yaml"
        # Fresh keys per stack; only their hashes are written to the keys file.
        self.admin_key = generate_api_key()
        self.tenant_keys = {tenant: generate_api_key() for tenant in DEMO_TENANTS}
        self.roles: list[Child] = []

    # -- addresses --------------------------------------------------------------------------

    @property
    def vertex_url(self) -> str:
        """``VBQ_VERTEX_ENDPOINT`` of the Vertex emulator."""
        return f"http://127.0.0.1:{self.vertex_port}"

    @property
    def storage_host(self) -> str:
        """``STORAGE_EMULATOR_HOST`` of the storage emulator."""
        return f"http://127.0.0.1:{self.gcs_port}"

    @property
    def pubsub_host(self) -> str:
        """``PUBSUB_EMULATOR_HOST`` of the Pub/Sub emulator."""
        return f"127.0.0.1:{self.pubsub_port}"

    @property
    def pubsub_admin_url(self) -> str:
        """Base URL of the Pub/Sub emulator's stats endpoint."""
        return f"http://127.0.0.1:{self.pubsub_admin_port}"

    @property
    def api_url(self) -> str:
        """Base URL of ``vbq api`` (JSON API under ``/v1``)."""
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def console_url(self) -> str:
        """The web console (sign in with :attr:`admin_key` or a tenant key)."""
        return f"{self.api_url}/console"

    def env(self) -> dict[str, str]:
        """The variables every role (and a client of the stack) needs."""
        opts = self.options
        env = {
            "VBQ_REDIS_URL": self.redis_url,
            "VBQ_BROKER_URL": self.redis_url,
            "VBQ_PROJECT": DEMO_PROJECT,
            "VBQ_LOCATION": DEMO_LOCATION,
            "VBQ_VERTEX_ENDPOINT": self.vertex_url,
            "PUBSUB_EMULATOR_HOST": self.pubsub_host,
            "STORAGE_EMULATOR_HOST": self.storage_host,
            "VBQ_CREATE_RATE_PER_MIN": str(opts.create_rate_per_min),
            "VBQ_CREATE_BURST": "10",
            "VBQ_READ_RATE_PER_MIN": "6000",
            "VBQ_READ_BURST": "50",
            "VBQ_MAX_IN_FLIGHT": "150",
            # The storm window answers every create with 429 for a few seconds: retries must
            # outlast it without using up the attempt budget.
            "VBQ_MAX_ATTEMPTS": "30",
            "VBQ_RETRY_BASE_S": "0.2",
            "VBQ_RETRY_MAX_S": "2",
            "VBQ_HTTP_TIMEOUT_S": "10",
            "VBQ_VISIBILITY_TIMEOUT_S": "60",
            "VBQ_POLL_INTERVAL_S": str(opts.poll_interval_s),
            "VBQ_POLL_MAX_INTERVAL_S": str(max(opts.poll_interval_s, 2.0)),
            "VBQ_SHUTDOWN_GRACE_S": "5",
            "VBQ_LOG_FORMAT": "json",
            "VBQ_LOG_LEVEL": "WARNING",
            "VBQ_DEMO_SUMMARY_PATH": str(self.summary_path),
            "VBQ_DEMO_OUTPUT_PREFIX": f"gs://{DEMO_BUCKET}/outputs",
        }
        env.update(opts.extra_env)
        return env

    def settings(self) -> Settings:
        """Settings of the stack, for clients in the demo process itself."""
        return Settings.from_env(self.env())

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> DemoStack:
        """Start the services, then the roles; return when everything answers.

        Raises:
            ConfigError: a process could not start (with its log tail), or no redis-server.
        """
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for old in self.log_dir.glob("*.log"):
            old.unlink()
        self.summary_path.unlink(missing_ok=True)
        if self.redis_url:
            check_redis(self.redis_url)
        self._start_services()
        self._start_roles()
        return self

    def stop(self) -> dict[str, int | None]:
        """Stop every process this stack started (roles first). Idempotent."""
        return self.supervisor.stop_all(timeout_s=8.0)

    def dead_roles(self) -> list[Child]:
        """Children that exited on their own (a crash the demo should report)."""
        return self.supervisor.dead()

    def _start_services(self) -> None:
        sup = self.supervisor
        started: list[Child] = []
        if not self.redis_url:
            port = free_port()
            data = self.workdir / "redis"
            data.mkdir(parents=True, exist_ok=True)
            argv = [find_redis_server(), "--port", str(port), "--bind", "127.0.0.1"]
            argv += ["--dir", str(data), "--save", "", "--appendonly", "no"]
            argv += ["--protected-mode", "no", "--maxmemory-policy", "noeviction"]
            started.append(sup.start("redis", argv, port=port, service=True, wait=False))
            self.redis_url = f"redis://127.0.0.1:{port}/0"
        started.append(
            sup.start(
                "gcs-emulator",
                vbq_command(
                    "emulator", "gcs", "--port", str(self.gcs_port), "--default-bucket", DEMO_BUCKET
                ),
                port=self.gcs_port,
                ready=lambda: http_ok(f"{self.storage_host}/storage/v1/b"),
                service=True,
                wait=False,
            )
        )
        config_path = self.workdir / "vertex-emulator.json"
        config = emulator_config(seconds_per_job=self.options.seconds_per_job)
        config_path.write_text(json.dumps(config, indent=2))
        started.append(
            sup.start(
                "vertex-emulator",
                vbq_command(
                    "emulator",
                    "vertex",
                    "--port",
                    str(self.vertex_port),
                    "--config",
                    str(config_path),
                ),
                port=self.vertex_port,
                env={"STORAGE_EMULATOR_HOST": self.storage_host, "VBQ_LOG_LEVEL": "WARNING"},
                ready=lambda: http_ok(f"{self.vertex_url}/_emulator/health"),
                service=True,
                wait=False,
            )
        )
        started.append(
            sup.start(
                "pubsub-emulator",
                vbq_command(
                    "emulator",
                    "pubsub",
                    "--port",
                    str(self.pubsub_port),
                    "--admin-port",
                    str(self.pubsub_admin_port),
                ),
                port=self.pubsub_port,
                ready=lambda: http_ok(f"{self.pubsub_admin_url}/_emulator/stats"),
                service=True,
                wait=False,
            )
        )
        sup.wait_all(started)

    def _start_roles(self) -> None:
        sup, env, opts = self.supervisor, self.env(), self.options
        # Topics must exist before the relay's first publish. They are made in a child
        # process: gRPC threads in this process would make forking the next children unsafe.
        setup = sup.start(
            "pubsub-setup", [sys.executable, "-c", _PUBSUB_SETUP], env=env, wait=False
        )
        roles: list[Child] = []
        for i in range(opts.workers):
            argv = vbq_command(
                "worker", "--pool", "threads", "--concurrency", str(opts.worker_threads),
                "--hostname", f"demo-w{i}-{os.getpid()}@%h",
            )  # fmt: skip
            roles.append(sup.start(f"worker-{i}", argv, env=env, wait=False, timeout_s=60))
        subscriber = sup.start(
            "subscriber",
            vbq_command(
                "subscribe", "--handler", "vbq_demo.handlers", "--create", "--threads", "8"
            ),
            env=env,
            wait=False,
            timeout_s=60,
        )
        sub_path = self.settings().events_subscription_path()
        subscriber.ready_check = lambda: subscription_streaming(self.pubsub_admin_url, sub_path)
        roles.append(subscriber)
        sup.wait_exit(setup, timeout_s=60)
        beat = sup.start("beat", vbq_command("beat"), env=env, wait=False, timeout_s=60)
        # Ready = its relay thread holds the outbox lease (log lines are WARNING and up here).
        beat.ready_check = lambda: redis_key_exists(self.redis_url, "vbq:relay:lock")
        roles.append(beat)
        if opts.api:
            roles.append(self._start_api())
        sup.wait_all(roles)
        names = [f"demo-w{i}-{os.getpid()}" for i in range(opts.workers)]
        wait_celery_workers(self.settings(), names, roles)
        self.roles = roles

    def _start_api(self) -> Child:
        lines = [key_file_line(self.admin_key, ADMIN_TENANT)]
        lines += [key_file_line(key, tenant) for tenant, key in self.tenant_keys.items()]
        self.keys_file.write_text(
            "# vbq demo: sha256 of each key -> tenant\n" + "\n".join(lines) + "\n"
        )
        argv = vbq_command("api", "--port", str(self.api_port), "--keys-file", str(self.keys_file))
        api = self.supervisor.start(
            "api", argv, env=self.env(), port=self.api_port, wait=False, timeout_s=60
        )
        api.ready_check = lambda: http_ok(f"{self.api_url}/healthz")
        return api


_PUBSUB_SETUP = (
    "from vbq.pubsub.admin import ensure_event_resources; from vbq.settings import Settings; "
    "ensure_event_resources(Settings.from_env())"
)
