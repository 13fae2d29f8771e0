"""``vbq relay``: publish the Redis outbox to the Pub/Sub events topic."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import click

__all__ = ["register", "relay"]


@click.command()
@click.option("--create", is_flag=True, help="Create the events and dead-letter topics if missing.")
@click.option("--batch-size", type=click.IntRange(min=1), default=500, show_default=True)
@click.option(
    "--lock-ttl-s",
    type=click.FloatRange(min=1.0),
    default=10.0,
    show_default=True,
    help="Lease of the relay lock in seconds (how soon a standby relay takes over).",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Serve /metrics, /healthz, /readyz here (default VBQ_METRICS_PORT; 0 = off).",
)
def relay(create: bool, batch_size: int, lock_ttl_s: float, metrics_port: int | None) -> None:
    """Move job events from vbq:outbox to Pub/Sub (one active relay at a time; SIGTERM stops)."""
    from vbq.errors import ConfigError, PubSubError
    from vbq.logs import configure_logging, get_logger
    from vbq.pubsub.admin import ensure_event_resources
    from vbq.settings import Settings
    from vbq.workers.relay import run_relay

    try:
        settings = Settings.from_env()
        settings.events_topic_path()
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    configure_logging(log_format=settings.log_format, level=settings.log_level)
    log = get_logger("vbq.cli.relay")
    if create:
        try:
            res = ensure_event_resources(settings, with_subscription=False)
        except PubSubError as exc:
            raise click.ClickException(str(exc)) from None
        log.info("relay.resources", created=list(res.created))

    stop = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("relay.signal", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    from vbq.health import start_for_role

    start_for_role("relay", settings, port=metrics_port, state_gauges=True)
    run_relay(settings, stop, batch_size=batch_size, lock_ttl_s=lock_ttl_s)


def register(group: click.Group) -> None:
    """Attach ``vbq relay`` to the root group."""
    group.add_command(relay)
