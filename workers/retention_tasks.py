"""The ``vbq.retention`` task (queue ``vbq.maintenance``) that beat sends every 30 s: archive
finished submissions past ``VBQ_RETENTION_S`` and expire them from Redis
(:class:`vbq.archive.Archiver`; docs/contracts.md § Retention and archive)."""

from __future__ import annotations

from typing import Any

from vbq.archive import Archiver
from vbq.workers.celery_app import app
from vbq.workers.deps import PerProcess, settings_and_redis

__all__ = ["retention"]

TASK_RETENTION = "vbq.retention"


def _build() -> Archiver:
    settings, client = settings_and_redis()
    return Archiver(redis=client, settings=settings)


_archiver: PerProcess[Archiver] = PerProcess(_build)


@app.task(name=TASK_RETENTION, ignore_result=True, acks_late=False)
def retention() -> dict[str, Any]:
    """Archive and expire due submissions (bounded: 20 batches or 20 s); returns the counts.
    A round that finds the lease held elsewhere does nothing."""
    report = _archiver.get().run_once()
    return {**vars(report), "expired": report.expired}
