"""``vbq subscribe``: run job-event handlers from a Pub/Sub subscription."""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType

import click

__all__ = ["register", "subscribe"]


@click.command()
@click.option(
    "--handler",
    "handlers",
    multiple=True,
    metavar="PKG.MODULE[:FUNC]",
    help="Handler to run (repeatable). A module alone selects all its @handler functions.",
)
@click.option(
    "--actions",
    "actions_file",
    default="",
    metavar="FILE",
    help="YAML/JSON file of built-in actions (webhook, summary, chain) to run as handlers.",
)
@click.option("--create", is_flag=True, help="Create topics and subscriptions if missing.")
@click.option(
    "--subscription", default="", help="Subscription id or path (default: VBQ_EVENTS_SUBSCRIPTION)."
)
@click.option("--group", default="", help="Dedupe group (default: the subscription id).")
@click.option("--threads", type=click.IntRange(min=1), default=10, show_default=True)
@click.option(
    "--claim-lease-s",
    type=click.FloatRange(min=0.5),
    default=30.0,
    show_default=True,
    help="Inbox claim lease in seconds (how soon a crashed process's event is taken over).",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Serve /metrics, /healthz, /readyz here (default VBQ_METRICS_PORT; 0 = off).",
)
def subscribe(  # noqa: PLR0917 - click passes options positionally
    handlers: tuple[str, ...],
    actions_file: str,
    create: bool,
    subscription: str,
    group: str,
    threads: int,
    claim_lease_s: float,
    metrics_port: int | None,
) -> None:
    """Pull job events and run handlers once per event id (SIGTERM stops gracefully).

    Handler modules are imported from the current directory and ``sys.path``.
    """
    import redis

    from vbq.errors import ConfigError, PubSubError
    from vbq.logs import configure_logging, get_logger
    from vbq.pubsub.admin import ensure_event_resources
    from vbq.settings import Settings
    from vbq.subscribers import HandlerRegistry, Subscriber, load_handlers

    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    configure_logging(log_format=settings.log_format, level=settings.log_level)
    log = get_logger("vbq.cli.subscribe")
    # Like `celery -A` and `uvicorn`: handler modules next to where the command runs import.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    if not handlers and not actions_file:
        raise click.UsageError("give --handler and/or --actions")
    try:
        registry = load_handlers(handlers) if handlers else HandlerRegistry()
        if actions_file:
            from vbq.subscribers.actions import load_actions

            for reg in load_actions(actions_file).registrations:
                registry.include(reg)
        if create:
            res = ensure_event_resources(settings, subscription=subscription or None)
            log.info(
                "subscribe.resources", created=list(res.created), subscription=res.subscription
            )
    except (ConfigError, PubSubError) as exc:
        raise click.ClickException(str(exc)) from None

    stop = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("subscribe.signal", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    client = redis.Redis.from_url(settings.redis_url, health_check_interval=30)
    sub = Subscriber(
        settings=settings,
        redis=client,
        registry=registry,
        subscription=subscription or None,
        group=group or None,
        threads=threads,
        claim_lease_s=claim_lease_s,
    )
    log.info("subscribe.handlers", handlers=[r.name for r in registry.registrations])
    from vbq.health import start_for_role

    start_for_role("subscriber", settings, port=metrics_port)
    try:
        abandoned = sub.run(stop)
    except PubSubError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        sub.close()
    if abandoned:
        # Handler threads still running past the grace period would block interpreter exit;
        # their messages were nacked and their claims expire, so leave now.
        sys.stderr.flush()
        os._exit(0)


def register(group: click.Group) -> None:
    """Attach ``vbq subscribe`` to the root group."""
    group.add_command(subscribe)
