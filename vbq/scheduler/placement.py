"""Placement: a submission with several acceptable locations runs where capacity is free.

``create.lua`` queues such a submission (record field ``locations``, comma-separated) at
every acceptable place with one arrival number. Each place's dispatcher round treats it like
any other queued submission; the first place that has a create token and a slot for it claims
it with the claim form of :data:`~vbq.scheduler.queues.DISPATCH_SCRIPT`, one fenced Lua
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
from vbq.scheduler.keys import (
    queue_key,
)
from vbq.scheduler.queues import DISPATCH_SCRIPT, Candidate, dispatch_call

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
    """Reads and claims of submissions queued at several places.

    Args:
        redis_client: the vbq Redis.
    """

    def __init__(self, redis_client: redis.Redis) -> None:
        self.redis = redis_client
        self._claim = redis_client.register_script(DISPATCH_SCRIPT)

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

    def claim(
        self,
        lease_value: str,
        candidate: Candidate,
        placed: PlacedCandidate,
        *,
        project: str,
        location: str,
        new_tag: float,
        grant_ttl_ms: int,
    ) -> int:
        """Claim ``candidate`` for (project, location): the plain commit, plus out of the other
        places' queues and the record's ``location``/``model`` set to this place.

        Returns:
            1 claimed; 0 it left this queue meanwhile (or its entry was stale and is dropped);
            -1 the lease was lost.

        Raises:
            redis.RedisError: Redis is unreachable.
        """
        tenant, priority = candidate.tenant, candidate.priority
        keys, args = dispatch_call(
            lease_value,
            candidate,
            project=project,
            location=location,
            new_tag=new_tag,
            grant_ttl_ms=grant_ttl_ms,
        )
        here = queue_key(project, location, tenant, priority)
        others = (queue_key(project, loc, tenant, priority) for loc in placed.locations)
        keys += [k for k in others if k != here]
        args += [location, placed.model or ""]
        return int(self._claim(keys=keys, args=args))
