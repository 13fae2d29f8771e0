"""The splitter's task ``vbq.split [submission_id]`` (queue ``vbq.maintenance``), sent by the
submit path's hook for a Gemini submission whose input must be measured
(:mod:`vbq.workers.split_hook`, :mod:`vbq.workers.splitter`)."""

from __future__ import annotations

import re
from typing import Any

from celery import Task

from vbq.broker.names import TASK_SPLIT
from vbq.logs import get_logger
from vbq.redisconn import client_for
from vbq.settings import Settings
from vbq.workers.celery_app import app
from vbq.workers.deps import PerProcess, settings_and_redis
from vbq.workers.retry import backoff_s
from vbq.workers.splitter import Splitter

__all__ = ["split"]

_log = get_logger("vbq.workers.split")
_ID = re.compile(r"^[0-9a-f]{32}$")


def _build() -> tuple[Settings, Splitter]:
    from vbq.store import JobStore
    from vbq.workers.tasks import enqueue_submit

    settings, _ = settings_and_redis()
    client = client_for(settings)
    store = JobStore(client, settings=settings)
    return settings, Splitter(
        redis=client, settings=settings, store=store, enqueue_submit=enqueue_submit
    )


_deps: PerProcess[tuple[Settings, Splitter]] = PerProcess(_build)


@app.task(name=TASK_SPLIT, bind=True, max_retries=None, ignore_result=True)
def split(self: Task[Any, Any], submission_id: str) -> str:
    """Measure one held submission's input and split it when over the limits."""
    if not isinstance(submission_id, str) or not _ID.match(submission_id):
        _log.error("task.malformed_message", task=TASK_SPLIT, arg=repr(submission_id)[:80])
        return "dropped"
    settings, splitter = _deps.get()
    try:
        return splitter.split(submission_id)
    except Exception as exc:
        _log.warning("split failed; retrying", submission_id=submission_id, error=repr(exc))
        raise self.retry(exc=exc, countdown=backoff_s(settings, self.request.retries or 0)) from exc
