"""A submission with several acceptable locations whose place refused its create goes back.

Only after an answer that surely created nothing (429, 503, no connection: the caller checks),
so no Vertex job of it can exist anywhere and it may move (docs/contracts.md § Placement).
"""

from __future__ import annotations

from typing import Any

from vbq.errors import StateConflictError, VertexError
from vbq.logs import get_logger
from vbq.states import SubmissionState
from vbq.workers.ports import Store
from vbq.workers.submit_outcome import Outcome, error_text

__all__ = ["place_again"]

_log = get_logger("vbq.workers.submit")


def place_again(store: Store, rec: Any, refused_at: str, exc: VertexError) -> Outcome:
    """SUBMITTING → ACCEPTED (no event, as for any ACCEPTED record): ``update.lua`` queues it
    again at its acceptable places but ``refused_at``, at its first arrival number.

    Returns:
        A final ``noop`` outcome that keeps the due mark (``update.lua`` removed the old one;
        the dispatcher marks and sends the next message once a place claims it).

    Raises:
        redis.RedisError: the store is unreachable.
    """
    try:
        store.transition(
            rec.id,
            expected={SubmissionState.SUBMITTING},
            new_state=SubmissionState.ACCEPTED,
            updates={"placement_avoid": refused_at, "last_error": error_text(exc)},
        )
    except StateConflictError:
        return Outcome(action="noop", reason="state changed")
    _log.info("submit.placed_again", refused_at=refused_at, error=str(exc))
    return Outcome(action="noop", reason=f"placed again: {refused_at} refused", keeps_due_mark=True)
