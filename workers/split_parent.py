"""A split submission finishes when its parts have (called by the results task).

Outcome: every part SUCCEEDED → SUCCEEDED; every part CANCELLED → CANCELLED; no part
(partially) succeeded → FAILED; otherwise PARTIALLY_SUCCEEDED. The parent's ``job`` lists every
part (``vbqParts``: submission, Vertex job, state, output directory, counts, error) and its
``outputInfo.gcsOutputDirectory`` is the directory holding every part's output, so
``iter_predictions(event)`` reads the rows of all parts. ``results`` sums the parts' token
usage (already counted per part in the totals, so not counted again). A cancel asked for the
parent is passed on to its unfinished parts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis as redis_lib

from vbq.errors import StateConflictError
from vbq.events import JobEvent
from vbq.logs import get_logger
from vbq.states import SubmissionState, event_type_for
from vbq.store import JobStore, SubmissionRecord
from vbq.store.results import ResultsBook
from vbq.usage import Tokens
from vbq.workers.cancel import cancel_requested

__all__ = ["SplitParent", "outcome_of"]

_log = get_logger("vbq.workers.split_parent")
_S = SubmissionState
_OK = frozenset({_S.SUCCEEDED, _S.PARTIALLY_SUCCEEDED})
_RECHECK_S = 5.0


def outcome_of(states: list[SubmissionState]) -> SubmissionState:
    """The parent's state for its parts' finished states."""
    if all(s is _S.SUCCEEDED for s in states):
        return _S.SUCCEEDED
    if all(s is _S.CANCELLED for s in states):
        return _S.CANCELLED
    if not any(s in _OK for s in states):
        return _S.FAILED
    return _S.PARTIALLY_SUCCEEDED


class SplitParent:
    """Finishes split submissions.

    Args:
        redis: the vbq Redis.
        store: the job store.
        send_cancel: publishes ``vbq.cancel`` for a submission id.
    """

    def __init__(
        self, *, redis: redis_lib.Redis, store: JobStore, send_cancel: Callable[[str], Any]
    ) -> None:
        self.redis = redis
        self.store = store
        self.send_cancel = send_cancel
        self.results = ResultsBook(redis)

    def check(self, rec: SubmissionRecord) -> None:
        """Finish ``rec`` if every part finished (and was accounted); else look again later."""
        if rec.finished:
            self.results.forget(rec.id)
            return
        ids = [str(i) for i in rec.metadata.get("vbq_split_parts") or []]
        parts = self.store.get_many(ids)
        if cancel_requested(self.redis, rec.id) and self.redis.set(
            f"vbq:split:cancelled:{rec.id}", "1", nx=True, ex=7 * 24 * 3600
        ):
            for part in parts:
                if not part.finished:
                    self.send_cancel(part.id)
        settled = len(parts) == len(ids) and all(
            p.finished and (p.results is not None or self.results.owed(p.id) is None) for p in parts
        )
        now = _redis_now(self.redis)
        if not settled:
            self.results.later(rec.id, now + _RECHECK_S)
            return
        state = outcome_of([p.state for p in parts])
        job = _job(rec, parts, state)
        results = _results(parts)
        etype = event_type_for(state)
        assert etype is not None
        event = JobEvent.create(
            type=etype,
            submission_id=rec.id,
            state=state.value,
            previous_state=rec.state.value,
            job=job,
            tenant=rec.tenant,
            location=rec.location,
            priority=rec.priority,
            labels=rec.labels,
            metadata=rec.metadata,
        ).model_copy(update={"results": results})
        try:
            self.store.transition(
                rec.id,
                expected={rec.state},
                new_state=state,
                updates={"job": job, "results": results},
                event=event,
            )
        except StateConflictError:
            return
        self.results.forget(rec.id)
        _log.info("split submission finished", submission_id=rec.id, state=state.value)


def _job(
    rec: SubmissionRecord, parts: list[SubmissionRecord], state: SubmissionState
) -> dict[str, Any]:
    job = dict(rec.job or {})
    job["state"] = f"JOB_STATE_{state.value}"
    stats = {"successfulCount": 0, "failedCount": 0, "incompleteCount": 0}
    listed = []
    for part in parts:
        pjob = part.job or {}
        for key in stats:
            try:
                stats[key] += int((pjob.get("completionStats") or {}).get(key, 0))
            except (TypeError, ValueError):
                pass
        listed.append(
            {
                "submissionId": part.id,
                "name": part.job_name,
                "state": f"JOB_STATE_{part.state.value}",
                "outputInfo": pjob.get("outputInfo"),
                "completionStats": pjob.get("completionStats"),
                "error": pjob.get("error")
                or ({"message": part.last_error} if part.last_error else None),
            }
        )
    job["vbqParts"] = listed
    job["completionStats"] = {k: str(v) for k, v in stats.items()}
    if state is _S.FAILED:
        first = next((p["error"] for p in listed if p["error"]), None)
        job["error"] = first or {"message": "every part failed"}
    return job


def _results(parts: list[SubmissionRecord]) -> dict[str, Any]:
    tokens = Tokens()
    counts = {"requests": 0, "succeeded": 0, "failed": 0}
    for part in parts:
        res = part.results or {}
        tokens = tokens + Tokens.from_dict(res.get("usage"))
        for key in counts:
            counts[key] += int(res.get(key) or 0)
    return {**counts, "usage": tokens.to_dict(), "parts": [p.id for p in parts]}


def _redis_now(redis: redis_lib.Redis) -> float:
    seconds, micros = redis.time()
    return float(seconds) + float(micros) / 1e6
