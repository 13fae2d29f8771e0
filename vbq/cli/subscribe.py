"""``vbq subscribe``: run job-event handlers from a Pub/Sub subscription (streaming pull, or
``--push``: an HTTP endpoint for a push subscription)."""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType
from typing import Any

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
@click.option("--push", is_flag=True, help="Serve an HTTP endpoint for a push subscription.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="--push: port (default VBQ_PUSH_PORT, else PORT, else 8080).",
)
@click.option("--host", default="0.0.0.0", show_default=True, help="--push: interface to bind.")
@click.option(
    "--endpoint",
    default="",
    metavar="URL",
    help="--push --create: the URL Pub/Sub pushes to (this service's public URL).",
)
@click.option(
    "--audience",
    default=None,
    help="--push: OIDC audience every request's token must carry (default VBQ_PUSH_AUDIENCE; "
    "empty: requests are not authenticated).",
)
@click.option(
    "--service-account",
    default=None,
    help="--push: the token's email (default VBQ_PUSH_SERVICE_ACCOUNT); with --create, the "
    "subscription's push identity.",
)
@click.option(
    "--certs-url",
    default=None,
    help="--push: where the token signing certificates are (default VBQ_PUSH_CERTS_URL).",
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
    push: bool,
    port: int | None,
    host: str,
    endpoint: str,
    audience: str | None,
    service_account: str | None,
    certs_url: str | None,
) -> None:
    """Run handlers once per event id on job events (SIGTERM stops gracefully).

    Streaming pull by default; with --push, an HTTP endpoint Pub/Sub push delivers to.
    Handler modules are imported from the current directory and ``sys.path``.
    """

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
    settings = settings.replace(
        push_port=settings.push_port if port is None else port,
        push_audience=settings.push_audience if audience is None else audience,
        push_service_account=settings.push_service_account
        if service_account is None
        else service_account,
        push_certs_url=certs_url or settings.push_certs_url,
    )
    if create and push and not endpoint:
        raise click.UsageError("--push --create needs --endpoint (the URL Pub/Sub pushes to)")
    try:
        registry = load_handlers(handlers) if handlers else HandlerRegistry()
        if actions_file:
            from vbq.subscribers.actions import load_actions

            for reg in load_actions(actions_file).registrations:
                registry.include(reg)
        if create:
            target = None
            if push:
                from vbq.pubsub.admin import PushTarget

                target = PushTarget(
                    endpoint=endpoint,
                    service_account=settings.push_service_account,
                    audience=settings.push_audience,
                )
            res = ensure_event_resources(settings, subscription=subscription or None, push=target)
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
    from vbq.redisconn import client_for

    client = client_for(settings, health_check_interval=30)
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
        abandoned = _serve_push(sub, settings, stop, host, threads) if push else sub.run(stop)
    except (PubSubError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        sub.close()
    if abandoned:
        # Handler threads still running past the grace period would block interpreter exit;
        # their messages were nacked and their claims expire, so leave now.
        sys.stderr.flush()
        os._exit(0)


def _serve_push(sub: Any, settings: Any, stop: threading.Event, host: str, threads: int) -> int:
    from vbq.subscribers.push import serve_push
    from vbq.subscribers.push_request import TokenVerifier

    verifier = None
    if settings.push_audience:
        verifier = TokenVerifier(
            audience=settings.push_audience,
            certs_url=settings.push_certs_url,
            issuers=settings.push_issuers,
            service_account=settings.push_service_account,
        )
    return int(
        serve_push(
            sub.processor,
            stop,
            host=host,
            port=settings.push_port,
            grace_s=settings.shutdown_grace_s,
            verifier=verifier,
            threads=threads,
        )
    )


def register(group: click.Group) -> None:
    """Attach ``vbq subscribe`` to the root group."""
    group.add_command(subscribe)
