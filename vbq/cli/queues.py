"""The scheduler's per-tenant summary for ``vbq list --queues`` and ``vbq watch``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from vbq.scheduler import PRIORITIES
from vbq.scheduler.stats import TenantQueueStats, scheduler_stats

if TYPE_CHECKING:
    from vbq.producers.client import Client

__all__ = ["echo_queue_summary", "queue_rows", "queue_table"]


def queue_rows(client: Client) -> list[TenantQueueStats]:
    """Per-tenant queue stats of the client's store (:func:`scheduler_stats`).

    Raises:
        redis.RedisError: Redis could not be reached.
    """
    redis_client: Any = getattr(client.store, "redis")  # noqa: B009 - the port hides it
    return scheduler_stats(redis_client, policy=client.settings.tenant_policy())


def queue_table(rows: list[TenantQueueStats]) -> Any:
    """A rich table: tenant, queued by priority, oldest wait, creates and share (last 60 s)."""
    from rich.table import Table

    table = Table(title="scheduler queues by tenant (creates: last 60 s)")
    for name in ("tenant", "weight", *PRIORITIES, "oldest wait s", "creates", "share"):
        table.add_column(name, justify="left" if name == "tenant" else "right")
    for row in rows:
        table.add_row(
            row.tenant,
            f"{row.weight:g}",
            *(str(row.queued.get(p, 0)) for p in PRIORITIES),
            f"{row.oldest_wait_s:.1f}",
            str(row.creates_recent),
            f"{row.share:.0%}",
        )
    return table


def echo_queue_summary(client: Client, *, as_json: bool) -> None:
    """Print the per-tenant summary (one JSON object per tenant with ``as_json``)."""
    rows = queue_rows(client)
    if as_json:
        for row in rows:
            click.echo(
                json.dumps(
                    {
                        "tenant": row.tenant,
                        "weight": row.weight,
                        "queued": row.queued,
                        "oldest_wait_s": round(row.oldest_wait_s, 3),
                        "creates_last_60s": row.creates_recent,
                        "share": round(row.share, 4),
                    }
                )
            )
        return
    from rich.console import Console

    Console().print(queue_table(rows))
