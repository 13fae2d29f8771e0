"""The ``vbq.poll`` task (queue ``vbq.poll``) that beat sends every tick.

The task is cheap when no place is due (one pipeline, :mod:`vbq.store.poll_schedule`: each
(project, location) has its own next-due time and back-off) and runs at most one cycle at a time
across every process (a fenced lease, :mod:`vbq.leases`); the cycle reads which places are due
again under the lease and polls only those. Beat sends it with an ``expires`` of a few ticks, so
a backlog of ticks behind busy workers is dropped, not replayed.
"""

from __future__ import annotations

from typing import Any

from vbq.logs import get_logger
from vbq.store.poll_schedule import PlaceSchedule
from vbq.workers.celery_app import app
from vbq.workers.deps import PerProcess, settings_and_redis
from vbq.workers.poller import Poller

__all__ = ["poll"]

_log = get_logger("vbq.workers.poll")


def _build() -> tuple[Poller, PlaceSchedule]:
    settings, client = settings_and_redis()
    return Poller.from_settings(settings, client), PlaceSchedule(client, settings=settings)


_deps: PerProcess[tuple[Poller, PlaceSchedule]] = PerProcess(_build)


@app.task(name="vbq.poll", ignore_result=True, acks_late=False)
def poll(force: bool = False) -> dict[str, Any]:
    """Poll the places that are due (every place when ``force``); returns the cycle's report
    fields (``places``: each place polled, what it found and when it is next due)."""
    poller, schedule = _deps.get()
    if not force and not schedule.due(prune=False):  # a cheap check, outside the lease
        return {"ran": False, "due": False}
    report = poller.run_cycle(schedule=schedule, force=force)
    hook = poller.changes.results
    if hook is not None and hook.take_pending():
        app.send_task("vbq.results")  # outputs to read now, not at beat's next tick
    return report.as_log()
