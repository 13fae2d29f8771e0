"""``vbq events``: replay job events (seek the events subscription) and manage snapshots."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from vbq.settings import Settings

__all__ = ["events", "register"]


def _settings() -> Settings:
    from vbq.errors import ConfigError
    from vbq.logs import configure_logging
    from vbq.settings import Settings

    try:
        settings = Settings.from_env()
        settings.events_subscription_path()
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    configure_logging(log_format=settings.log_format, level=settings.log_level)
    return settings


@click.group()
def events() -> None:
    """Replay job events and manage snapshots of the events subscription."""


@events.command()
@click.option("--since", default="", help="ISO 8601 time or an age (15m, 2h, 3d).")
@click.option("--snapshot", default="", help="Snapshot name (or path) to replay from.")
@click.option("--rerun", is_flag=True, help="Run handlers again for replayed events (once).")
@click.option(
    "--subscription", default="", help="Subscription id or path (default: VBQ_EVENTS_SUBSCRIPTION)."
)
@click.option(
    "--group", default="", help="Dedupe group of the subscribers (default: subscription id)."
)
def replay(since: str, snapshot: str, rerun: bool, subscription: str, group: str) -> None:
    """Redeliver events published since a time, or from a snapshot.

    Without --rerun, events the group already handled are acknowledged without running again
    (only events not handled yet run); with --rerun, every replayed event runs once more.
    """
    import redis

    from vbq.errors import ConfigError, PubSubError
    from vbq.subscribers.replay import parse_since
    from vbq.subscribers.replay import replay as do_replay

    settings = _settings()
    try:
        when = parse_since(since) if since else None
        from vbq.redisconn import client_for

        client = client_for(settings)
        result = do_replay(
            settings,
            redis=client,
            since=when,
            snapshot=snapshot,
            subscription=subscription,
            group=group,
            rerun=rerun,
        )
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    except (PubSubError, redis.RedisError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{result.subscription}: sought to {result.target}")
    if result.rerun is not None:
        click.echo(f"handlers rerun events published in the window (rerun id {result.rerun.id})")
    else:
        click.echo("events already handled are not run again (--rerun to run them)")
    if since and not result.retains_acked:
        click.echo(
            "warning: the subscription does not retain acknowledged messages; only unacked "
            "events are replayed (update it with retain_acked_messages=true)",
            err=True,
        )


@events.command("snapshot")
@click.argument("name")
@click.option("--subscription", default="", help="Subscription id or path.")
def snapshot(name: str, subscription: str) -> None:
    """Snapshot the events subscription: its backlog now and every event published later."""
    from vbq.errors import PubSubError
    from vbq.subscribers.replay import create_snapshot

    settings = _settings()
    try:
        snap = create_snapshot(settings, name, subscription=subscription)
    except PubSubError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{snap.name} (expires {snap.expire_time.isoformat()})")


@events.command("snapshots")
def snapshots() -> None:
    """List the project's snapshots."""
    from vbq.errors import PubSubError
    from vbq.subscribers.replay import list_snapshots

    settings = _settings()
    try:
        found = list_snapshots(settings)
    except PubSubError as exc:
        raise click.ClickException(str(exc)) from None
    for snap in found:
        click.echo(f"{snap.name}\t{snap.topic}\t{snap.expire_time.isoformat()}")


@events.command("delete-snapshot")
@click.argument("name")
def delete_snapshot_command(name: str) -> None:
    """Delete a snapshot."""
    from vbq.errors import PubSubError
    from vbq.subscribers.replay import delete_snapshot

    settings = _settings()
    try:
        delete_snapshot(settings, name)
    except PubSubError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"deleted {name}")


def register(group: click.Group) -> None:
    """Attach ``vbq events`` to the root group."""
    group.add_command(events)
