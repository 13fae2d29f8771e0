"""The results task ``vbq.results`` (queue ``vbq.maintenance``): beat sends it every few
seconds and the poll task sends it after a cycle that owed an event; each run handles what
is due (:mod:`vbq.workers.results`). It works without any subscriber running."""

from __future__ import annotations

from typing import Any

import redis as redis_lib

from vbq.broker.names import TASK_RESULTS
from vbq.logs import get_logger
from vbq.redisconn import client_for
from vbq.settings import Settings
from vbq.workers.celery_app import app
from vbq.workers.deps import PerProcess, settings_and_redis
from vbq.workers.results import Finisher

__all__ = ["build_finisher", "results"]

_log = get_logger("vbq.workers.results")


def build_finisher(settings: Settings, client: redis_lib.Redis | None = None) -> Finisher:
    """A :class:`Finisher` on the real store (with the splitter's parent check)."""
    from vbq.store import JobStore
    from vbq.workers.split_parent import SplitParent
    from vbq.workers.tasks import enqueue_cancel

    client = client or client_for(settings)
    store = JobStore(client, settings=settings)
    parents = SplitParent(redis=client, store=store, send_cancel=enqueue_cancel)
    return Finisher(redis=client, settings=settings, store=store, split_check=parents.check)


def _build() -> Finisher:
    settings, _ = settings_and_redis()
    return build_finisher(settings)


_finisher: PerProcess[Finisher] = PerProcess(_build)


@app.task(name=TASK_RESULTS, ignore_result=True, acks_late=False)
def results() -> dict[str, Any]:
    """One run of the results task; errors are logged (the next run retries)."""
    try:
        report = _finisher.get().run_once()
    except Exception as exc:
        _log.warning("results run failed", error=repr(exc))
        return {"error": repr(exc)}
    return {
        "published": len(report.published),
        "waiting": report.waiting,
        "failed_reads": report.failed_reads,
        "settled_packs": len(report.settled_packs),
    }
