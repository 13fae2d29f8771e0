"""Celery tasks of the submit path, and the functions producers use to enqueue them.

=================  ======================  ===============================================
task               queue                   args
=================  ======================  ===============================================
``vbq.submit``     ``vbq.submit``          ``[submission_id]``
``vbq.cancel``     ``vbq.cancel``          ``[submission_id]`` (kwarg ``attempt``)
``vbq.sweep``      ``vbq.maintenance``     none (beat schedules it)
=================  ======================  ===============================================

The tasks are thin: :class:`vbq.workers.submit.Submitter` and :class:`vbq.workers.cancel.Canceller`
decide, the task only re-publishes itself with a ``countdown`` when told to come back later
(never sleeping in a worker) and keeps ``vbq:submit:due`` current for the sweeper. A message
whose argument is not a submission id is logged and dropped, never retried.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import redis
from celery import Task

from vbq.broker.enqueue import Enqueuer
from vbq.logs import get_logger
from vbq.settings import Settings
from vbq.workers.cancel import Canceller
from vbq.workers.celery_app import app
from vbq.workers.deps import PerProcess
from vbq.workers.deps import settings_and_redis as _settings_and_redis
from vbq.workers.retry import backoff_s
from vbq.workers.split_hook import SplitHook
from vbq.workers.submit import Submitter
from vbq.workers.sweeper import DueIndex, Sweeper

__all__ = [
    "Enqueuer",
    "cancel",
    "enqueue_cancel",
    "enqueue_submit",
    "enqueue_submit_many",
    "submit",
    "sweep",
]

_log = get_logger("vbq.workers.tasks")
_SUBMISSION_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass
class _Deps:
    settings: Settings
    redis: redis.Redis
    submitter: Submitter
    canceller: Canceller
    due: DueIndex


def _build_deps() -> _Deps:
    settings, client = _settings_and_redis()
    from vbq.quota.ratelimit import RateLimiter
    from vbq.quota.slots import Slots
    from vbq.store import JobStore
    from vbq.vertex import VertexClient

    store = JobStore(client, settings=settings)
    vertex = VertexClient.from_settings(settings)
    limiter = RateLimiter(client, settings=settings)
    slots = Slots(client, settings=settings)
    deps = _Deps(
        settings=settings,
        redis=client,
        submitter=Submitter(
            store=store,
            vertex=vertex,
            limiter=limiter,
            slots=slots,
            redis_client=client,
            settings=settings,
            split_hook=SplitHook(
                redis=client,
                settings=settings,
                send_split=lambda sid: app.send_task("vbq.split", args=[sid]),
            ),
        ),
        canceller=Canceller(
            store=store, vertex=vertex, limiter=limiter, redis_client=client, settings=settings
        ),
        due=DueIndex(client),
    )
    return deps


_deps_per_process: PerProcess[_Deps] = PerProcess(_build_deps)


def _deps() -> _Deps:
    return _deps_per_process.get()


def _valid(submission_id: object) -> bool:
    return isinstance(submission_id, str) and bool(_SUBMISSION_ID.match(submission_id))


# -- tasks -------------------------------------------------------------------------------------


@app.task(name="vbq.submit", bind=True, max_retries=None, ignore_result=True)
def submit(self: Task[Any, Any], submission_id: str) -> str:
    """Make one submit attempt for ``submission_id``; re-publish itself when told to wait.

    Returns the attempt's action (``submitted``, ``adopted``, ``retry``, ...).
    """
    if not _valid(submission_id):
        _log.error("task.malformed_message", task="vbq.submit", arg=repr(submission_id)[:80])
        return "dropped"
    deps = _deps()
    try:
        outcome = deps.submitter.run(submission_id)
    except redis.RedisError as exc:
        # Redis is down: come back later; the broker keeps the message if it is down too.
        wait = backoff_s(deps.settings, self.request.retries or 0)
        raise self.retry(exc=exc, countdown=wait) from exc
    if outcome.cancel_follows:
        # A cancel arrived while the job was being created: the cancel task now cancels it
        # on Vertex (under the read limit, with retries).
        enqueue_cancel(submission_id)
    if outcome.final:
        if not outcome.keeps_due_mark:  # placed again: its next claim marks it (placement)
            deps.due.clear(submission_id)
    else:
        enqueue_submit(submission_id, countdown_s=outcome.countdown_s)
    return outcome.action


@app.task(name="vbq.cancel", bind=True, max_retries=None, ignore_result=True)
def cancel(self: Task[Any, Any], submission_id: str, attempt: int = 0) -> str:
    """Cancel ``submission_id`` in whatever state it is (see :mod:`vbq.workers.cancel`)."""
    if not _valid(submission_id):
        _log.error("task.malformed_message", task="vbq.cancel", arg=repr(submission_id)[:80])
        return "dropped"
    deps = _deps()
    try:
        outcome = deps.canceller.run(submission_id, attempt=int(attempt))
    except redis.RedisError as exc:
        wait = backoff_s(deps.settings, self.request.retries or 0)
        raise self.retry(exc=exc, countdown=wait) from exc
    if outcome.action == "requested":
        # A submit attempt owns the record: make sure one runs soon and sees the flag.
        enqueue_submit(submission_id)
    elif not outcome.final:
        enqueue_cancel(submission_id, countdown_s=outcome.countdown_s, attempt=int(attempt) + 1)
    return outcome.action


@app.task(name="vbq.sweep", ignore_result=True)
def sweep() -> int:
    """Re-enqueue submissions whose submit message was lost; returns how many."""
    settings, client = _settings_and_redis()
    report = Sweeper(redis_client=client, settings=settings, enqueue=enqueue_submit_many).sweep()
    return report.total


# -- enqueueing --------------------------------------------------------------------------------


def _enqueuer() -> Enqueuer:
    settings, client = _settings_and_redis()
    return Enqueuer(celery_app=app, redis_client=client, settings=settings)


def enqueue_submit(submission_id: str, *, countdown_s: float = 0.0) -> None:
    """Publish one ``vbq.submit`` message for ``submission_id`` on the app's broker.

    Args:
        submission_id: the stored submission.
        countdown_s: seconds until it may run (capped at half the visibility timeout).

    Raises:
        redis.RedisError: the vbq Redis is unreachable (published but not marked; harmless).
        kombu.exceptions.OperationalError: the broker is unreachable.
    """
    _enqueuer().submit(submission_id, countdown_s=countdown_s)


def enqueue_submit_many(submission_ids: Iterable[str]) -> int:
    """Publish one ``vbq.submit`` message per id over one broker connection.

    Returns:
        How many messages were published.

    Raises:
        redis.RedisError: the vbq Redis is unreachable (published but not marked; harmless).
        kombu.exceptions.OperationalError: the broker is unreachable.
    """
    return _enqueuer().submit_many(submission_ids)


def enqueue_cancel(submission_id: str, *, countdown_s: float = 0.0, attempt: int = 0) -> None:
    """Publish one ``vbq.cancel`` message for ``submission_id``.

    Raises:
        kombu.exceptions.OperationalError: the broker is unreachable.
    """
    _enqueuer().cancel(submission_id, countdown_s=countdown_s, attempt=attempt)
