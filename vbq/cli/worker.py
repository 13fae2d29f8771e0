"""``vbq worker``: run a Celery worker for the vbq queues, with structlog configured."""

from __future__ import annotations

import os
from typing import Any

import click

__all__ = ["register", "worker"]

_POOLS = ("prefork", "solo", "threads")


@click.command()
@click.option(
    "--queues",
    "-Q",
    default="",
    help="Comma-separated queues to consume (default: all vbq queues).",
)
@click.option(
    "--concurrency",
    "-c",
    type=click.IntRange(min=1),
    default=None,
    help="Processes or threads (default: Celery's, the number of CPUs).",
)
@click.option("--pool", type=click.Choice(_POOLS), default="prefork", show_default=True)
@click.option("--hostname", "-n", default="", help="Node name (default: vbq-<pid>@<host>).")
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Serve /metrics, /healthz, /readyz here (default VBQ_METRICS_PORT; 0 = off).",
)
def worker(
    queues: str, concurrency: int | None, pool: str, hostname: str, metrics_port: int | None
) -> None:
    """Consume vbq's Celery queues (submit, cancel, poll, maintenance).

    SIGTERM is Celery's warm shutdown: no new messages, running tasks finish (acks_late: a task
    that does not finish is redelivered). After VBQ_SHUTDOWN_GRACE_S the pool is killed.
    """
    from celery.signals import setup_logging

    from vbq.health import enable_multiprocess_metrics
    from vbq.health_worker import install_worker_health

    if pool == "prefork":
        # Tasks run in forked children: their metrics must reach the parent's /metrics.
        enable_multiprocess_metrics()

    from vbq.errors import ConfigError
    from vbq.logs import configure_logging
    from vbq.settings import Settings

    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    configure_logging(log_format=settings.log_format, level=settings.log_level)

    # Celery would otherwise install its own handlers over ours (and skip redaction).
    @setup_logging.connect(weak=False)
    def _keep_structlog(**_: Any) -> None:
        return None

    from vbq.workers.celery_app import QUEUES, app

    install_worker_health(settings, metrics_port=metrics_port)

    chosen = [q.strip() for q in (queues or ",".join(QUEUES)).split(",") if q.strip()]
    argv = [
        "worker",
        f"--queues={','.join(chosen)}",
        f"--pool={pool}",
        f"--loglevel={settings.log_level}",
        f"--hostname={hostname or f'vbq-{os.getpid()}@%h'}",
        # No broadcast chatter between workers: vbq coordinates through Redis, not Celery.
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    if concurrency is not None:
        argv.append(f"--concurrency={concurrency}")
    app.worker_main(argv)


def register(group: click.Group) -> None:
    """Attach ``vbq worker`` to the root group."""
    group.add_command(worker)
