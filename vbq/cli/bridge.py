"""``vbq bridge``: submit jobs from Pub/Sub request messages and Cloud Storage notifications.

``vbq bridge --subscription S [--rules rules.yaml] [--create]`` runs the bridge
(:class:`vbq.producers.bridge.Bridge`); ``vbq bridge notify --bucket B --object O`` publishes a
Cloud Storage ``OBJECT_FINALIZE`` notification the way Google does (local demos).
"""

from __future__ import annotations

import json
import signal
import threading
from types import FrameType
from typing import Any

import click

__all__ = ["bridge", "register"]

DEFAULT_REQUEST_TOPIC = "vbq-requests"
DEFAULT_REQUEST_SUBSCRIPTION = "vbq-requests-sub"


def _settings() -> Any:
    from vbq.errors import ConfigError
    from vbq.settings import Settings

    try:
        settings = Settings.from_env()
        settings.dead_letter_topic_path()  # a project is needed for every path
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    return settings


def _load_rules(rules_file: str) -> Any:
    from vbq.errors import ConfigError
    from vbq.producers.bridge import RuleSet

    try:
        return RuleSet.load(rules_file)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


@click.group(invoke_without_command=True)
@click.option(
    "--subscription",
    "subscriptions",
    multiple=True,
    metavar="SUB",
    help="Request subscription id or path (repeatable; default vbq-requests-sub without --rules).",
)
@click.option(
    "--topic",
    default=DEFAULT_REQUEST_TOPIC,
    show_default=True,
    help="Topic of the request subscription (used by --create).",
)
@click.option(
    "--rules",
    "rules_file",
    default="",
    metavar="FILE",
    help="Cloud Storage notification rules (YAML); its subscription is pulled too.",
)
@click.option("--create", is_flag=True, help="Create topics and subscriptions if missing.")
@click.option(
    "--tenant", default="default", show_default=True, help="Tenant of requests naming none."
)
@click.option("--fixed-tenant", is_flag=True, help="Dead-letter request messages naming a tenant.")
@click.option(
    "--max-outstanding",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Flow control: leased messages per subscription.",
)
@click.option(
    "--max-backlog",
    type=click.IntRange(min=0),
    default=1000,
    show_default=True,
    help="Pause while the in-flight cap is full and more than this many submissions wait.",
)
@click.option(
    "--release-after-s",
    type=click.FloatRange(min=0.0),
    default=30.0,
    show_default=True,
    help="Close the streams (hand leased messages back) after a pause this long.",
)
@click.option("--batch-size", type=click.IntRange(1, 500), default=100, show_default=True)
@click.pass_context
def bridge(  # noqa: PLR0917 - click passes options positionally
    ctx: click.Context,
    subscriptions: tuple[str, ...],
    topic: str,
    rules_file: str,
    create: bool,
    tenant: str,
    fixed_tenant: bool,
    max_outstanding: int,
    max_backlog: int,
    release_after_s: float,
    batch_size: int,
) -> None:
    """Turn Pub/Sub job requests and Cloud Storage notifications into submissions.

    Each request message is submitted once (idempotency key = its message id unless it names
    one); invalid ones go to the dead-letter topic. SIGTERM stops gracefully.
    """
    if ctx.invoked_subcommand is not None:
        return

    from vbq.errors import ConfigError, PubSubError
    from vbq.logs import configure_logging, get_logger
    from vbq.producers import Client
    from vbq.producers.bridge import Backpressure, Bridge, StoreBacklog, ensure_bridge_resources
    from vbq.producers.tenancy import TENANT_PATTERN

    settings = _settings()
    configure_logging(log_format=settings.log_format, level=settings.log_level)
    log = get_logger("vbq.cli.bridge")
    if not TENANT_PATTERN.fullmatch(tenant):
        raise click.UsageError(f"--tenant must match {TENANT_PATTERN.pattern}")
    rules = _load_rules(rules_file) if rules_file else None
    requests = list(subscriptions) or ([] if rules else [DEFAULT_REQUEST_SUBSCRIPTION])
    pairs = [(topic, s) for s in requests]
    if rules is not None:
        pairs.append((rules.topic, rules.subscription))
    if create:
        try:
            created = ensure_bridge_resources(settings, pairs)
        except (ConfigError, PubSubError) as exc:
            raise click.ClickException(str(exc)) from None
        log.info("bridge.resources", created=list(created))

    stop = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("bridge.signal", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    from vbq.redisconn import client_for

    redis_client = client_for(settings, health_check_interval=30)
    measure = StoreBacklog(redis=redis_client, settings=settings)
    runner = Bridge(
        settings=settings,
        client=Client.from_settings(settings),
        subscriptions=[s for _, s in pairs],
        rules=rules,
        backpressure=Backpressure(
            measure=measure, max_in_flight=settings.max_in_flight, max_backlog=max_backlog
        ),
        max_outstanding=max_outstanding,
        batch_size=batch_size,
        default_tenant=tenant,
        allow_message_tenant=not fixed_tenant,
        release_after_s=release_after_s,
    )
    try:
        runner.run(stop)
    except PubSubError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        measure.close()
        runner.client.close()
        redis_client.close()
    click.echo(json.dumps({"bridge": runner.stats().__dict__}))


@bridge.command("notify")
@click.option("--bucket", required=True, help="Bucket name.")
@click.option("--object", "name", required=True, help="Object name.")
@click.option("--generation", type=click.IntRange(min=1), default=None, help="Generation.")
@click.option(
    "--topic",
    default="",
    help="Notification topic (default: the --rules file's, else vbq-gcs-notifications).",
)
@click.option("--rules", "rules_file", default="", metavar="FILE", help="Take the topic from here.")
@click.option("--event-type", default="OBJECT_FINALIZE", show_default=True)
@click.option("--metadata", "metadata", multiple=True, metavar="KEY=VALUE", help="Custom metadata.")
@click.option("--no-fetch", is_flag=True, help="Do not read the object back from Cloud Storage.")
def notify(  # noqa: PLR0917 - click passes options positionally
    bucket: str,
    name: str,
    generation: int | None,
    topic: str,
    rules_file: str,
    event_type: str,
    metadata: tuple[str, ...],
    no_fetch: bool,
) -> None:
    """Publish a Cloud Storage notification for gs://BUCKET/OBJECT as Google does."""
    from vbq.errors import ConfigError, PubSubError, SpecError
    from vbq.producers.bridge import DEFAULT_NOTIFICATIONS_TOPIC, publish_object_notification

    settings = _settings()
    if not topic:
        topic = _load_rules(rules_file).topic if rules_file else DEFAULT_NOTIFICATIONS_TOPIC
    extra: dict[str, str] = {}
    for item in metadata:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.UsageError(f"--metadata takes KEY=VALUE, got {item!r}")
        extra[key] = value
    try:
        message_id = publish_object_notification(
            settings,
            topic=topic,
            bucket=bucket,
            name=name,
            generation=generation,
            event_type=event_type,
            metadata=extra,
            fetch=not no_fetch,
        )
    except (ConfigError, PubSubError, SpecError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(message_id)


def register(group: click.Group) -> None:
    """Attach ``vbq bridge`` to the root group."""
    group.add_command(bridge)
