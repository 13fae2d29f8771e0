"""The wire contract between producers and workers: Celery task and queue names.

One queue per kind of work, so that a burst of submissions never starves polling or the
outbox relay, and each kind can get its own worker pool (``vbq worker --queues vbq.poll``):

========================  =============================================================
queue                     tasks
========================  =============================================================
``vbq.submit``            ``vbq.submit`` (create the Vertex job)
``vbq.cancel``            ``vbq.cancel``
``vbq.poll``              ``vbq.poll`` and ``vbq.poll.*``
``vbq.maintenance``       everything else: ``vbq.sweep``, ``vbq.purge``, the relay, beat's chores
========================  =============================================================

Messages carry only a submission id (``[submission_id]``), never the request: the job store
is the source of truth, so a message can be sent again at any time.
"""

from __future__ import annotations

__all__ = [
    "QUEUES",
    "QUEUE_CANCEL",
    "QUEUE_MAINTENANCE",
    "QUEUE_POLL",
    "QUEUE_SUBMIT",
    "TASK_CANCEL",
    "TASK_PACK_FLUSH",
    "TASK_PACK_TICK",
    "TASK_PURGE",
    "TASK_RESULTS",
    "TASK_ROUTES",
    "TASK_SPLIT",
    "TASK_SUBMIT",
    "TASK_SWEEP",
]

QUEUE_SUBMIT = "vbq.submit"
QUEUE_CANCEL = "vbq.cancel"
QUEUE_POLL = "vbq.poll"
QUEUE_MAINTENANCE = "vbq.maintenance"
QUEUES: tuple[str, ...] = (QUEUE_SUBMIT, QUEUE_CANCEL, QUEUE_POLL, QUEUE_MAINTENANCE)

TASK_SUBMIT = "vbq.submit"
"""``[submission_id]``: one submit attempt."""
TASK_CANCEL = "vbq.cancel"
"""``[submission_id]``, kwarg ``attempt``: cancel in whatever state it is."""
TASK_SWEEP = "vbq.sweep"
"""No arguments: re-enqueue submissions whose message was lost (beat sends it)."""
TASK_PURGE = "vbq.purge"
"""No arguments: delete at Google the Vertex jobs of submissions deleted from vbq (beat)."""
TASK_PACK_FLUSH = "vbq.pack.flush"
"""``[pack_id]``: write a sealed (or overdue) pack to Cloud Storage and submit it."""
TASK_PACK_TICK = "vbq.pack.tick"
"""No arguments: flush packs that are sealed or whose oldest request waited too long (beat)."""
TASK_RESULTS = "vbq.results"
"""No arguments: read finished jobs' outputs, answer requests, publish owed events (beat)."""
TASK_SPLIT = "vbq.split"
"""``[submission_id]``: count a Gemini input and split it into parts within the limits."""

# Glob routes, checked in order: the first match wins.
TASK_ROUTES: dict[str, dict[str, str]] = {
    "vbq.submit": {"queue": QUEUE_SUBMIT},
    "vbq.cancel": {"queue": QUEUE_CANCEL},
    "vbq.poll": {"queue": QUEUE_POLL},
    "vbq.poll.*": {"queue": QUEUE_POLL},
    "vbq.*": {"queue": QUEUE_MAINTENANCE},
}
