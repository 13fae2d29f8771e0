"""Redis keys and names of the scheduler (docs/contracts.md § Scheduler).

Every key lives under ``vbq:sched:``. A *place* is one (project, location): one shared quota.
"""

from __future__ import annotations

__all__ = [
    "ACTIVE_PREFIX",
    "CLOCK_PREFIX",
    "DEFAULT_PRIORITY",
    "FENCE_KEY",
    "LOCK_KEY",
    "PLACES_KEY",
    "PRIORITIES",
    "QUEUE_PREFIX",
    "SEQ_KEY",
    "TAGS_PREFIX",
    "active_key",
    "clock_key",
    "grant_key",
    "place_name",
    "place_of",
    "queue_key",
    "tags_key",
]

PRIORITIES: tuple[str, ...] = ("interactive", "default", "bulk")
"""Priorities, highest first: within a tenant, a higher one is always dispatched first."""

DEFAULT_PRIORITY = "default"

QUEUE_PREFIX = "vbq:sched:queue:"
ACTIVE_PREFIX = "vbq:sched:active:"
TAGS_PREFIX = "vbq:sched:tags:"
CLOCK_PREFIX = "vbq:sched:clock:"
PLACES_KEY = "vbq:sched:places"
SEQ_KEY = "vbq:sched:seq"
LOCK_KEY = "vbq:sched:lock"
FENCE_KEY = "vbq:sched:fence"


def queue_key(project: str, location: str, tenant: str, priority: str) -> str:
    """zset of one tenant's submissions of one priority at one place: id → arrival number."""
    return f"{QUEUE_PREFIX}{project}:{location}:{tenant}:{priority}"


def active_key(project: str, location: str) -> str:
    """zset of the tenants with queued submissions at a place: tenant → virtual start tag."""
    return f"{ACTIVE_PREFIX}{project}:{location}"


def tags_key(project: str, location: str) -> str:
    """hash: tenant → its virtual tag when it last left the active set."""
    return f"{TAGS_PREFIX}{project}:{location}"


def clock_key(project: str, location: str) -> str:
    """string: the place's virtual clock (start tag of the last dispatched submission)."""
    return f"{CLOCK_PREFIX}{project}:{location}"


def grant_key(submission_id: str) -> str:
    """string with a short TTL: the dispatcher took a create token for this submission."""
    return f"vbq:sched:grant:{submission_id}"


def place_name(project: str, location: str) -> str:
    """Member of ``vbq:sched:places`` for a place (projects and locations hold no ``|``)."""
    return f"{project}|{location}"


def place_of(name: str) -> tuple[str, str]:
    """(project, location) of a ``vbq:sched:places`` member."""
    project, _, location = name.partition("|")
    return project, location
