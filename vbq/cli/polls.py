"""Each place's poll schedule for ``vbq watch`` (:mod:`vbq.store.poll_schedule`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vbq.store.poll_schedule import PlaceSchedule

if TYPE_CHECKING:
    from vbq.producers.client import Client

__all__ = ["poll_table"]


def poll_table(client: Client) -> Any:
    """A rich table, one row per place with in-flight jobs: its poll interval (back-off), seconds
    until its next poll and failed polls in a row (yellow while failing). One pipeline.

    Raises:
        redis.RedisError: Redis could not be reached.
    """
    from rich.table import Table

    table = Table(title="poll schedule per place")
    for name in ("project", "location", "interval s", "next poll in s", "failures"):
        table.add_column(name, justify="left" if name in ("project", "location") else "right")
    redis = getattr(client.store, "redis", None)
    if redis is None:
        return table
    now, states = PlaceSchedule(redis, settings=client.settings).states(prune=False)
    for st in states:
        due = "now" if st.due_at is None or st.due_at <= now else f"{st.due_at - now:.1f}"
        table.add_row(
            st.project,
            st.location,
            f"{st.interval_s:g}" if st.interval_s else "-",
            due,
            str(st.failures),
            style="yellow" if st.failures else None,
        )
    return table
