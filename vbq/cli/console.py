"""``vbq console reindex``: bring a store written before the console's indexes up to date.

The console itself is served by ``vbq api`` under ``/console``.
"""

from __future__ import annotations

import click

__all__ = ["console", "register"]


@click.group("console")
def console() -> None:
    """The web console (served by `vbq api` at /console)."""


@console.command("reindex")
@click.option("--chunk", default=1000, show_default=True, type=click.IntRange(10, 100_000))
def reindex_command(chunk: int) -> None:
    """Rebuild the per-tenant counters, model and name indexes and missing timelines, and
    put finished submissions in the retention work list (``vbq:finished``).

    Needed once for submissions stored before the console (or retention) existed; safe to
    run again.
    Run it at a quiet time: counts of records that move during the walk may be off by those.
    """
    import redis

    from vbq.settings import Settings
    from vbq.store.expiry import backfill_finished
    from vbq.store.reindex import reindex

    settings = Settings.from_env()
    from vbq.redisconn import client_for

    client = client_for(settings, decode_responses=True)
    try:
        report = reindex(client, chunk=chunk)
        finished = backfill_finished(client, batch=chunk)
    except redis.RedisError as exc:
        raise click.ClickException(f"Redis: {exc}") from None
    finally:
        client.close()
    click.echo(
        f"reindexed {report.records} submissions: {report.timelines_added} timelines rebuilt "
        f"from their times, {report.names_set} display names set, {finished} finished "
        "submissions added to the retention work list"
    )


def register(group: click.Group) -> None:
    """Attach ``vbq console`` to the root group."""
    group.add_command(console)
