"""Deleting finished submissions (``delete.lua``), as Google deletes finished jobs.

One Lua call removes the record, its listing index entries, its idempotency key and markers,
queues its Vertex job name in ``vbq:vertex:deletes`` (the workers delete it at Google under the
read rate limit, retrying until Google confirms) and leaves a tombstone ``vbq:deleted:{id}``
for a day, so that a deleted submission can be told apart from one that never existed.
"""

from __future__ import annotations

from typing import Any

import redis as redis_lib

from vbq.errors import NotFoundError, StateConflictError, StoreError
from vbq.states import FINISHED_SUBMISSION_STATES, SubmissionState
from vbq.store.keys import PREFIX, VERTEX_DELETES_KEY, deleted_key, sub_key
from vbq.store.records import SpecLoader, SubmissionRecord, decode_record, flat_pairs
from vbq.store.scripts import load_script

__all__ = ["TOMBSTONE_TTL_S", "Remover"]

TOMBSTONE_TTL_S = 24 * 3600
"""How long a deleted submission's tombstone is kept, in seconds."""

_FINISHED = sorted(s.value for s in FINISHED_SUBMISSION_STATES)


class Remover:
    """Deletes finished submissions and answers whether one was deleted.

    Args:
        redis: the store's Redis client.
        spec_loader: parses the deleted record's spec.
    """

    def __init__(self, redis: redis_lib.Redis, *, spec_loader: SpecLoader) -> None:
        self.redis = redis
        self.spec_loader = spec_loader
        self._delete = redis.register_script(load_script("delete.lua"))

    def delete(self, submission_id: str, *, tenant: str | None = None) -> SubmissionRecord:
        """Delete a finished submission; returns the record as it was.

        Raises:
            NotFoundError: no such submission (or not ``tenant``'s).
            StateConflictError: it has not finished (carries the actual state).
        """
        reply = self._delete(
            keys=[sub_key(submission_id), VERTEX_DELETES_KEY, deleted_key(submission_id)],
            args=[submission_id, PREFIX, tenant or "", TOMBSTONE_TTL_S, *_FINISHED],
        )
        status = _text(reply[0])
        if status == "ok":
            return decode_record(flat_pairs(reply[1]), spec_loader=self.spec_loader)
        if status == "missing":
            raise NotFoundError(f"submission {submission_id} not found")
        if status == "conflict":
            actual = SubmissionState(_text(reply[1]))
            raise StateConflictError(submission_id, "a finished state", actual)
        raise StoreError(f"unexpected delete reply {reply!r}")

    def deleted_by(self, submission_id: str) -> str | None:
        """The tenant of a submission deleted within the tombstone TTL, else None."""
        value = self.redis.get(deleted_key(submission_id))
        return None if value is None else _text(value)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
