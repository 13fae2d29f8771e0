"""The packer's tasks (queue ``vbq.maintenance``).

=====================  ==============  ===================================================
task                   args            what
=====================  ==============  ===================================================
``vbq.pack.flush``     ``[pack_id]``   flush one pack (sent when a pack fills)
``vbq.pack.tick``      none            seal packs past ``VBQ_PACK_MAX_WAIT_S``, flush every
                                       sealed pack (beat sends it; lost flushes recover)
=====================  ==============  ===================================================

A flush killed mid-way is redelivered (``acks_late``) or repeated by the next tick; every step
is idempotent (:mod:`vbq.workers.packer`).
"""

from __future__ import annotations

import re
from typing import Any

import redis as redis_lib
from celery import Task

from vbq.broker.names import TASK_PACK_FLUSH, TASK_PACK_TICK
from vbq.logs import get_logger
from vbq.redisconn import client_for
from vbq.settings import Settings
from vbq.workers.celery_app import app
from vbq.workers.deps import PerProcess, settings_and_redis
from vbq.workers.packer import Packer
from vbq.workers.retry import backoff_s

__all__ = ["build_packer", "flush", "tick"]

_log = get_logger("vbq.workers.pack")
_PACK_ID = re.compile(r"^[0-9a-f]{32}$")


def build_packer(settings: Settings, client: redis_lib.Redis | None = None) -> Packer:
    """A :class:`Packer` on the real store (its submissions are queued for the dispatcher)."""
    from vbq.store import JobStore

    client = client or client_for(settings)
    return Packer(
        redis=client,
        settings=settings,
        store=JobStore(client, settings=settings),
    )


def _build() -> tuple[Settings, Packer]:
    settings, _ = settings_and_redis()
    # Its own client with raw replies: pack lines travel as bytes, never decoded.
    return settings, build_packer(settings, client_for(settings))


_deps: PerProcess[tuple[Settings, Packer]] = PerProcess(_build)


@app.task(name=TASK_PACK_FLUSH, bind=True, max_retries=None, ignore_result=True)
def flush(self: Task[Any, Any], pack_id: str) -> str:
    """Flush one pack; retried with backoff while Redis or Cloud Storage fail."""
    if not isinstance(pack_id, str) or not _PACK_ID.match(pack_id):
        _log.error("task.malformed_message", task=TASK_PACK_FLUSH, arg=repr(pack_id)[:80])
        return "dropped"
    settings, packer = _deps.get()
    try:
        return packer.flush(pack_id)
    except Exception as exc:
        wait = backoff_s(settings, self.request.retries or 0)
        _log.warning("pack flush failed; retrying", pack_id=pack_id, error=repr(exc))
        raise self.retry(exc=exc, countdown=wait) from exc


@app.task(name=TASK_PACK_TICK, ignore_result=True, acks_late=False)
def tick() -> dict[str, Any]:
    """Seal overdue packs and flush sealed ones; beat resends it, so errors are only logged."""
    _, packer = _deps.get()
    try:
        report = packer.tick()
    except Exception as exc:
        _log.warning("pack tick failed", error=repr(exc))
        return {"error": repr(exc)}
    return {"sealed_by_age": report.sealed_by_age, "flushed": len(report.flushed)}
