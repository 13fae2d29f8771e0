"""Redis keys of the job store (docs/contracts.md § Job store), all under ``vbq:``."""

from __future__ import annotations

__all__ = [
    "FINISHED_KEY",
    "OUTBOX_KEY",
    "PREFIX",
    "VERTEX_DELETES_KEY",
    "deleted_key",
    "idem_key",
    "index_key",
    "inflight_key",
    "label_index_key",
    "model_index_key",
    "models_key",
    "name_index_key",
    "state_index_key",
    "sub_key",
    "tenant_index_key",
    "tenant_state_counts_key",
    "tenant_state_index_key",
    "timeline_key",
]

PREFIX = "vbq:"
OUTBOX_KEY = f"{PREFIX}outbox"
VERTEX_DELETES_KEY = f"{PREFIX}vertex:deletes"
"""Zset of Vertex job names to delete at Google (score = when asked), drained by the workers."""
FINISHED_KEY = f"{PREFIX}finished"
"""Zset of finished submission ids, score = finished_at (``update.lua`` adds, in the same call
as the finishing transition): the retention task's work list, oldest first."""


def sub_key(submission_id: str) -> str:
    """Hash of one submission."""
    return f"{PREFIX}sub:{submission_id}"


def idem_key(tenant: str, idempotency_key: str) -> str:
    """String binding a tenant's idempotency key to a submission id."""
    return f"{PREFIX}idem:{tenant}:{idempotency_key}"


def index_key() -> str:
    """Listing zset of every submission (score = created_at)."""
    return f"{PREFIX}idx:all"


def state_index_key(state: str) -> str:
    """Listing zset of the submissions currently in ``state``."""
    return f"{PREFIX}idx:state:{state}"


def tenant_index_key(tenant: str) -> str:
    """Listing zset of a tenant's submissions."""
    return f"{PREFIX}idx:tenant:{tenant}"


def label_index_key(key: str, value: str) -> str:
    """Listing zset of the submissions whose spec has label ``key=value``."""
    return f"{PREFIX}idx:label:{key}:{value}"


def inflight_key(project: str, location: str) -> str:
    """The poller's zset of unfinished Vertex jobs (score = submitted_at)."""
    return f"{PREFIX}inflight:{project}:{location}"


def deleted_key(submission_id: str) -> str:
    """Tombstone of a deleted submission (value: its tenant), kept for a day."""
    return f"{PREFIX}deleted:{submission_id}"


# -- console indexes (docs/contracts.md § Console): maintained by create.lua / update.lua ------


def tenant_state_counts_key() -> str:
    """Hash ``{tenant}:{STATE}`` -> how many of the tenant's submissions are in that state."""
    return f"{PREFIX}count:tenant-state"


def tenant_state_index_key(tenant: str, state: str) -> str:
    """Listing zset of a tenant's submissions currently in ``state`` (score = created_at)."""
    return f"{PREFIX}idx:tenant-state:{tenant}:{state}"


def model_index_key(model: str) -> str:
    """Listing zset of the submissions for resolved model ``model`` (score = created_at)."""
    return f"{PREFIX}idx:model:{model}"


def models_key() -> str:
    """Set of every resolved model name any submission used."""
    return f"{PREFIX}idx:models"


def name_index_key(tenant: str) -> str:
    """A tenant's display-name index: zset, score 0, member ``{ascii-lowercased name}\\0{id}``
    (``ZRANGEBYLEX`` prefix search)."""
    return f"{PREFIX}idx:name:{tenant}"


def timeline_key(submission_id: str) -> str:
    """List of a submission's timeline entries, oldest first (:mod:`vbq.store.timeline`)."""
    return f"{PREFIX}timeline:{submission_id}"
