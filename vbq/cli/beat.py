"""``vbq beat``: Celery beat with vbq's schedule, and (by default) the outbox relay.

Beat sends ``vbq.poll`` every tick, ``vbq.sweep`` and ``vbq.retention`` every 30 s and
``vbq.purge`` every 5 s. It uses Celery's in-memory scheduler: the default one persists its
state with ``shelve`` (pickle), which vbq never uses, and nothing here needs persisting (a
restarted beat simply sends the next tick). A second beat started by mistake only sends
duplicate ticks, which the poll lock and the job store's compare-and-set make harmless.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

import click

from vbq.logs import configure_logging, get_logger
from vbq.settings import Settings

__all__ = ["beat_schedule", "register"]


def beat_schedule(
    settings: Settings, *, tick_s: float | None = None
) -> dict[str, dict[str, object]]:
    """The periodic tasks beat sends (tick defaults to a quarter of the poll interval, ≤ 2 s)."""
    tick = tick_s or max(0.05, min(2.0, settings.poll_interval_s / 4))
    return {
        "vbq-poll": {
            "task": "vbq.poll",
            "schedule": tick,
            "options": {"queue": "vbq.poll", "expires": max(5.0, tick * 4)},
        },
        "vbq-sweep": {
            "task": "vbq.sweep",
            "schedule": 30.0,
            "options": {"queue": "vbq.maintenance", "expires": 60.0},
        },
        # Vertex jobs of submissions deleted through vbq, deleted at Google (workers.purger).
        "vbq-purge": {
            "task": "vbq.purge",
            "schedule": 5.0,
            "options": {"queue": "vbq.maintenance", "expires": 30.0},
        },
        # Finished submissions past VBQ_RETENTION_S: archived, then out of Redis
        # (docs/contracts.md § Retention and archive).
        "vbq-retention": {
            "task": "vbq.retention",
            "schedule": 30.0,
            "options": {"queue": "vbq.maintenance", "expires": 60.0},
        },
        # Requests and packing (docs/contracts.md § Requests and packing).
        "vbq-pack-tick": {
            "task": "vbq.pack.tick",
            "schedule": (pack := max(0.5, min(5.0, settings.pack_max_wait_s / 4))),
            "options": {"queue": "vbq.maintenance", "expires": max(5.0, pack * 4)},
        },
        "vbq-results": {
            "task": "vbq.results",
            "schedule": (every := max(0.5, min(5.0, settings.poll_interval_s))),
            "options": {"queue": "vbq.maintenance", "expires": max(5.0, every * 4)},
        },
    }


@click.command("beat")
@click.option("--tick-s", type=float, default=None, help="Seconds between poll ticks.")
@click.option(
    "--relay/--no-relay",
    default=True,
    show_default=True,
    help="Also run the outbox relay in this process.",
)
@click.option("--loglevel", default=None, help="Log level (default VBQ_LOG_LEVEL).")
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Serve /metrics, /healthz, /readyz here (default VBQ_METRICS_PORT; 0 = off).",
)
def beat_command(
    tick_s: float | None, relay: bool, loglevel: str | None, metrics_port: int | None
) -> None:
    """Run Celery beat: poll ticks, the sweeper, and the outbox relay."""
    settings = Settings.from_env()
    configure_logging(log_format=settings.log_format, level=loglevel or settings.log_level)
    log = get_logger("vbq.beat")
    from vbq.workers.celery_app import app

    app.conf.beat_schedule = beat_schedule(settings, tick_s=tick_s)
    app.conf.beat_scheduler = "celery.beat:Scheduler"
    app.conf.beat_max_loop_interval = 1.0
    stop = threading.Event()
    relay_thread: threading.Thread | None = None

    def _exit(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(0)  # SIGTERM before Celery's own handler is in place: still clean up

    signal.signal(signal.SIGTERM, _exit)
    try:
        if relay:
            from vbq.workers.relay import run_relay

            relay_thread = threading.Thread(
                target=run_relay, args=(settings, stop), name="vbq-relay", daemon=True
            )
            relay_thread.start()
        from vbq.health import start_for_role

        start_for_role(
            "beat",
            settings,
            port=metrics_port,
            liveness=(relay_thread.is_alive if relay_thread else None),
            state_gauges=True,
        )
        log.info("beat starting", relay=relay, settings=settings.redacted())
        app.Beat(loglevel=(loglevel or settings.log_level), quiet=True).run()
    finally:
        stop.set()
        if relay_thread is not None:
            # Let the relay settle in-flight publishes and release its lease before exiting.
            relay_thread.join(timeout=settings.shutdown_grace_s)


def register(group: click.Group) -> None:
    """Attach ``vbq beat``."""
    group.add_command(beat_command)
