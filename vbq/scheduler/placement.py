"""Placement: a submission with several acceptable locations runs where capacity is free.

``create.lua`` queues such a submission (record field ``locations``, comma-separated) at
every acceptable place with one arrival number. Each place's dispatcher round treats it like
any other queued submission; the first place that has a create token and a slot for it claims
it with the claim form of :meth:`~vbq.scheduler.queues.SchedulerQueues.commit`, one fenced Lua
call that does what the plain commit does and also takes it out of the other places' queues
and sets the record's ``location`` (and ``model``, for a publisher model named with a
region) to the chosen place, before any create is sent. A queue entry whose record is no
longer ACCEPTED is stale: it is dropped, never dispatched.

A create that the chosen place answered in a way that surely created nothing (429, 503, no
connection) puts it back: ACCEPTED again (``update.lua``), queued at its other acceptable
places (:mod:`vbq.workers.submit`). A create that may have been applied (a timeout, 5xx) keeps
it at that place until the label reconcile there finds the job or sends the create again:
a submission only moves while no create of it can exist, so a reconcile in one place is
enough (docs/contracts.md § Placement).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis

from vbq.places import model_at

__all__ = ["PlacedCandidate", "Placement"]


@dataclass(frozen=True, slots=True)
class PlacedCandidate:
    """What the dispatcher needs of a queued submission before it takes its slot.

    Attributes:
        model: the model the job would use at this place (slots per model key on it).
        locations: its acceptable locations; empty for a submission with one place.
    """

    model: str | None
    locations: tuple[str, ...]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Placement:
    """Reads of submissions queued at several places (the claim is
    :meth:`~vbq.scheduler.queues.SchedulerQueues.commit` with their ``locations``).

    Args:
        redis_client: the vbq Redis.
    """

    def __init__(self, redis_client: redis.Redis) -> None:
        self.redis = redis_client

    def lookup(self, submission_id: str, location: str) -> PlacedCandidate:
        """The model (as it would be at ``location``) and acceptable locations of a submission.

        Raises:
            redis.RedisError: Redis is unreachable.
        """
        model, locations = self.redis.hmget(f"vbq:sub:{submission_id}", ["model", "locations"])
        places = tuple(x for x in _text(locations or "").split(",") if x)
        name = _text(model) if model else None
        if name and places:
            name = model_at(name, location)
        return PlacedCandidate(model=name, locations=places)
