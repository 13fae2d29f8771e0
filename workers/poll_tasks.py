"""The ``vbq.poll`` task (queue ``vbq.poll``) that beat sends every tick.

The task is cheap when nothing is due (:mod:`vbq.workers.poll_schedule`) and runs at most one
cycle at a time across every process (a fenced lease, :mod:`vbq.leases`). Beat sends it with an
``expires`` of a few ticks, so a backlog of ticks behind busy workers is dropped, not replayed.
"""

from __future__ import annotations

from typing import Any

from vbq.logs import get_logger
from vbq.workers.celery_app import app
from vbq.workers.deps import PerProcess, settings_and_redis
from vbq.workers.poll_schedule import PollSchedule
from vbq.workers.poller import Poller

__all__ = ["poll"]

_log = get_logger("vbq.workers.poll")


def _build() -> tuple[Poller, PollSchedule]:
    settings, client = settings_and_redis()
    return Poller.from_settings(settings, client), PollSchedule(client, settings=settings)


_deps: PerProcess[tuple[Poller, PollSchedule]] = PerProcess(_build)


@app.task(name="vbq.poll", ignore_result=True, acks_late=False)
def poll(force: bool = False) -> dict[str, Any]:
    """Run one poll cycle if one is due (or ``force``); returns the cycle's report fields."""
    poller, schedule = _deps.get()
    if not force and not schedule.is_due():
        return {"ran": False, "due": False}
    schedule.started()
    report = poller.run_cycle()
    hook = poller.changes.results
    if hook is not None and hook.take_pending():
        app.send_task("vbq.results")  # outputs to read now, not at beat's next tick
    if report.ran:
        interval = schedule.finished(changed=report.jobs_changed > 0)
        return {**report.as_log(), "next_interval_s": interval}
    return report.as_log()
